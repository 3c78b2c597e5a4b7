"""`python -m distill_runtime infer --config f.json`: label records with the student model (greedy decoding).

Input: a JSONL of records (OpenAI chat fine-tuning lines or {"id", "text"} corpus lines; task.read_examples).
Output: a JSONL with one line per input line, in input order:
  {"index", "id"?, "completion", "labels" | null, "error" | null, "input_tokens", "output_tokens"}
An output that is not valid JSON or does not fit the task's schema is kept with labels null and the reason in
error; it never stops the job (evaluation counts it as disagreeing on every field).

Two engines:
- transformers (CPU or GPU): prompts sorted by length in windows, batched with LEFT padding, model.generate
  with the KV cache, greedy; each row stops at EOS or as soon as its JSON object closes (JsonClosed below).
- vLLM (GPU only, imported lazily): every prompt in one generate call (continuous batching, prefix caching),
  greedy, the output constrained to the task's JSON schema; the adapter served as a LoRARequest.
Prompts become token ids with task.encode_prompt, the same call training uses, so the model sees the same ids.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .config import read_config_file, validate_config
from .errors import JobError
from .events import emit, log
from .task import Example, Task, encode_prompt, load_task, parse_labels, read_examples, render_prompt, resolve_path

# Extra tokens allowed beyond the longest possible target: whitespace or key spellings the model may add.
MAX_NEW_TOKENS_MARGIN = 16
# Prompts are sorted by length inside windows of this many batches, so output is written as it is produced.
SORT_WINDOW_BATCHES = 32
VLLM_PIP = "pip install 'vllm>=0.12'"


class InferConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, description='base model spec: "smollm2-135m-instruct", a model folder, or a .gguf file'
    )
    adapter_dir: str | None = Field(default=None, description="a LoRA adapter folder (train's output_dir/adapter)")
    merge: bool = Field(default=False, description="merge the adapter into the weights in memory (transformers)")
    merged_dir: str | None = Field(
        default=None, description="a merged model folder (merge job output), instead of model"
    )
    task_file: str = "recipes"
    input_file: str
    output_file: str
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    batch_size: int = Field(default=16, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1, description="default: longest possible target + margin")
    limit: int | None = Field(default=None, ge=1, description="only the first N records")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1, description="vLLM only")

    @model_validator(mode="after")
    def _one_model(self) -> InferConfig:
        if (self.model is None) == (self.merged_dir is None):
            raise ValueError("give exactly one of model (a base model, optionally with adapter_dir) or merged_dir")
        if self.merged_dir is not None and self.adapter_dir is not None:
            raise ValueError("adapter_dir goes with model, not with merged_dir (a merged model already holds it)")
        if self.merge and self.adapter_dir is None:
            raise ValueError("merge=true needs adapter_dir")
        return self


def load_config(raw: dict[str, Any], *, source: str = "infer config") -> InferConfig:
    """Validated config; errors name the field (and suggest the closest one for a typo)."""
    return validate_config(InferConfig, raw, source=source)


# ----------------------------------------------------------------------------------------------------
# Engine choice and limits


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def select_engine(requested: str, device: str = "auto") -> str:
    """Engine "auto" is vLLM when CUDA and vllm are both there (and device is not cpu), else transformers."""
    if requested == "transformers":
        return "transformers"
    if requested == "vllm":
        if not vllm_installed():
            raise JobError(
                "missing_package",
                'engine "vllm" needs the vllm package, which is not installed',
                f'on a CUDA machine: .venv/bin/{VLLM_PIP}; or use engine "transformers"',
            )
        if device == "cpu" or not cuda_available():
            raise JobError("config", 'engine "vllm" needs a CUDA GPU', 'use engine "transformers" (or "auto") on CPU')
        return "vllm"
    return "vllm" if device != "cpu" and cuda_available() and vllm_installed() else "transformers"


def longest_target_tokens(task: Task, tokenizer: Any) -> int:
    """Tokens of the longest target the schema allows (each field at its longest value), EOS included."""
    longest: dict[str, Any] = {}
    for spec in task.fields:
        if spec.type == "boolean":
            candidates: list[Any] = [True, False]
        elif spec.type == "enum":
            candidates = list(spec.values or [])
        elif spec.type == "integer":
            low = int(spec.minimum) if spec.minimum is not None else -(10**9)
            high = int(spec.maximum) if spec.maximum is not None else 10**10
            candidates = [low, high]
        else:  # string: about one token per character at worst for plain text
            candidates = ["x " * ((spec.max_length or 200) // 2)]
        longest[spec.name] = max(
            candidates, key=lambda v: len(tokenizer(json.dumps(v), add_special_tokens=False)["input_ids"])
        )
    target = json.dumps(longest, separators=(",", ":"), ensure_ascii=False)
    return len(tokenizer(target, add_special_tokens=False)["input_ids"]) + 1


def default_max_new_tokens(task: Task, tokenizer: Any) -> int:
    return longest_target_tokens(task, tokenizer) + MAX_NEW_TOKENS_MARGIN


def json_schema(task: Task) -> dict[str, Any]:
    """The task's labels as a JSON schema (all fields required, no others) for vLLM's structured outputs."""
    properties: dict[str, Any] = {}
    for spec in task.fields:
        if spec.type == "boolean":
            prop: dict[str, Any] = {"type": "boolean"}
        elif spec.type == "enum":
            prop = {"type": "string", "enum": list(spec.values or [])}
        elif spec.type == "integer":
            prop = {"type": "integer"}
            if spec.minimum is not None:
                prop["minimum"] = spec.minimum
            if spec.maximum is not None:
                prop["maximum"] = spec.maximum
        else:
            prop = {"type": "string"}
            if spec.max_length is not None:
                prop["maxLength"] = spec.max_length
        properties[spec.name] = {**prop, "description": spec.description}
    return {
        "type": "object",
        "properties": properties,
        "required": task.field_names,
        "additionalProperties": False,
    }


# ----------------------------------------------------------------------------------------------------
# Stopping as soon as the JSON object closes


def json_object_end(text: str) -> int | None:
    """Index just past the first whole top-level JSON object in text (braces in strings skipped), or None."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def make_json_closed_criteria(tokenizer: Any, prompt_width: int) -> Any:
    """A transformers StoppingCriteria: a row is done once its decoded continuation holds a closed JSON
    object. It also records, per row, how many new tokens that took (the rest of the row is padding)."""
    import torch
    from transformers import StoppingCriteria

    class JsonClosed(StoppingCriteria):
        def __init__(self) -> None:
            self.closed_at: dict[int, int] = {}

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            new_tokens = input_ids[:, prompt_width:]
            done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            for row, text in enumerate(tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                if row in self.closed_at:
                    done[row] = True
                elif json_object_end(text) is not None:
                    self.closed_at[row] = new_tokens.shape[1]
                    done[row] = True
            return done  # type: ignore[return-value]

    return JsonClosed()


# ----------------------------------------------------------------------------------------------------
# Output records


def prediction(
    task: Task, index: int, example: Example, completion: str, input_tokens: int, output_tokens: int
) -> dict:
    labels, error = parse_labels(task, completion)
    record: dict[str, Any] = {"index": index}
    if example.id is not None:
        record["id"] = example.id
    record.update(
        completion=completion,
        labels=labels,
        error=error,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    return record


class Throughput:
    """Counts for the progress and done events."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.output_tokens = 0
        self.input_tokens = 0
        self.parse_failures = 0
        self.started = time.perf_counter()

    def restart(self) -> None:
        """Rates count from here: the model is loaded, generation starts."""
        self.started = time.perf_counter()

    def add(self, records: list[dict]) -> None:
        self.done += len(records)
        self.output_tokens += sum(r["output_tokens"] for r in records)
        self.input_tokens += sum(r["input_tokens"] for r in records)
        self.parse_failures += sum(r["error"] is not None for r in records)

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    def emit_progress(self) -> None:
        emit(
            "progress",
            done=self.done,
            total=self.total,
            records_per_s=round(self.done / self.elapsed, 3),
            tokens_per_s=round(self.output_tokens / self.elapsed, 2),
        )


# ----------------------------------------------------------------------------------------------------
# transformers engine


def load_transformers_model(config: InferConfig) -> tuple[Any, Any, Any]:
    from .model import adapter_folder, device_and_dtype, load_model_and_tokenizer
    from .train import quiet_transformers

    quiet_transformers()
    device, dtype = device_and_dtype(config.device, config.dtype)
    spec = config.merged_dir if config.merged_dir is not None else config.model
    assert spec is not None
    model, tokenizer = load_model_and_tokenizer(spec, dtype=dtype, device=device, padding_side="left")
    if config.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_folder(config.adapter_dir)))
        if config.merge:
            model = model.merge_and_unload()
    model.eval()
    return model, tokenizer, device


def generate_batch(
    model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int, device: Any
) -> list[tuple[str, int]]:
    """Greedy continuations of token-id prompts, batched with left padding: [(completion, output tokens)]."""
    import torch

    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    criteria = make_json_closed_criteria(tokenizer, width)
    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            stopping_criteria=[criteria],
            eos_token_id=eos,
            pad_token_id=pad,
            use_cache=True,
        )
    results = []
    for row, tokens in enumerate(out[:, width:].tolist()):
        length = len(tokens)
        if eos in tokens:  # EOS is a generated token (it counts); what follows it is padding
            length = tokens.index(eos) + 1
        length = min(length, criteria.closed_at.get(row, length))
        results.append((tokenizer.decode(tokens[:length], skip_special_tokens=True), length))
    return results


def windows(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


def run_transformers(
    config: InferConfig,
    task: Task,
    examples: list[Example],
    write: Callable[[list[dict]], None],
    meter: Throughput,
) -> dict[str, Any]:
    model, tokenizer, device = load_transformers_model(config)
    max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, tokenizer)
    prompts = [encode_prompt(tokenizer, render_prompt(task, e.text)) for e in examples]
    emit_start(config, "transformers", str(device), model, max_new_tokens, meter)
    for window in windows(list(range(len(examples))), config.batch_size * SORT_WINDOW_BATCHES):
        # Longest first: similar lengths share a batch (less padding) and a too-big batch fails at once.
        order = sorted(window, key=lambda i: -len(prompts[i]))
        by_index: dict[int, dict] = {}
        for batch in windows(order, config.batch_size):
            outputs = generate_batch(model, tokenizer, [prompts[i] for i in batch], max_new_tokens, device)
            records = [
                prediction(task, i, examples[i], text, len(prompts[i]), n)
                for i, (text, n) in zip(batch, outputs, strict=True)
            ]
            by_index.update((r["index"], r) for r in records)
            meter.add(records)
            meter.emit_progress()
        write([by_index[i] for i in window])  # input order restored
    return {"device": str(device), "max_new_tokens": max_new_tokens}


# ----------------------------------------------------------------------------------------------------
# vLLM engine (GPU only)


def vllm_model_folder(spec: str) -> str:
    """vLLM wants a transformers folder: a .gguf (or the alias) goes through model.py's dequantized copy."""
    from .model import gguf_model_dir, resolve_base_model

    source = resolve_base_model(spec)
    if source.gguf_file:
        return str(gguf_model_dir(Path(source.name_or_dir) / source.gguf_file))
    return source.name_or_dir


def run_vllm(
    config: InferConfig,
    task: Task,
    examples: list[Example],
    write: Callable[[list[dict]], None],
    meter: Throughput,
) -> dict[str, Any]:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest
    from vllm.sampling_params import StructuredOutputsParams

    from .model import ModelSource, load_tokenizer

    spec = config.merged_dir if config.merged_dir is not None else config.model
    assert spec is not None
    folder = vllm_model_folder(spec)
    # The prompts are tokenized here, exactly as training does, and handed to vLLM as ids.
    tokenizer = load_tokenizer(ModelSource(folder))
    max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, tokenizer)
    prompts = [encode_prompt(tokenizer, render_prompt(task, e.text)) for e in examples]
    llm_kwargs: dict[str, Any] = {
        "model": folder,
        # Only as long as this job needs: a long-context model's full window could leave no room for the KV cache.
        "max_model_len": max(len(p) for p in prompts) + max_new_tokens,
        "enable_prefix_caching": True,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "seed": 0,
    }
    if config.dtype != "auto":
        llm_kwargs["dtype"] = config.dtype
    lora_request = None
    if config.adapter_dir is not None:
        adapter = resolve_path(config.adapter_dir)
        adapter_config = adapter / "adapter_config.json"
        if not adapter_config.is_file():
            raise JobError("config", f"no LoRA adapter in {adapter} (adapter_config.json missing)")
        rank = int(json.loads(adapter_config.read_text())["r"])
        # vLLM serves the adapter unmerged; "merge" only matters to the transformers engine.
        # vLLM accepts only its fixed LoRA ranks (powers of two from 8): round the adapter's rank up.
        llm_kwargs.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()), max_loras=1)
        lora_request = LoRARequest("student", 1, str(adapter))
    llm = LLM(**llm_kwargs)
    emit_start(config, "vllm", "cuda", None, max_new_tokens, meter)
    params = SamplingParams(
        temperature=0.0,
        max_tokens=max_new_tokens,
        structured_outputs=StructuredOutputsParams(json=json_schema(task)),
    )
    outputs = llm.generate(
        [TokensPrompt(prompt_token_ids=p) for p in prompts], params, lora_request=lora_request, use_tqdm=False
    )
    records = [
        prediction(task, i, examples[i], out.outputs[0].text, len(prompts[i]), len(out.outputs[0].token_ids))
        for i, out in enumerate(outputs)
    ]
    meter.add(records)
    meter.emit_progress()
    write(records)
    return {"device": "cuda", "max_new_tokens": max_new_tokens}


# ----------------------------------------------------------------------------------------------------


def emit_start(
    config: InferConfig, engine: str, device: str, model: Any, max_new_tokens: int, meter: Throughput
) -> None:
    params = sum(p.numel() for p in model.parameters()) if model is not None else None
    meter.restart()
    emit(
        "start",
        job="infer",
        config=config.model_dump(),
        device=device,
        params_total=params,
        info={
            "engine": engine,
            "records": meter.total,
            "max_new_tokens": max_new_tokens,
            "batch_size": config.batch_size,
        },
    )


def run(config: InferConfig) -> dict[str, Any]:
    task = load_task(config.task_file)
    engine = select_engine(config.engine, config.device)
    examples = read_examples(config.input_file, task)
    if config.limit is not None:
        examples = examples[: config.limit]
    output = resolve_path(config.output_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Lines go to <output>.partial as batches finish (kept if the job dies: what is there is valid); only a finished
    # run takes the output name, so a half-written file is never mistaken for a result.
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    meter = Throughput(len(examples))
    job_started = time.perf_counter()
    log(f"infer: {len(examples)} records from {config.input_file} with the {engine} engine")

    def write(records: list[dict]) -> None:
        with partial.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)

    runner = run_vllm if engine == "vllm" else run_transformers
    info = runner(config, task, examples, write, meter)
    partial.touch()  # zero records still make an (empty) output file
    os.replace(partial, output)
    runtime_s = round(time.perf_counter() - job_started, 3)
    metrics = {
        "records": meter.done,
        "records_per_s": round(meter.done / meter.elapsed, 3),
        "tokens_per_s": round(meter.output_tokens / meter.elapsed, 2),
        "input_tokens": meter.input_tokens,
        "output_tokens": meter.output_tokens,
        "parse_failures": meter.parse_failures,
        "parse_failure_rate": round(meter.parse_failures / max(meter.done, 1), 6),
        "generation_s": round(meter.elapsed, 3),
        "runtime_s": runtime_s,
        "engine": engine,
        "device": info["device"],
        "max_new_tokens": info["max_new_tokens"],
        "batch_size": config.batch_size,
    }
    emit(
        "done",
        job="infer",
        runtime_s=metrics["runtime_s"],
        outputs={"output_file": str(output)},
        metrics=metrics,
    )
    return metrics


def run_from_file(path: str) -> None:
    run(load_config(read_config_file(path), source=str(path)))
