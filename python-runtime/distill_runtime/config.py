"""Job configs. Training hyperparameters have one source of truth, data/training.json (TypeScript reads it too):
explicit values win, then the preset (the file's default_preset when none is named; "none" for no preset), then
the file's defaults. Unknown keys are errors, with a "did you mean" for typos."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import JobError
from .task import project_root

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # what to train on, where to write
    base_model: str = Field(min_length=1)
    task_file: str = Field(min_length=1)
    train_file: str = Field(min_length=1)
    eval_file: str | None = None
    output_dir: str = Field(min_length=1)
    preset: str | None = None
    # LoRA / QLoRA
    lora_r: int = Field(gt=0)
    lora_alpha: float = Field(gt=0)
    lora_dropout: float = Field(ge=0, lt=1)
    target_modules: Literal["all-linear"] | list[str]
    # LoRA of this rank on the output layer (lm_head) too (null: none). For classification by value tokens it is the
    # readout: the true/false logits move from the first step, where LoRA in the layers below starts from zero. A tied
    # lm_head is untied when the adapter is merged (training.merging.merge_adapter), the input embeddings kept.
    lm_head_lora_r: int | None = Field(default=None, gt=0)
    load_in_4bit: bool
    load_in_8bit: bool
    # numerics and memory
    bf16: bool | Literal["auto"]
    gradient_checkpointing: bool
    device: Literal["auto", "cpu", "cuda"]
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"]
    # optimisation
    optimizer: Literal["adamw", "adamw_8bit"]
    learning_rate: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    max_grad_norm: float | None = Field(gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant"]
    warmup_steps: int = Field(ge=0)
    num_epochs: float = Field(ge=0)
    max_steps: int | None = Field(gt=0)
    micro_batch_size: int = Field(ge=1)
    grad_accum_steps: int = Field(ge=1)
    max_seq_len: int = Field(ge=16)
    packing: bool
    # what the loss covers: every target token, or only the values' tokens (the skeleton between them is forced by the
    # constrained decoder, so learning it is wasted signal: ~9 of 10 target tokens for the recipes task)
    loss_on: Literal["target", "values"]
    # LoRA on the top N decoder layers only (null: all); with cache_frozen_layers the bottom layers' output is computed
    # once per example (no gradient flows there) and every epoch runs the top N layers only
    train_layers: int | None = Field(gt=0)
    cache_frozen_layers: bool
    # write calibration.json next to the adapter: per boolean field, the threshold on the true-minus-false logit margin
    # that makes the train examples' share of true predictions equal their share of true labels
    calibrate: bool
    # before any LoRA step, fit the boolean fields' readout (the true-minus-false direction at the value slots) by
    # logistic regression on the training examples, stored in the lm_head LoRA (training/readout.py); readout_l2 is
    # its L2 penalty. With num_epochs 0 that readout is the whole training (linear probing).
    fit_readout: bool = False
    readout_l2: float = Field(default=1e-4, ge=0)
    # evaluation, checkpoints, logging
    eval_fraction: float = Field(ge=0, le=0.5)
    max_eval_examples: int = Field(ge=1)  # eval is a full forward pass over these: on CPU it is not free
    eval_steps: int | None = Field(gt=0)
    save_steps: int = Field(ge=1)
    logging_steps: int = Field(ge=1)
    seed: int
    resume: bool
    # for tests only: make the loss NaN at this step (checks the NaN guard end to end)
    debug_nan_at_step: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.load_in_4bit and self.load_in_8bit:
            raise ValueError("load_in_4bit and load_in_8bit are both true: choose one")
        if self.fit_readout and not self.lm_head_lora_r:
            raise ValueError("fit_readout stores the readout in a LoRA on lm_head: set lm_head_lora_r (e.g. 8)")
        if self.num_epochs == 0 and self.max_steps is None and not self.fit_readout:
            raise ValueError("num_epochs is 0 and nothing else trains: set num_epochs > 0, max_steps, or fit_readout")
        return self


class MergeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(min_length=1)
    adapter_dir: str = Field(min_length=1)
    output_dir: str = Field(min_length=1)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"


def training_file() -> Path:
    return project_root() / "data" / "training.json"


def _without_comments(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("$")}


def load_training_defaults() -> dict[str, Any]:
    path = training_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise JobError("config", f"missing {path}", "restore data/training.json from the repository") from e
    except json.JSONDecodeError as e:
        raise JobError("config", f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return data


def resolve_train_values(raw: dict[str, Any]) -> dict[str, Any]:
    """defaults < preset < explicit values (None-valued explicit keys count as explicit)."""
    data = load_training_defaults()
    presets = {name: _without_comments(p) for name, p in data.get("presets", {}).items()}
    preset = raw.get("preset", data.get("default_preset"))
    values = _without_comments(data.get("defaults", {}))
    if preset not in (None, "none"):
        if preset not in presets:
            raise JobError(
                "config",
                f"unknown preset {preset!r}",
                f'use one of {", ".join(sorted(presets))} (defined in {training_file()}), or "none"',
            )
        values.update(presets[preset])
    values.update(raw)
    values["preset"] = preset
    return values


def load_train_config(raw: dict[str, Any], *, source: str = "train config") -> TrainConfig:
    return validate_config(TrainConfig, resolve_train_values(raw), source=source)


def validate_config(cls: type[ConfigT], values: dict[str, Any], *, source: str) -> ConfigT:
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        raise JobError("config", f"{source}: {describe_errors(e, cls)}", _hint(e, cls)) from e


def describe_errors(e: ValidationError, cls: type[BaseModel]) -> str:
    parts = []
    for err in e.errors():
        field = ".".join(str(x) for x in err["loc"]) or "(config)"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown field {field!r}")
        elif err["type"] == "missing":
            parts.append(f"field {field!r} is required")
        else:
            parts.append(f"field {field!r}: {err['msg']} (got {json.dumps(err.get('input'), default=str)})")
    return "; ".join(parts)


def _hint(e: ValidationError, cls: type[BaseModel]) -> str | None:
    known = [k for k in cls.model_fields if not k.startswith("debug_")]
    for err in e.errors():
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][0]), known, n=1)
            return f"did you mean {close[0]!r}?" if close else f"valid fields: {', '.join(known)}"
    return None


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise JobError("config", f"config file not found: {p}") from e
    except json.JSONDecodeError as e:
        raise JobError("config", f"{p}: invalid JSON at line {e.lineno}: {e.msg}") from e
    if not isinstance(data, dict):
        raise JobError("config", f"{p}: a config must be a JSON object")
    return data
