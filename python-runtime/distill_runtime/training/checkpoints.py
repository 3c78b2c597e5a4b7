"""Checkpoints: output_dir/checkpoints/step-N/{adapter_model.safetensors, adapter_config.json, training_state.pt},
and the final adapter (output_dir/adapter: the PEFT files, the tokenizer, distill.json, calibration.json).

Written atomically (a .tmp folder renamed into place), with the optimizer, scheduler and RNG states, so a resumed run
continues at the exact step with the exact data order; only the last KEEP_CHECKPOINTS are kept.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..encoding import write_calibration
from ..events import log

KEEP_CHECKPOINTS = 2


def checkpoint_dirs(root: Path) -> list[Path]:
    found = [p for p in root.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def save_checkpoint(root: Path, step: int, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> Path:
    import torch

    target = root / f"step-{step}"
    tmp = root / f".step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, save_embedding_layers=False)  # the base's embeddings are not the adapter's
    rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(
        {
            **state,
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng,
        },
        tmp / "training_state.pt",
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: an interrupted save leaves only a .tmp folder, which is ignored
    for old in checkpoint_dirs(root)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors")))
    state = torch.load(path / "training_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    random.setstate(state["rng"]["python"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return state


def save_adapter(
    adapter_dir: Path,
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    task_name: str,
    calibration: tuple[dict[str, list[float]], dict[str, list[bool]]] | None,
) -> dict[str, float] | None:
    """The final adapter (plain PEFT format) with the tokenizer, a note of what it was trained from and, with
    calibrate, calibration.json. Returns the calibration thresholds."""
    tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, save_embedding_layers=False)  # the base's embeddings are not the adapter's
    tokenizer.save_pretrained(tmp)
    note = {
        "base_model": config.base_model,
        "task": task_name,
        "task_file": config.task_file,
        "config": config.model_dump(mode="json"),
    }
    (tmp / "distill.json").write_text(json.dumps(note, indent=2) + "\n")
    thresholds = None
    if calibration is not None and calibration[0]:
        written = write_calibration(tmp, *calibration)
        thresholds = {name: v["threshold"] for name, v in written["fields"].items()}
        log(f"calibration thresholds (train margins): {thresholds}")
    shutil.rmtree(adapter_dir, ignore_errors=True)
    tmp.rename(adapter_dir)
    return thresholds
