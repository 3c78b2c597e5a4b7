"""`python -m distill_runtime train --config f.json`: LoRA / QLoRA fine-tuning (the recipe: training/recipe.py)."""

from __future__ import annotations

from ..config import load_train_config, read_config_file
from ..training.recipe import train


def run_from_file(path: str) -> None:
    config = load_train_config(read_config_file(path), source=path)
    train(config)
