"""`encode` job: the token ids an engine outside Python needs to run the student exactly as training saw it.

The llama.cpp engine (lib/src/infer/llama.ts, node-llama-cpp) decodes in Node but must feed the model the ids the
training tokenizer makes, not llama.cpp's own tokenization of the same text. This job writes them once per run:

- per record: its prompt ids (encoding.encode_prompt: the text cut to max_input_tokens, as training and the Python
  engines do);
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
from ..encoding import candidates, encode_prompts, skeleton
from ..events import emit
from ..model import load_tokenizer, resolve_base_model
from ..task import load_task, read_examples, resolve_path


class EncodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, description="base model spec or a model folder: whose tokenizer to use")
    task_file: str = "recipes"
    input_file: str
    output_file: str
    limit: int | None = Field(default=None, ge=1)


def run(config: EncodeConfig) -> dict[str, Any]:
    started = time.time()
    emit("start", job="encode", config=config.model_dump(), device="cpu")
    task = load_task(config.task_file)
    tokenizer = load_tokenizer(resolve_base_model(config.model))
    examples = read_examples(config.input_file, task)[: config.limit]
    prompts, cut = encode_prompts(tokenizer, task, [e.text for e in examples])
    records: list[dict[str, Any]] = []
    for i, (example, prompt_ids) in enumerate(zip(examples, prompts, strict=True)):
        record: dict[str, Any] = {"index": i}
        if example.id is not None:
            record["id"] = example.id
        record["prompt_ids"] = prompt_ids
        records.append(record)
    sk = skeleton(tokenizer, task)
    fields = [
        {"name": spec.name, "type": spec.type, "candidates": _candidates(candidates(tokenizer, spec))}
        for spec in task.fields
    ]
    out = resolve_path(config.output_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    skeleton_json = {"pieces": [list(p) for p in sk.pieces], "closing": list(sk.closing), "eos": sk.eos}
    out.write_text(json.dumps({"records": records, "skeleton": skeleton_json, "fields": fields}))
    metrics = {"records": len(records), "prompt_tokens": sum(len(r["prompt_ids"]) for r in records), "inputs_cut": cut}
    emit(
        "done",
        job="encode",
        runtime_s=round(time.time() - started, 3),
        outputs={"output_file": str(out)},
        metrics=metrics,
    )
    return metrics


def _candidates(values: list[tuple[Any, list[int]]] | None) -> list[dict[str, Any]] | None:
    return None if values is None else [{"value": v, "ids": ids} for v, ids in values]


def run_from_file(path: str) -> None:
    run(validate_config(EncodeConfig, read_config_file(path), source=str(path)))
