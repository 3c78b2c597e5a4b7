"""The one event stream every job speaks: JSON lines on stdout, logs on stderr.

Each line is {"event": <type>, "time": <unix seconds>, ...fields}. The TypeScript side (lib/src/runtime/events.ts)
validates every line against the same shapes; an unknown event type is an error there, so add new ones on both sides.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Event):
    job: str
    config: dict[str, Any]
    device: str
    params_total: int | None = None
    params_trainable: int | None = None
    info: dict[str, Any] = {}


class Step(_Event):
    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float | None = None
    tokens_per_s: float
    samples_per_s: float
    memory_mb: float | None = None


class Eval(_Event):
    step: int
    eval_loss: float


class Checkpoint(_Event):
    step: int
    path: str


class Progress(_Event):
    done: int
    total: int
    records_per_s: float
    tokens_per_s: float | None = None
    # the corpus job: seconds left at the current rate, and the whole corpus's cost at that rate and the GPU price
    eta_s: float | None = None
    projected_cost_usd: float | None = None


class Done(_Event):
    job: str
    runtime_s: float
    outputs: dict[str, Any] = {}
    metrics: dict[str, Any] = {}


class Error(_Event):
    kind: Literal["config", "data", "oom", "nan", "missing_package", "cancelled", "runtime"]
    message: str
    hint: str | None = None


EVENTS: dict[str, type[_Event]] = {
    "start": Start,
    "step": Step,
    "eval": Eval,
    "checkpoint": Checkpoint,
    "progress": Progress,
    "done": Done,
    "error": Error,
}


def emit(event: str, **fields: Any) -> None:
    """Validate and write one event line. Validation here catches a job bug before TypeScript sees it."""
    model = EVENTS[event](**fields)
    if os.environ.get("RANK", "0") != "0":  # under torchrun / accelerate launch, rank 0 speaks for the job
        return
    line = {"event": event, "time": round(time.time(), 3), **model.model_dump(mode="json")}
    sys.stdout.write(json.dumps(line, allow_nan=False) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
