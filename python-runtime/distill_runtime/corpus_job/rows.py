"""What both runners share: the shard schema, labeling a part's rows, and the progress line (rate, ETA, cost).

A shard row: index (the input row's number), id, file, row (where it came from), status, one column per task field,
error, raw_output (the model's text, only when it did not give valid labels), truncated, input_tokens, output_tokens.
status is "ok" (labels valid), "invalid_output" (the model's text did not parse or fit the schema), "skipped" (the
reader could not make a record of the row: error says why), or "too_long" (past max_record_chars, not labeled).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..engines.base import Labeler
from ..events import emit
from ..task import Task

STATUSES = ("ok", "invalid_output", "skipped", "too_long")
# Shards are read by the TS lib too (hyparquet, which decodes snappy but not zstd without an extra package).
SHARD_COMPRESSION = "snappy"


def field_type(spec_type: str) -> Any:
    import pyarrow as pa

    return {"boolean": pa.bool_(), "integer": pa.int64()}.get(spec_type, pa.string())


def shard_schema(task: Task) -> Any:
    import pyarrow as pa

    fields = [
        ("index", pa.int64()),
        ("id", pa.string()),
        ("file", pa.string()),
        ("row", pa.int64()),
        ("status", pa.string()),
    ]
    fields += [(f.name, field_type(f.type)) for f in task.fields]
    fields += [
        ("error", pa.string()),
        ("raw_output", pa.string()),
        ("truncated", pa.bool_()),
        ("input_tokens", pa.int32()),
        ("output_tokens", pa.int32()),
    ]
    return pa.schema(fields)


def label_rows(
    part: dict[str, list[Any]],
    labeler: Labeler,
    task: Task,
    chunk: int,
    on_chunk: Callable[[int, int], None] | None = None,
) -> dict[str, list[Any]]:
    """Label the ready rows of `part` (columns as lists, prepare.PART_COLUMNS) `chunk` texts per label_batch call;
    the other rows pass through with their status. Returns the shard's columns (shard_schema's order).
    on_chunk(rows, output_tokens) is called after each label_batch and for the rows passed through."""
    n = len(part["index"])
    out: dict[str, list[Any]] = {name: [None] * n for name in shard_schema(task).names}
    for c in ("index", "id", "file", "row", "truncated"):
        out[c] = list(part[c])
    out["status"] = list(part["status"])
    out["error"] = list(part["reason"])
    out["input_tokens"] = [0] * n
    out["output_tokens"] = [0] * n
    ready = [i for i in range(n) if part["status"][i] == "ready"]
    if on_chunk is not None and n > len(ready):
        on_chunk(n - len(ready), 0)
    for start in range(0, len(ready), chunk):
        batch = ready[start : start + chunk]
        results = labeler.label_batch([part["text"][i] for i in batch])
        for i, result in zip(batch, results, strict=True):
            labels = result["labels"]
            out["status"][i] = "ok" if labels is not None else "invalid_output"
            out["error"][i] = result["error"]
            out["raw_output"][i] = None if labels is not None else result["completion"]
            out["input_tokens"][i] = result["input_tokens"]
            out["output_tokens"][i] = result["output_tokens"]
            for f in task.field_names:
                out[f][i] = labels[f] if labels is not None else None
        if on_chunk is not None:
            on_chunk(len(batch), sum(r["output_tokens"] for r in results))
    return out


class Progress:
    """done/total, rows/s over this run's labeled rows, ETA, and what the whole corpus costs at this rate."""

    def __init__(self, total: int, done: int, workers: int, usd_per_hour: float | None, every_s: float) -> None:
        self.total, self.done, self.workers, self.usd_per_hour, self.every_s = (
            total,
            done,
            workers,
            usd_per_hour,
            every_s,
        )
        self.started_done = done
        self.output_tokens = 0
        self.started = time.perf_counter()
        self.last_emit = 0.0

    def restart(self) -> None:
        self.started = time.perf_counter()

    def add(self, rows: int, output_tokens: int = 0) -> None:
        self.done += rows
        self.output_tokens += output_tokens
        if time.perf_counter() - self.last_emit >= self.every_s:
            self.emit()

    def set_done(self, done: int) -> None:
        self.add(done - self.done)

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return (self.done - self.started_done) / self.elapsed

    def figures(self) -> dict[str, Any]:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else None
        cost = None
        if self.usd_per_hour is not None and rate > 0:
            cost = self.total / rate / 3600 * self.usd_per_hour * self.workers
        return {
            "done": self.done,
            "total": self.total,
            "records_per_s": round(rate, 3),
            "tokens_per_s": round(self.output_tokens / self.elapsed, 2),
            "eta_s": round(eta, 1) if eta is not None else None,
            # Significant figures, not decimals: a small corpus at a fast rate costs well under $0.0001.
            "projected_cost_usd": float(f"{cost:.4g}") if cost is not None else None,
        }

    def emit(self) -> None:
        self.last_emit = time.perf_counter()
        emit("progress", **self.figures())
