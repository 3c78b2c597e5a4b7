"""`encode` job: the token ids an engine outside Python needs to run the student exactly as training saw it.

The llama.cpp engine (lib/src/infer/llama.ts, node-llama-cpp) decodes in Node but must feed the model the ids the
training tokenizer makes, not llama.cpp's own tokenization of the same text. This job writes them once per run:

- per record: its prompt ids (task.encode_prompt of render_prompt, the call training and the Python engines use);
- the target's skeleton: the fixed pieces before each field's value ('{"f1":', ',"f2":', ...), the closing '}' and
  EOS, each piece tokenized on its own;
- per field: its type and, for booleans and enums, each possible value with its ids (its JSON text tokenized on its
  own, as the target writes it).

Config: {"model": base spec or model folder (for the tokenizer), "task_file", "input_file", "output_file",
"limit"?}. Output JSON: {"records": [{"index", "id"?, "prompt_ids"}], "skeleton": {"pieces", "closing", "eos"},
"fields": [{"name", "type", "candidates": [{"value", "ids"}] | null}]}.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..config import read_config_file, validate_config
from ..errors import JobError
from ..events import emit
from ..model import load_tokenizer, resolve_base_model
from ..task import FieldSpec, Task, encode_prompt, load_task, read_examples, render_prompt, resolve_path


class EncodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, description="base model spec or a model folder: whose tokenizer to use")
    task_file: str = "recipes"
    input_file: str
    output_file: str
    limit: int | None = Field(default=None, ge=1)


def text_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def value_ids(tokenizer: Any, value: Any) -> list[int]:
    """A field value's ids: its JSON text (as render_target writes it) tokenized on its own."""
    return text_ids(tokenizer, json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def skeleton(tokenizer: Any, task: Task) -> dict[str, Any]:
    if tokenizer.eos_token_id is None:
        raise JobError("config", "the tokenizer has no EOS token", "use a base model whose tokenizer defines eos_token")
    pieces = [
        text_ids(tokenizer, ("{" if i == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":")
        for i, name in enumerate(task.field_names)
    ]
    return {"pieces": pieces, "closing": text_ids(tokenizer, "}"), "eos": int(tokenizer.eos_token_id)}


def candidates(tokenizer: Any, spec: FieldSpec) -> list[dict[str, Any]] | None:
    """A boolean's or an enum's possible values with their ids; None for the free-form types (integer, string)."""
    if spec.type == "boolean":
        values: list[Any] = [True, False]
    elif spec.type == "enum":
        values = list(spec.values or [])
    else:
        return None
    return [{"value": v, "ids": value_ids(tokenizer, v)} for v in values]


def run(config: EncodeConfig) -> dict[str, Any]:
    started = time.time()
    emit("start", job="encode", config=config.model_dump(), device="cpu")
    task = load_task(config.task_file)
    tokenizer = load_tokenizer(resolve_base_model(config.model))
    examples = read_examples(config.input_file, task)[: config.limit]
    records: list[dict[str, Any]] = []
    for i, example in enumerate(examples):
        record: dict[str, Any] = {"index": i}
        if example.id is not None:
            record["id"] = example.id
        record["prompt_ids"] = encode_prompt(tokenizer, render_prompt(task, example.text))
        records.append(record)
    fields = [{"name": s.name, "type": s.type, "candidates": candidates(tokenizer, s)} for s in task.fields]
    out = resolve_path(config.output_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"records": records, "skeleton": skeleton(tokenizer, task), "fields": fields}))
    metrics = {"records": len(records), "prompt_tokens": sum(len(r["prompt_ids"]) for r in records)}
    emit(
        "done",
        job="encode",
        runtime_s=round(time.time() - started, 3),
        outputs={"output_file": str(out)},
        metrics=metrics,
    )
    return metrics


def run_from_file(path: str) -> None:
    run(validate_config(EncodeConfig, read_config_file(path), source=str(path)))
