"""`tokens` job: the student's own token counts per record (prompt and target), for the data summary of notebook 2 and
the student side of the cost notebook. Counting uses the exact encoders training and inference use.

Config: {"model": base spec, "task_file", "input_file" (chat fine-tuning JSONL or {id, text} lines), "output_file"
(JSON: {"prompt_tokens": [...], "target_tokens": [...]}), "limit"?}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ..encoding import encode_prompt, encode_target
from ..errors import JobError
from ..events import emit
from ..model import load_tokenizer, resolve_base_model
from ..task import load_task, read_examples, resolve_path


class TokensConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "smollm2-135m-instruct"
    task_file: str = "recipes"
    input_file: str
    output_file: str
    limit: int | None = None


def run(config: TokensConfig) -> None:
    started = time.time()
    emit("start", job="tokens", config=config.model_dump(), device="cpu")
    task = load_task(config.task_file)
    tokenizer = load_tokenizer(resolve_base_model(config.model))
    examples = read_examples(config.input_file, task)[: config.limit]
    prompt_tokens = [len(encode_prompt(tokenizer, task, e.text)) for e in examples]
    target_tokens = [len(encode_target(tokenizer, task, e.labels).ids) if e.labels else 0 for e in examples]
    out = resolve_path(config.output_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"prompt_tokens": prompt_tokens, "target_tokens": target_tokens}))
    n = max(len(examples), 1)
    emit(
        "done",
        job="tokens",
        runtime_s=round(time.time() - started, 3),
        outputs={"output_file": str(out)},
        metrics={
            "records": len(examples),
            "mean_prompt_tokens": sum(prompt_tokens) / n,
            "mean_target_tokens": sum(target_tokens) / n,
            "max_prompt_tokens": max(prompt_tokens, default=0),
        },
    )


def run_from_file(path: str) -> None:
    try:
        config = TokensConfig(**json.loads(Path(path).read_text(encoding="utf-8")))
    except (ValidationError, json.JSONDecodeError, TypeError) as e:
        raise JobError("config", f"invalid tokens config {path}: {e}") from e
    run(config)
