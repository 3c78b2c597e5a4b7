"""Shared fixtures: a tiny random Llama with the real SmolLM2 tokenizer, the recipes task, small labeled datasets.

Everything runs on CPU in seconds. The tiny model is made once per session (python -m distill_runtime.tiny)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

# Before torch loads (here and in the job subprocesses, which inherit the environment): the tiny model's ops are too
# small to gain from threads, and with busy cores OpenMP's spin-waiting made each op ~20x slower (measured).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from distill_runtime.task import Task, load_task, render_target  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]

INGREDIENTS = [
    "flour",
    "butter",
    "eggs",
    "milk",
    "sugar",
    "salt",
    "cod",
    "onion",
    "carrot",
    "rice",
    "apples",
    "cream",
]
MEATS = ["chicken", "bacon", "beef", "pork"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama folder (hidden 64, 2 layers) with SmolLM2's tokenizer, made through the real CLI."""
    out = tmp_path_factory.mktemp("tiny-model")
    result = subprocess.run(
        [sys.executable, "-m", "distill_runtime.tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["model_dir"] == str(out.resolve())
    return out


def quick_config(tiny_model_dir: Path, train_file: Path, output_dir: Path, **overrides: Any) -> dict[str, Any]:
    config = {
        "base_model": str(tiny_model_dir),
        "train_file": str(train_file),
        "output_dir": str(output_dir),
        "preset": "none",
        "max_steps": 8,
        "micro_batch_size": 2,
        "grad_accum_steps": 2,
        "max_seq_len": 256,
        "learning_rate": 0.01,
        "warmup_steps": 1,
        "save_steps": 4,
        "eval_fraction": 0.1,
        "logging_steps": 1,
        "lora_dropout": 0.0,
    }
    return {**config, **overrides}


def events_from(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="session")
def recipes_task() -> Task:
    return load_task("recipes")


def make_recipe(rng: random.Random, index: int) -> tuple[str, dict[str, bool]]:
    """A short synthetic recipe whose labels follow from its words, so a model can learn them."""
    meat = rng.random() < 0.4
    oven = rng.random() < 0.5
    stove = rng.random() < 0.5
    slow = rng.random() < 0.5
    items = rng.sample(INGREDIENTS, 3) + ([rng.choice(MEATS)] if meat else [])
    steps = []
    if oven:
        steps.append("Bake in a hot oven.")
    if stove:
        steps.append("Boil in a pan on the stove.")
    steps.append("Leave for two hours." if slow else "Serve at once.")
    text = f"Dish {index}\n\nIngredients:\n" + "\n".join(f"- {i}" for i in items)
    text += "\n\nDirections:\n" + "\n".join(f"- {s}" for s in steps)
    labels = {
        "has_non_fish_meat": meat,
        "requires_oven": oven,
        "requires_stove": stove,
        "cook_time_over_30_mins": slow,
        "main_dish": meat or "cod" in items,
    }
    return text, labels


def chat_line(task: Task, text: str, labels: dict[str, Any], *, as_tool_call: bool = False) -> dict[str, Any]:
    """One line of OpenAI chat fine-tuning JSONL, labels as content or as a forced tool call."""
    assistant: dict[str, Any]
    if as_tool_call:
        arguments = json.dumps(labels)
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": task.teacher.function_name, "arguments": arguments},
        }
        assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    else:
        assistant = {"role": "assistant", "content": render_target(task, labels)}
    return {
        "messages": [
            {"role": "system", "content": task.teacher.system_prompt},
            {"role": "user", "content": text},
            assistant,
        ]
    }


def write_chat_jsonl(path: Path, task: Task, n: int, *, seed: int = 0) -> Path:
    """n synthetic labeled recipes in chat format (every other line uses tool_calls)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text, labels = make_recipe(rng, i)
            f.write(json.dumps(chat_line(task, text, labels, as_tool_call=i % 2 == 1)) + "\n")
    return path


@pytest.fixture()
def train_file(tmp_path: Path, recipes_task: Task) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl", recipes_task, 48)
