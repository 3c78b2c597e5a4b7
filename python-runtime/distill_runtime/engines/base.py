"""The one interface every inference engine implements.

An engine runs the student over examples and writes prediction rows (inference/output.py) in input order. It owns
loading the model and generating; the job (jobs/infer.py) owns the config, the input and output files, the done
event and metrics. `open` is the same engine for a caller that brings its records a batch at a time (the corpus job,
and Ray Data's map_batches, one per worker): the model is loaded once, then `label_batch(texts)` gives one row per
text, in order. A new engine: a module beside transformers_engine.py and vllm_engine.py with a class implementing
Engine, its name in InferConfig.engine (inference/config.py and lib/src/infer/config.ts), its entry in ENGINES
(engines/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..inference.config import InferConfig
from ..inference.output import Throughput
from ..task import Example, Task

Write = Callable[[list[dict]], None]


class Labeler(Protocol):
    """A loaded student (Engine.open). Rows are inference.output.labeled's: completion, labels, error, input_tokens,
    output_tokens; an output that does not parse is a row with labels None and the reason in error, never an
    exception."""

    device: str
    max_new_tokens: int
    params_total: int | None

    def label_batch(self, texts: list[str]) -> list[dict[str, Any]]: ...


class Engine(Protocol):
    name: str

    def run(
        self, config: InferConfig, task: Task, examples: list[Example], write: Write, meter: Throughput
    ) -> dict[str, Any]:
        """Label every example. Once the model is loaded, emit the start event (inference.output.emit_start, which
        also starts the throughput clock); pass finished rows to `write` in input order and count them in `meter`.
        Returns {"device": ..., "max_new_tokens": ...} for the job's metrics."""
        ...

    def open(self, config: InferConfig, task: Task) -> Labeler:
        """Load the model once for label_batch calls (config's input_file and output_file are not used)."""
        ...
