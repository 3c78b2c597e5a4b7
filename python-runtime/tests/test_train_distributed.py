"""The train job under torchrun as two CPU processes (gloo), unchanged: the same losses as one process within a stated
tolerance (the steps are the same math; only the order of float additions differs), one event stream (rank 0's), and
one adapter that gives the single-process adapter's weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import events_from, quick_config

# The two runs take the same steps; summing gradients across ranks adds floats in another order, so the step losses
# differ only by float32 rounding. A relative 1e-4 allows that and nothing more: a lost or doubled micro-batch moves a
# step's loss by far more on this data (each micro-batch is a quarter of the step's targets).
LOSS_TOLERANCE = 1e-4


def run(args: list[str], config: dict, tmp_path: Path, name: str) -> tuple[int, list[dict], str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [*args, "-m", "distill_runtime", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, events_from(result.stdout), result.stderr


def test_two_gloo_processes_under_torchrun_match_one_process(tiny_model_dir, train_file, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    settings = {"max_steps": 4, "grad_accum_steps": 4, "micro_batch_size": 2, "save_steps": 4, "packing": False}
    single = quick_config(tiny_model_dir, train_file, tmp_path / "single", **settings)
    rc, one, err = run([sys.executable], single, tmp_path, "single")
    assert rc == 0, err

    ddp = quick_config(tiny_model_dir, train_file, tmp_path / "ddp", **settings)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    rc, two, err = run(torchrun, ddp, tmp_path, "ddp")
    assert rc == 0, err[-3000:]

    assert [e["event"] for e in two].count("start") == 1, "rank 0 alone speaks for the job"
    losses_one = [e["loss"] for e in one if e["event"] == "step"]
    losses_two = [e["loss"] for e in two if e["event"] == "step"]
    assert len(losses_one) == len(losses_two) == 4
    for a, b in zip(losses_one, losses_two, strict=True):
        assert b == pytest.approx(a, rel=LOSS_TOLERANCE)
    assert len(list((tmp_path / "ddp").glob("**/adapter_model.safetensors"))) == 2  # the adapter and its checkpoint
    assert (tmp_path / "ddp" / "adapter" / "adapter_model.safetensors").is_file()
    w1 = load_file(tmp_path / "single" / "adapter" / "adapter_model.safetensors")
    w2 = load_file(tmp_path / "ddp" / "adapter" / "adapter_model.safetensors")
    assert w1.keys() == w2.keys()
    for k in w1:
        assert torch.allclose(w1[k], w2[k], rtol=1e-3, atol=1e-5), k


def test_uneven_sharing_is_refused(tiny_model_dir, train_file, tmp_path: Path) -> None:
    config = quick_config(tiny_model_dir, train_file, tmp_path / "ddp", max_steps=1, grad_accum_steps=3)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    rc, events, _ = run(torchrun, config, tmp_path, "uneven")
    assert rc != 0
    assert any("multiple of 2" in (e.get("hint") or "") for e in events if e["event"] == "error")
