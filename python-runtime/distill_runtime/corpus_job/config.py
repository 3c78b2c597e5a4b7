"""The label-corpus job's config (mirrored by lib/src/infer/corpus-config.ts: extra keys are errors on both sides)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import validate_config
from ..inference.config import InferConfig, check_model_source


class LabelCorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # the student (as in the infer job)
    model: str | None = Field(default=None, description="base model spec (with adapter_dir), or use merged_dir")
    adapter_dir: str | None = None
    merge: bool = False
    merged_dir: str | None = None
    task_file: str = "recipes"
    # the corpus (as lib/src/corpus reads it)
    corpus: list[str] = Field(min_length=1, description="files or folders (every supported file in a folder)")
    columns: dict[str, str] = Field(default={}, description="column map: id, text, group, title, ingredients, ...")
    format: Literal["jsonl", "csv", "parquet", "arrow"] | None = None
    limit: int | None = Field(default=None, ge=1, description="only the first N rows of the corpus")
    max_chars: int | None = Field(
        default=None, ge=1, description="texts are cut to this many characters (default: max_input_tokens * 4)"
    )
    max_record_chars: int = Field(
        default=200_000, ge=1, description="a longer text is not labeled: recorded with status too_long"
    )
    # where it goes
    output_dir: str = Field(min_length=1, description="manifest.json, input/ parts and labels/ shards")
    records_per_shard: int = Field(default=1000, ge=1)
    # the engine
    engine: Literal["auto", "transformers", "vllm"] = "auto"
    batch_size: int = Field(default=16, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    # scale-out
    ray: bool = Field(default=False, description="run as a Ray Data pipeline (ray.init(), or RAY_ADDRESS's cluster)")
    ray_address: str | None = Field(default=None, description="a cluster address; default: RAY_ADDRESS, else local")
    workers: int = Field(default=1, ge=1, description="engine replicas (Ray actors): one per GPU, or per CPU slot")
    cpus_per_worker: float = Field(default=1, gt=0)
    gpus_per_worker: float = Field(default=0, ge=0, description="> 0 on GPU clusters (ray.data.llm's vLLM processor)")
    # progress
    gpu_usd_per_hour: float | None = Field(default=None, ge=0, description="per worker: the projected cost's rate")
    progress_every_s: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _one_model(self) -> LabelCorpusConfig:
        check_model_source(self.model, self.adapter_dir, self.merge, self.merged_dir)
        unknown = sorted(set(self.columns) - {"id", "text", "group", "title", "ingredients", "directions", "body"})
        if unknown:
            raise ValueError(
                f"unknown columns part(s) {unknown}: use id, text, group, title, ingredients, directions, body"
            )
        return self

    def infer_config(self) -> InferConfig:
        """The engine's view of this config (an InferConfig without files: engines read model and decoding fields)."""
        return InferConfig(
            model=self.model,
            adapter_dir=self.adapter_dir,
            merge=self.merge,
            merged_dir=self.merged_dir,
            task_file=self.task_file,
            input_file="-",
            output_file="-",
            engine=self.engine,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            dtype=self.dtype,
            device=self.device,
            gpu_memory_utilization=self.gpu_memory_utilization,
        )


def load_config(raw: dict[str, Any], *, source: str = "label-corpus config") -> LabelCorpusConfig:
    return validate_config(LabelCorpusConfig, raw, source=source)
