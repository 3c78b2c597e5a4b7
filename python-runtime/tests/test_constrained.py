"""Constrained decoding (inference/constrained.py through the infer job): every output parses and fits the schema,
whatever the model; the values it picks are the ones a plain forward pass scores; calibration moves the threshold."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_recipe, quick_config

from distill_runtime.config import load_train_config
from distill_runtime.encoding import encode_prompt, encode_target
from distill_runtime.inference.config import load_config
from distill_runtime.jobs.infer import run
from distill_runtime.task import load_task, render_target, validate_labels
from distill_runtime.tiny import make_tiny_model

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tasks"


def write_texts(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            text, _ = make_recipe(rng, i)
            text += ' ~ " \\ { } 12 -3' * (i % 3)  # quotes, braces and digits in the prompt, and ragged lengths
            f.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")
    return path


def infer_lines(capsys: pytest.CaptureFixture[str], **config: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    metrics = run(load_config(config))
    capsys.readouterr()
    return metrics, [json.loads(line) for line in Path(config["output_file"]).read_text().splitlines()]


@pytest.mark.parametrize("task_name", ["recipes", str(FIXTURES / "mixed.json"), str(FIXTURES / "edge.json")])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_models_always_give_schema_valid_output(task_name, seed, tmp_path, capsys):
    """Random tiny models (two seeds) on tasks with boolean, enum (multi-token, non-ASCII), integer (bounded and
    unbounded) and string (with and without maxLength) fields: no parse failure, ever."""
    model = make_tiny_model(tmp_path / "model", seed=seed)
    task = load_task(task_name)
    metrics, lines = infer_lines(
        capsys,
        model=str(model),
        task_file=task_name,
        input_file=str(write_texts(tmp_path / "in.jsonl", 5, seed)),
        output_file=str(tmp_path / "out.jsonl"),
        batch_size=3,
    )
    assert metrics["parse_failures"] == 0 and len(lines) == 5
    for line in lines:
        assert line["error"] is None
        labels, error = validate_labels(task, json.loads(line["completion"]))
        assert error is None and labels == line["labels"]
        assert line["completion"] == render_target(task, labels)
        booleans = [f.name for f in task.fields if f.type == "boolean"]
        assert sorted(line["margins"]) == sorted(booleans)
        assert all(labels[name] == (line["margins"][name] > 0) for name in booleans)  # no calibration here


def test_the_chosen_values_are_what_a_plain_forward_pass_scores(tiny_model_dir, tmp_path, capsys):
    """Batched, left-padded, cached decoding gives each row the margins of one full forward over its prompt and the
    target it chose: the skeleton, positions and masks are right."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task = load_task("recipes")
    input_file = write_texts(tmp_path / "in.jsonl", 6, seed=4)
    _, lines = infer_lines(
        capsys,
        model=str(tiny_model_dir),
        input_file=str(input_file),
        output_file=str(tmp_path / "out.jsonl"),
        batch_size=4,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    true_id, false_id = tokenizer("true")["input_ids"][0], tokenizer("false")["input_ids"][0]
    texts = [json.loads(line)["text"] for line in input_file.read_text().splitlines()]
    for text, line in zip(texts, lines, strict=True):
        prompt = encode_prompt(tokenizer, task, text)
        target = encode_target(tokenizer, task, line["labels"])
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + target.ids])).logits[0]
        values = [len(prompt) + k for k, v in enumerate(target.value_mask) if v]
        for name, position in zip(task.field_names, values, strict=True):
            margin = float(logits[position - 1, true_id] - logits[position - 1, false_id])
            assert line["margins"][name] == pytest.approx(margin, abs=1e-3)
        assert line["output_tokens"] == len(target.ids) - 1  # the target without EOS


def test_calibration_thresholds_from_training_decide_the_booleans(tiny_model_dir, train_file, tmp_path, capsys):
    from distill_runtime.training.recipe import train

    config = quick_config(tiny_model_dir, train_file, tmp_path / "train", loss_on="values", calibrate=True)
    trained = train(load_train_config({**config, "train_layers": 1, "max_steps": 4}))
    adapter = Path(trained.outputs["adapter_dir"])
    fields = json.loads((adapter / "calibration.json").read_text())["fields"]
    thresholds = {k: v["threshold"] for k, v in fields.items()}
    assert trained.metrics["calibration_thresholds"] == thresholds
    common = {"model": str(tiny_model_dir), "adapter_dir": str(adapter), "batch_size": 4}
    common["input_file"] = str(write_texts(tmp_path / "in.jsonl", 8, seed=7))
    _, calibrated = infer_lines(capsys, output_file=str(tmp_path / "c.jsonl"), **common)
    _, plain = infer_lines(capsys, output_file=str(tmp_path / "p.jsonl"), calibration=False, **common)
    for line in calibrated:
        assert all(line["labels"][k] == (line["margins"][k] > t) for k, t in thresholds.items())
    for line in plain:
        assert all(line["labels"][k] == (line["margins"][k] > 0) for k in thresholds)
    # the thresholds are where the training examples' margins give their labels' share of true
    assert any(abs(t) > 1e-6 for t in thresholds.values())
