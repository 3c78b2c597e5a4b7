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


def test_lm_head_lora_merges_without_touching_the_tied_input_embeddings(tiny_model_dir, train_file, tmp_path):
    """lm_head_lora_r: LoRA on the output layer too (with train_layers, on the top decoder layers only). The tiny model
    ties lm_head to the input embeddings, as SmolLM2 does: merging must give lm_head its own weight and leave the
    embeddings as they were, or every input token would be embedded differently from training."""
    from peft import PeftModel
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    config = quick_config(tiny_model_dir, train_file, tmp_path / "run", max_steps=4, lm_head_lora_r=8, train_layers=1)
    trained = train(load_train_config({**config, "learning_rate": 0.05}))
    adapter_dir = trained.outputs["adapter_dir"]
    with safe_open(f"{adapter_dir}/adapter_model.safetensors", "pt") as f:
        names = list(f.keys())
    n_layers = AutoModelForCausalLM.from_pretrained(tiny_model_dir).config.num_hidden_layers
    assert any("lm_head.lora_A" in n for n in names)
    assert all("lora_" in n for n in names), names  # LoRA weights only: no copy of the base's embeddings
    assert all(".lm_head." in n or f".layers.{n_layers - 1}." in n for n in names), names  # top layer + head only

    merge(MergeConfig(base_model=str(tiny_model_dir), adapter_dir=adapter_dir, output_dir=str(tmp_path / "merged")))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert merged.config.tie_word_embeddings is False
    assert torch.equal(merged.get_input_embeddings().weight, base.get_input_embeddings().weight)
    assert not torch.equal(merged.get_output_embeddings().weight, base.get_output_embeddings().weight)
    with_adapter = PeftModel.from_pretrained(base, adapter_dir).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, with_adapter(ids).logits, atol=1e-4)
