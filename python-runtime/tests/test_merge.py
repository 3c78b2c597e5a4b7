"""The merge job: adapter + base -> a plain transformers folder that gives the adapter's logits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import events_from, quick_config

from distill_runtime.config import MergeConfig, load_train_config
from distill_runtime.errors import JobError
from distill_runtime.jobs.merge import merge
from distill_runtime.training.recipe import train


def test_merged_model_loads_plainly_and_matches_the_adapter(tiny_model_dir, train_file, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trained = train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "run", max_steps=4)))
    adapter_dir = trained.outputs["adapter_dir"]
    capsys.readouterr()
    config = {"base_model": str(tiny_model_dir), "adapter_dir": adapter_dir, "output_dir": str(tmp_path / "merged")}
    config_file = tmp_path / "merge.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "distill_runtime", "merge", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = events_from(result.stdout)
    assert [e["event"] for e in events] == ["start", "done"]
    merged_dir = events[-1]["outputs"]["merged_dir"]
    assert merged_dir == str(tmp_path / "merged")

    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()  # plain transformers, no PEFT
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert "quantization_config" not in json.loads((tmp_path / "merged" / "config.json").read_text())
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = torch.tensor([tokenizer("Label this recipe as JSON.\n\nToast\n\nLabels:")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-4)
    note = json.loads((tmp_path / "merged" / "distill.json").read_text())
    assert note["task"] == "recipes" and note["merged_from"] == adapter_dir


def test_merge_refuses_a_folder_without_an_adapter(tiny_model_dir, tmp_path):
    with pytest.raises(JobError, match="not a LoRA adapter folder"):
        merge(MergeConfig(base_model=str(tiny_model_dir), adapter_dir=str(tmp_path), output_dir=str(tmp_path / "m")))
