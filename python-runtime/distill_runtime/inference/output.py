"""Model output -> prediction rows, for every engine.

Output JSONL (one line per input line, in input order):
  {"index", "id"?, "completion", "labels" | null, "error" | null, "input_tokens", "output_tokens", "margins"?}
("margins": constrained decoding's per boolean field logprob(true) - logprob(false); inference/constrained.py)
An output that is not valid JSON or does not fit the task's schema is kept with labels null and the reason in
error; it never stops the job (evaluation counts it as disagreeing on every field). Also here: how many new tokens
an answer may need, where a JSON object closes (engines stop there), and the counts behind progress and metrics.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..events import emit
from ..task import Example, Task, parse_labels
from .config import InferConfig

# Extra tokens allowed beyond the longest possible target: whitespace or key spellings the model may add.
MAX_NEW_TOKENS_MARGIN = 16


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


def labeled(task: Task, completion: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """One answer as a row: the completion, its labels (or None and why not), the token counts."""
    labels, error = parse_labels(task, completion)
    return {
        "completion": completion,
        "labels": labels,
        "error": error,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }


def prediction(
    task: Task, index: int, example: Example, completion: str, input_tokens: int, output_tokens: int
) -> dict:
    record: dict[str, Any] = {"index": index}
    if example.id is not None:
        record["id"] = example.id
    record.update(labeled(task, completion, input_tokens, output_tokens))
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
