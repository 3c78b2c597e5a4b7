"""The vLLM engine (GPU only, imported lazily): every prompt in one generate call (continuous batching, prefix caching),
greedy, the output constrained to the task's JSON schema; the adapter served as a LoRARequest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..encoding import encode_prompt, encode_prompts
from ..errors import JobError
from ..inference.config import InferConfig
from ..inference.output import Throughput, default_max_new_tokens, emit_start, labeled, prediction
from ..task import Example, Task, json_schema, resolve_path
from .base import Write


def structured_output_schema(task: Task) -> dict[str, Any]:
    """The task's JSON schema (task.json_schema, the one the teacher fills) plus what vLLM's grammar can enforce and
    OpenAI's strict mode cannot: maxLength on string fields (the teacher's schema says the limit in the description)."""
    schema = json_schema(task)
    for spec in task.fields:
        if spec.type == "string" and spec.max_length is not None:
            schema["properties"][spec.name]["maxLength"] = spec.max_length
    return schema


def vllm_model_folder(spec: str) -> str:
    """vLLM wants a transformers folder: a .gguf (or the alias) goes through model.py's dequantized copy."""
    from ..model import gguf_model_dir, resolve_base_model

    source = resolve_base_model(spec)
    if source.gguf_file:
        return str(gguf_model_dir(Path(source.name_or_dir) / source.gguf_file))
    return source.name_or_dir


def adapter_engine_kwargs(adapter_dir: str) -> tuple[Path, dict[str, Any]]:
    """The adapter folder and the vLLM engine arguments that serve it (also what ray.data.llm's processor gets)."""
    adapter = resolve_path(adapter_dir)
    adapter_config = adapter / "adapter_config.json"
    if not adapter_config.is_file():
        raise JobError("config", f"no LoRA adapter in {adapter} (adapter_config.json missing)")
    settings = json.loads(adapter_config.read_text())
    if "lm_head" in json.dumps(settings.get("target_modules")):
        # lm_head_lora_r / fit_readout put a LoRA on the output layer, which vLLM's LoRA layers do not serve.
        raise JobError(
            "config",
            f"the adapter in {adapter} has a LoRA on lm_head (lm_head_lora_r / fit_readout): vLLM serves LoRA on the "
            "decoder layers only",
            "merge it first (the merge job, or notebook 2's merge cell) and pass merged_dir instead of adapter_dir",
        )
    rank = int(settings["r"])
    # vLLM serves the adapter unmerged; "merge" only matters to the transformers engine.
    # vLLM accepts only its fixed LoRA ranks (powers of two from 8): round the adapter's rank up.
    return adapter, {"enable_lora": True, "max_lora_rank": max(8, 1 << (rank - 1).bit_length()), "max_loras": 1}


def max_prompt_tokens(tokenizer: Any, task: Task) -> int:
    """The longest prompt the engine is started for: the template, and room for a text cut to max_input_tokens (x4:
    a cut text re-tokenized inside the template can merge differently at its ends; the margin costs only KV room)."""
    return len(encode_prompt(tokenizer, task, "")) + 4 * task.student.max_input_tokens


def engine_kwargs(config: InferConfig, max_model_len: int) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        # Only as long as this job needs: a long-context model's full window could leave no room for the KV cache.
        "max_model_len": max_model_len,
        "enable_prefix_caching": True,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "seed": 0,
    }
    if config.dtype != "auto":
        kwargs["dtype"] = config.dtype
    if config.adapter_dir is not None:
        kwargs.update(adapter_engine_kwargs(config.adapter_dir)[1])
    return kwargs


def model_spec(config: InferConfig) -> str:
    spec = config.merged_dir if config.merged_dir is not None else config.model
    assert spec is not None
    return spec


class VllmEngine:
    name = "vllm"

    def run(
        self, config: InferConfig, task: Task, examples: list[Example], write: Write, meter: Throughput
    ) -> dict[str, Any]:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import StructuredOutputsParams

        from ..model import ModelSource, load_tokenizer

        folder = vllm_model_folder(model_spec(config))
        # The prompts are tokenized here, exactly as training does, and handed to vLLM as ids.
        tokenizer = load_tokenizer(ModelSource(folder))
        max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, tokenizer)
        prompts, cut = encode_prompts(tokenizer, task, [e.text for e in examples])
        llm_kwargs = {"model": folder, **engine_kwargs(config, max(len(p) for p in prompts) + max_new_tokens)}
        lora_request = None
        if config.adapter_dir is not None:
            lora_request = LoRARequest("student", 1, str(resolve_path(config.adapter_dir)))
        llm = LLM(**llm_kwargs)
        emit_start(config, "vllm", "cuda", None, max_new_tokens, meter)
        params = SamplingParams(
            temperature=0.0,
            max_tokens=max_new_tokens,
            structured_outputs=StructuredOutputsParams(json=structured_output_schema(task)),
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
        return {"device": "cuda", "max_new_tokens": max_new_tokens, "inputs_cut": cut}

    def open(self, config: InferConfig, task: Task) -> VllmLabeler:
        return VllmLabeler(config, task)


class VllmLabeler:
    """vLLM loaded once for batch-at-a-time callers. Each label_batch is one generate call (continuous batching inside
    it); the context is the task's max_input_tokens plus the answer, so any record's prompt fits."""

    def __init__(self, config: InferConfig, task: Task) -> None:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
        from vllm.sampling_params import StructuredOutputsParams

        from ..model import ModelSource, load_tokenizer

        folder = vllm_model_folder(model_spec(config))
        self.task = task
        self.tokenizer = load_tokenizer(ModelSource(folder))
        self.max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, self.tokenizer)
        self.max_prompt_tokens = max_prompt_tokens(self.tokenizer, task)
        self.llm = LLM(model=folder, **engine_kwargs(config, self.max_prompt_tokens + self.max_new_tokens))
        self.lora_request = (
            LoRARequest("student", 1, str(resolve_path(config.adapter_dir))) if config.adapter_dir else None
        )
        self.params = SamplingParams(
            temperature=0.0,
            max_tokens=self.max_new_tokens,
            structured_outputs=StructuredOutputsParams(json=structured_output_schema(task)),
        )
        self.device = "cuda"
        self.params_total = None

    def label_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        from vllm.inputs import TokensPrompt

        prompts, _ = encode_prompts(self.tokenizer, self.task, texts)
        fits = [i for i, p in enumerate(prompts) if len(p) <= self.max_prompt_tokens]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=prompts[i]) for i in fits],
            self.params,
            lora_request=self.lora_request,
            use_tqdm=False,
        )
        # A prompt past the context vLLM was started with would fail the whole call: it gets a row saying so.
        rows: list[dict[str, Any]] = [
            {
                **labeled(self.task, "", len(p), 0),
                "error": f"prompt of {len(p)} tokens is past the engine's {self.max_prompt_tokens}",
            }
            for p in prompts
        ]
        for i, out in zip(fits, outputs, strict=True):
            rows[i] = labeled(self.task, out.outputs[0].text, len(prompts[i]), len(out.outputs[0].token_ids))
        return rows
