"""The encode job (ids for the llama.cpp engine in Node): the ids must be exactly the ones training uses."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from conftest import events_from, write_chat_jsonl

from distill_runtime.encoding import encode_prompt, encode_target
from distill_runtime.task import Task, read_examples


def test_encode_job_writes_training_ids_and_a_skeleton_that_rebuilds_every_target(
    tiny_model_dir: Path, tmp_path: Path, recipes_task: Task
) -> None:
    from transformers import AutoTokenizer

    data = write_chat_jsonl(tmp_path / "in.jsonl", recipes_task, 5)
    config = {"model": str(tiny_model_dir), "input_file": str(data), "output_file": str(tmp_path / "enc.json")}
    (tmp_path / "encode.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "distill_runtime", "encode", "--config", str(tmp_path / "encode.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = events_from(result.stdout)
    assert [e["event"] for e in events] == ["start", "done"]
    assert events[-1]["metrics"]["records"] == 5
    encoded = json.loads((tmp_path / "enc.json").read_text())

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)  # SmolLM2's tokenizer
    examples = read_examples(data, recipes_task)
    assert [r["index"] for r in encoded["records"]] == list(range(5))
    for record, example in zip(encoded["records"], examples, strict=True):
        assert record["prompt_ids"] == encode_prompt(tokenizer, recipes_task, example.text)
    # Every label combination: skeleton pieces + value ids + closing + EOS == the target ids training learns.
    sk = encoded["skeleton"]
    fields = encoded["fields"]
    assert [f["name"] for f in fields] == recipes_task.field_names
    assert all(f["type"] == "boolean" and [c["value"] for c in f["candidates"]] == [True, False] for f in fields)
    assert all(len(c["ids"]) == 1 for f in fields for c in f["candidates"])  # SmolLM2: true and false are one token
    for combo in itertools.product([0, 1], repeat=len(fields)):
        ids: list[int] = []
        for piece, field, pick in zip(sk["pieces"], fields, combo, strict=True):
            ids += piece + field["candidates"][pick]["ids"]
        ids += sk["closing"] + [sk["eos"]]
        labels = {f["name"]: f["candidates"][pick]["value"] for f, pick in zip(fields, combo, strict=True)}
        assert ids == encode_target(tokenizer, recipes_task, labels).ids
