"""fit_readout (training/readout.py): the boolean fields' true-minus-false direction fitted by logistic regression and
stored in the lm_head LoRA, before (or instead of) LoRA steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import events_from, quick_config, write_chat_jsonl

from distill_runtime.config import load_train_config
from distill_runtime.errors import JobError
from distill_runtime.inference.config import load_config
from distill_runtime.jobs.infer import run
from distill_runtime.task import load_task, read_examples
from distill_runtime.training.readout import fit_direction, head_margins, write_direction
from distill_runtime.training.recipe import train


def test_fit_direction_solves_a_separable_problem():
    torch.manual_seed(0)
    x = torch.randn(200, 5, 16)
    w = torch.randn(16)
    y = (x @ w) > 0
    base = torch.randn(200, 5)  # the untrained model's own margins: noise the direction must overcome
    d = fit_direction(x, y, base, l2=1e-4)
    assert float(((base + x @ d > 0) == y).float().mean()) > 0.97
    assert torch.nn.functional.cosine_similarity(d, w, dim=0) > 0.9


def test_written_direction_gives_the_fitted_margins(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["lm_head"], task_type="CAUSAL_LM"),
    )
    hidden = model.config.hidden_size
    states = torch.randn(7, 3, hidden)
    before = head_margins(model, states, 11, 12)
    d = torch.randn(hidden)
    write_direction(model, d, 11, 12)
    assert torch.allclose(head_margins(model, states, 11, 12), before + states @ d, atol=1e-4)
    logits = model.get_base_model().get_output_embeddings()(states)
    plain = states @ model.get_base_model().get_output_embeddings().base_layer.weight.T
    moved = (logits - plain).abs().amax(dim=(0, 1))
    assert set(torch.nonzero(moved > 1e-5).flatten().tolist()) <= {11, 12}  # no other token's logit moves


def test_readout_alone_trains_a_student_the_engine_reads(tiny_model_dir, tmp_path, capsys):
    """num_epochs 0 + fit_readout: no LoRA step; the saved adapter labels the training recipes through the infer job
    (constrained decoding, adapter unmerged) about as well as the readout fitted them."""
    task = load_task("recipes")
    train_file = write_chat_jsonl(tmp_path / "train.jsonl", task, 64, seed=3)
    config = quick_config(
        tiny_model_dir,
        train_file,
        tmp_path / "run",
        max_steps=None,
        num_epochs=0,
        fit_readout=True,
        lm_head_lora_r=4,
        train_layers=1,
        loss_on="values",
        eval_fraction=0.0,
        calibrate=True,
    )
    trained = train(load_train_config(config))
    events = events_from(capsys.readouterr().out)
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 64  # the readout's pass says how far it is
    start = next(e for e in events if e["event"] == "start")
    assert start["info"]["frozen_cache_mb"] is None  # no LoRA step would read stored states: none are stored
    readout = trained.metrics["readout"]
    assert trained.metrics["steps"] == 0
    assert readout["examples"] == 64 and len(readout["fields"]) == 5
    assert readout["train_accuracy_after"] >= max(0.7, readout["train_accuracy_before"] + 0.1)
    adapter = Path(trained.outputs["adapter_dir"])
    assert json.loads((adapter / "distill.json").read_text())["config"]["fit_readout"] is True
    # calibrated from the readout's own states (no LoRA step since): one threshold per boolean field
    assert set(json.loads((adapter / "calibration.json").read_text())["fields"]) == set(readout["fields"])

    examples = read_examples(str(train_file), task, require_labels=True)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": f"r{i}", "text": e.text}) + "\n" for i, e in enumerate(examples)))
    out = tmp_path / "out.jsonl"
    run(
        load_config(
            {
                "model": str(tiny_model_dir),
                "adapter_dir": str(adapter),
                "input_file": str(inputs),
                "output_file": str(out),
                "batch_size": 8,
                "calibration": False,
            }
        )
    )
    capsys.readouterr()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    right = [line["labels"][f] == e.labels[f] for line, e in zip(lines, examples, strict=True) for f in e.labels]
    # previous values are the decoder's own here, gold in the fit: a little lower than the fit is expected
    assert sum(right) / len(right) >= readout["train_accuracy_after"] - 0.1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fit_readout": True}, "set lm_head_lora_r"),
        ({"num_epochs": 0, "max_steps": None}, "nothing else trains"),
    ],
)
def test_readout_settings_are_checked(tiny_model_dir, train_file, tmp_path, change, message):
    with pytest.raises(JobError, match=message):
        load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "run", **change))


def test_vllm_refuses_an_unmerged_lm_head_adapter_and_says_to_merge(tmp_path):
    from distill_runtime.engines.vllm_engine import adapter_engine_kwargs

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": r".*\\.(q_proj)|lm_head"}))
    with pytest.raises(JobError, match="LoRA on lm_head") as refused:
        adapter_engine_kwargs(str(tmp_path))
    assert "merged_dir" in str(refused.value.hint)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": ["q_proj", "v_proj"]}))
    assert adapter_engine_kwargs(str(tmp_path))[1]["max_lora_rank"] == 16


def test_lora_steps_start_from_the_fitted_readout(tiny_model_dir, train_file, tmp_path):
    """fit_readout then LoRA steps (cpu-quality): the readout is fitted, the steps run from it, and the calibration
    comes from a fresh pass over the trained model (not the readout's stale states)."""
    common = {"lm_head_lora_r": 4, "train_layers": 1, "loss_on": "values", "calibrate": True, "max_steps": 3}
    plain = train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "plain", **common)))
    probed = train(
        load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "probed", fit_readout=True, **common))
    )
    assert plain.metrics["readout"] is None and probed.metrics["readout"] is not None
    assert probed.metrics["steps"] == 3 and probed.metrics["calibration_thresholds"]
    assert probed.metrics["calibration_thresholds"] != plain.metrics["calibration_thresholds"]
