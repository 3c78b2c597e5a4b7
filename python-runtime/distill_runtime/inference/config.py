"""The infer job's config (mirrored by lib/src/infer/config.ts: extra keys are errors on both sides)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import validate_config


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
    engine: Literal["auto", "llama.cpp", "transformers", "vllm"] = Field(
        default="auto", description='"llama.cpp" runs in Node (lib/src/infer/llama.ts), not in this job'
    )
    gguf_type: Literal["q8_0", "f16", "f32"] = Field(default="q8_0", description="llama.cpp engine only")
    decoding: Literal["constrained", "free"] = Field(
        default="constrained",
        description="transformers: force the JSON skeleton, choose only the values (always valid); or generate freely",
    )
    calibration: bool = Field(
        default=True, description="constrained decoding: apply the model's calibration.json thresholds when it has one"
    )
    batch_size: int = Field(default=16, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1, description="default: longest possible target + margin")
    limit: int | None = Field(default=None, ge=1, description="only the first N records")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1, description="vLLM only")

    @model_validator(mode="after")
    def _one_model(self) -> InferConfig:
        check_model_source(self.model, self.adapter_dir, self.merge, self.merged_dir)
        return self


def check_model_source(model: str | None, adapter_dir: str | None, merge: bool, merged_dir: str | None) -> None:
    """The student is a base model (with or without an adapter) or a merged folder: the rule of every job that reads
    one (infer, label-corpus; lib/src/infer/config.ts checkModelSource says the same)."""
    if (model is None) == (merged_dir is None):
        raise ValueError("give exactly one of model (a base model, optionally with adapter_dir) or merged_dir")
    if merged_dir is not None and adapter_dir is not None:
        raise ValueError("adapter_dir goes with model, not with merged_dir (a merged model already holds it)")
    if merge and adapter_dir is None:
        raise ValueError("merge=true needs adapter_dir")


def load_config(raw: dict[str, Any], *, source: str = "infer config") -> InferConfig:
    """Validated config; errors name the field (and suggest the closest one for a typo)."""
    return validate_config(InferConfig, raw, source=source)
