"""On GPU clusters: ray.data.llm's vLLM processor (build_processor with a vLLMEngineProcessorConfig) labels the ready
rows, one vLLM engine per `workers` (each on gpus_per_worker GPUs), serving the LoRA adapter unmerged (the row's
"model" names the adapter folder, which every node must see) or a merged model, with the task's JSON schema as
structured output; greedy. The other rows (skipped, too_long) bypass the engines. Needs ray[llm] (which brings vLLM)
on the cluster; nothing here runs without a GPU, so tests check the config and the pre/postprocess rows it builds.
"""

from __future__ import annotations

import functools
from typing import Any

from ..encoding import cut_text
from ..engines.vllm_engine import (
    adapter_engine_kwargs,
    engine_kwargs,
    max_prompt_tokens,
    model_spec,
    structured_output_schema,
    vllm_model_folder,
)
from ..inference.output import labeled
from ..task import Task, render_prompt
from .config import LabelCorpusConfig
from .rows import shard_schema


@functools.cache
def _tokenizer(folder: str) -> Any:
    """The model's tokenizer, once per process (each Ray worker loads its own)."""
    from ..model import ModelSource, load_tokenizer

    return load_tokenizer(ModelSource(folder))


def max_new_tokens(config: LabelCorpusConfig, task: Task, folder: str) -> int:
    """config.max_new_tokens, else what the task's longest answer takes in this model's tokenizer (as the engines)."""
    if config.max_new_tokens is not None:
        return config.max_new_tokens
    from ..inference.output import default_max_new_tokens

    return default_max_new_tokens(task, _tokenizer(folder))


def processor_config(config: LabelCorpusConfig, task: Task, *, model_folder: str | None = None) -> Any:
    from ray.data.llm import vLLMEngineProcessorConfig

    infer = config.infer_config()
    folder = model_folder or vllm_model_folder(model_spec(infer))
    max_model_len = max_prompt_tokens(_tokenizer(folder), task) + max_new_tokens(config, task, folder)
    kwargs = engine_kwargs(infer, max_model_len)
    if config.gpus_per_worker >= 2:
        kwargs["tensor_parallel_size"] = int(config.gpus_per_worker)
    return vLLMEngineProcessorConfig(
        model_source=folder,
        engine_kwargs=kwargs,
        batch_size=config.batch_size,
        concurrency=config.workers,
        accelerator_type=None,
        chat_template_stage=False,  # the student's prompt is the task's template, as at training
        tokenize_stage=True,
        detokenize_stage=True,
        runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}},
    )


def preprocess_row(config: LabelCorpusConfig, task: Task, max_tokens: int, *, model_folder: str | None = None) -> Any:
    """row -> what the vLLM stage reads: the prompt (the text cut to max_input_tokens as training cut it, then the
    task's template: encoding.encode_prompt's text), greedy sampling with the JSON schema, and the adapter."""
    folder = model_folder or vllm_model_folder(model_spec(config.infer_config()))
    adapter = str(adapter_engine_kwargs(config.adapter_dir)[0]) if config.adapter_dir else None
    schema = structured_output_schema(task)

    def preprocess(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt": render_prompt(task, cut_text(_tokenizer(folder), task, row["text"])),
            "sampling_params": {"temperature": 0.0, "max_tokens": max_tokens, "structured_outputs": {"json": schema}},
        }
        if adapter is not None:
            out["model"] = adapter  # a LoRA request for this row (ray.data.llm's vLLM stage)
        return out

    return preprocess


def postprocess_row(task: Task) -> Any:
    """The vLLM stage's row -> a shard row (rows.shard_schema's columns)."""
    names = shard_schema(task).names

    def postprocess(row: dict[str, Any]) -> dict[str, Any]:
        result = labeled(
            task,
            row.get("generated_text") or "",
            int(row.get("num_input_tokens") or 0),
            int(row.get("num_generated_tokens") or 0),
        )
        labels = result["labels"]
        out = {name: row.get(name) for name in ("index", "id", "file", "row", "truncated")}
        out.update(
            status="ok" if labels is not None else "invalid_output",
            error=result["error"],
            raw_output=None if labels is not None else result["completion"],
            input_tokens=result["input_tokens"],
            output_tokens=result["output_tokens"],
        )
        out.update({f: (labels or {}).get(f) for f in task.field_names})
        return {name: out.get(name) for name in names}

    return postprocess


def passthrough(batch: Any, task: Any) -> Any:
    """Rows that are not labeled (skipped, too_long) as shard rows."""
    import pyarrow as pa

    from .rows import label_rows

    return pa.table(label_rows(batch.to_pydict(), _NoLabeler(), task, chunk=1), schema=shard_schema(task))


class _NoLabeler:
    device = "none"
    max_new_tokens = 0
    params_total = None

    def label_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        raise AssertionError("passthrough rows are never labeled")


def build(config: LabelCorpusConfig, task: Task, *, model_folder: str | None = None) -> Any:
    from ray.data.llm import build_processor

    folder = model_folder or vllm_model_folder(model_spec(config.infer_config()))
    return build_processor(
        processor_config(config, task, model_folder=folder),
        preprocess=preprocess_row(config, task, max_new_tokens(config, task, folder), model_folder=folder),
        postprocess=postprocess_row(task),
    )


def label_on_gpus(ds: Any, config: LabelCorpusConfig, task: Task) -> Any:
    import pyarrow.compute as pc

    ready = ds.filter(lambda row: row["status"] == "ready")
    rest = ds.map_batches(
        lambda b: passthrough(b.filter(pc.not_equal(b.column("status"), "ready")), task), batch_format="pyarrow"
    )
    return build(config, task)(ready).union(rest)
