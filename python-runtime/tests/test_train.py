"""The train recipe (training/) on the tiny model (CPU, seconds): loss, packing, checkpoints, resume, errors, cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import events_from, quick_config, write_chat_jsonl

from distill_runtime.config import load_train_config
from distill_runtime.errors import JobError
from distill_runtime.training.batches import IGNORE_INDEX, Tokenized, collate, pack_rows, plan_micro_batches
from distill_runtime.training.recipe import train


def run_job(config: dict[str, Any], tmp_path: Path) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "distill_runtime", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, events_from(result.stdout), result.stderr


def test_loss_goes_down_and_events_stream(tiny_model_dir, train_file, tmp_path, capsys):
    result = train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "out", max_steps=12)))
    events = events_from(capsys.readouterr().out)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    start = events[0]
    assert start["params_trainable"] < start["params_total"]
    assert start["info"]["n_train_examples"] + start["info"]["n_eval_examples"] == 48
    assert 0.9 < start["info"]["packing_efficiency"] <= 1.0
    steps = [e for e in events if e["event"] == "step"]
    assert [s["step"] for s in steps] == list(range(1, 13))
    assert all(s["tokens_per_s"] > 0 and s["memory_mb"] > 0 for s in steps)
    first, last = steps[0]["loss"], sum(s["loss"] for s in steps[-3:]) / 3
    assert last < first - 0.3, (first, last)
    evals = [e for e in events if e["event"] == "eval"]
    assert evals and evals[-1]["step"] == 12
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [4, 8, 12]
    checkpoints = sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir())
    assert checkpoints == ["step-12", "step-8"]  # only the last two are kept
    assert result.metrics["steps"] == 12 and result.metrics["eval_loss"] == evals[-1]["eval_loss"]
    assert Path(result.outputs["adapter_dir"], "adapter_model.safetensors").is_file()


def test_adapter_loads_with_plain_peft_and_gives_the_same_logits(tiny_model_dir, train_file, tmp_path, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path / "out", max_steps=4)))
    trained = result.model.eval()
    reloaded = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), result.outputs["adapter_dir"]
    ).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([[17213, 451, 11594, 347, 20110, 30, 198]])
    with torch.no_grad():
        a, b, base = trained(ids).logits, reloaded(ids).logits, plain(ids).logits
    assert torch.allclose(a, b, atol=1e-5)
    assert (a - base).abs().max() > 1e-3  # the adapter changed something


def test_resume_continues_at_the_right_step(tiny_model_dir, train_file, tmp_path, capsys):
    config = quick_config(tiny_model_dir, train_file, tmp_path / "out", max_steps=6, save_steps=3)
    straight = train(load_train_config(config))
    capsys.readouterr()
    straight_state = {k: v.clone() for k, v in _lora_state(straight.model).items()}
    # Pretend the run died after step 3: drop the step-6 checkpoint and the final adapter, then resume.
    import shutil

    shutil.rmtree(tmp_path / "out" / "checkpoints" / "step-6")
    shutil.rmtree(tmp_path / "out" / "adapter")
    resumed = train(load_train_config({**config, "resume": True}))
    events = events_from(capsys.readouterr().out)
    assert events[0]["info"]["resumed_from_step"] == 3
    assert [e["step"] for e in events if e["event"] == "step"] == [4, 5, 6]
    assert resumed.metrics["tokens_seen"] == straight.metrics["tokens_seen"]
    for name, value in _lora_state(resumed.model).items():  # same data order, optimizer, schedule and RNG
        assert torch.allclose(value, straight_state[name], atol=1e-6), name


def test_training_time_adds_up_across_a_resume(tiny_model_dir, train_file, tmp_path, capsys):
    config = quick_config(tiny_model_dir, train_file, tmp_path / "out", max_steps=4, save_steps=2, eval_fraction=0)
    first = train(load_train_config({**config, "max_steps": 2}))  # the "interrupted" session: it stopped at step 2
    capsys.readouterr()
    saved = torch.load(tmp_path / "out" / "checkpoints" / "step-2" / "training_state.pt", weights_only=False)
    assert 0 < saved["train_seconds"] <= first.metrics["runtime_s"] + 0.01
    resumed = train(load_train_config({**config, "resume": True}))
    done = [e for e in events_from(capsys.readouterr().out) if e["event"] == "done"][0]
    assert resumed.metrics["steps"] == 4
    assert done["runtime_s"] == pytest.approx(resumed.metrics["session_runtime_s"], abs=0.01)
    # the total carries the first session's seconds up to its checkpoint, on top of this session's
    total = saved["train_seconds"] + resumed.metrics["session_runtime_s"]
    assert resumed.metrics["runtime_s"] == pytest.approx(total, abs=0.02)


def test_max_seq_len_beyond_the_model_context_is_refused(tiny_model_dir, train_file, tmp_path):
    config = quick_config(tiny_model_dir, train_file, tmp_path / "out", max_seq_len=8192)  # the tiny model has 4096
    with pytest.raises(JobError) as caught:
        train(load_train_config(config))
    assert caught.value.kind == "config"
    assert "max_seq_len=8192 is longer than the context" in str(caught.value) and "4096 tokens" in str(caught.value)
    assert caught.value.hint == "set max_seq_len to at most 4096"


def test_resume_with_no_checkpoint_starts_fresh_and_without_resume_clears_old_ones(
    tiny_model_dir, train_file, tmp_path, capsys
):
    config = quick_config(tiny_model_dir, train_file, tmp_path / "out", max_steps=2, save_steps=1, eval_fraction=0)
    train(load_train_config({**config, "resume": True}))
    assert events_from(capsys.readouterr().out)[0]["info"]["resumed_from_step"] is None
    train(load_train_config({**config, "max_steps": 1}))
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["step-1"]


def test_prompt_tokens_are_masked_and_packing_keeps_examples_apart(tiny_model_dir):
    """A packed row gives each example exactly the logits it gets alone: no attention across examples."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    examples = [Tokenized(list(range(100, 100 + n)), n_prompt=n - 3) for n in (9, 5, 7)]
    batch = collate([[0, 1, 2]], examples, pad_id=2)
    assert batch["position_ids"][0].tolist() == list(range(9)) + list(range(5)) + list(range(7))
    labels = batch["labels"][0].tolist()
    assert labels[:6] == [IGNORE_INDEX] * 6 and labels[6:9] == [106, 107, 108]  # loss only on the last 3 of each
    with torch.no_grad():
        # use_cache=False as in training: with a KV cache, transformers does not look for packed position_ids
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        offset = 0
        for example in examples:
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]
            n = len(example.input_ids)
            assert torch.allclose(packed[offset : offset + n], alone, atol=1e-5)
            offset += n


def test_padding_rows_and_plan():
    examples = [Tokenized([5] * n, n_prompt=1) for n in (10, 4)]
    batch = collate([[0], [1]], examples, pad_id=0)
    assert batch["input_ids"].shape == (2, 10)
    assert batch["labels"][1, 4:].tolist() == [IGNORE_INDEX] * 6  # padding never counts in the loss
    lengths = [300, 700, 200, 500, 100, 900, 250]
    rows = pack_rows(lengths, 1024)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 1024 for row in rows)
    assert len(rows) == 3  # 2950 tokens fit in three 1024-token rows


def test_plan_without_packing_groups_by_length(tiny_model_dir, train_file, tmp_path):
    config = load_train_config(quick_config(tiny_model_dir, train_file, tmp_path, packing=False, micro_batch_size=2))
    plan = plan_micro_batches([10, 50, 12, 48], config, one_flat_row=False)
    assert plan == [[[1], [3]], [[2], [0]]]


def test_bad_config_gives_an_error_event_and_a_nonzero_exit(tiny_model_dir, train_file, tmp_path):
    config = quick_config(tiny_model_dir, train_file, tmp_path / "out", lora_r=0, lr=0.1)
    code, events, _ = run_job(config, tmp_path)
    assert code == 1
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "config"
    assert "field 'lora_r'" in events[-1]["message"] and "unknown field 'lr'" in events[-1]["message"]
    assert events[-1]["hint"] == "did you mean 'lr_scheduler'?" or "learning_rate" in events[-1]["hint"]


def test_unknown_preset_and_missing_train_file(tiny_model_dir, train_file, tmp_path):
    with pytest.raises(JobError, match="unknown preset 'fast'") as e:
        load_train_config(quick_config(tiny_model_dir, train_file, tmp_path, preset="fast"))
    assert "cpu-default" in (e.value.hint or "")
    with pytest.raises(JobError, match="file not found"):
        train(load_train_config(quick_config(tiny_model_dir, tmp_path / "missing.jsonl", tmp_path)))


def test_presets_fill_values_and_explicit_values_win():
    config = load_train_config({"train_file": "t.jsonl", "output_dir": "o", "preset": "llama2-7b-original"})
    assert (config.lora_r, config.lora_alpha, config.num_epochs, config.max_seq_len) == (32, 16, 5, 4096)
    assert config.load_in_8bit and config.optimizer == "adamw_8bit" and config.base_model == "meta-llama/Llama-2-7b-hf"
    config = load_train_config({"train_file": "t.jsonl", "output_dir": "o", "lora_r": 4})
    assert config.preset == "cpu-default" and config.lora_r == 4 and config.loss_on == "values" and config.calibrate


def test_forced_nan_gives_a_nan_error_event(tiny_model_dir, train_file, tmp_path):
    code, events, _ = run_job(quick_config(tiny_model_dir, train_file, tmp_path / "out", debug_nan_at_step=2), tmp_path)
    assert code == 1
    assert [e["event"] for e in events] == ["start", "step", "error"]
    assert events[-1]["kind"] == "nan" and "step 2" in events[-1]["message"]
    assert "lower learning_rate" in events[-1]["hint"]


def test_quantization_and_8bit_optimizer_are_refused_on_cpu(tiny_model_dir, train_file, tmp_path):
    with pytest.raises(JobError, match="needs a CUDA GPU") as e:
        train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path, load_in_4bit=True)))
    assert e.value.kind == "config" and "cpu-default" in (e.value.hint or "")
    with pytest.raises(JobError, match="adamw_8bit needs a CUDA GPU"):
        train(load_train_config(quick_config(tiny_model_dir, train_file, tmp_path, optimizer="adamw_8bit")))


def test_sigterm_stops_promptly_and_keeps_the_last_checkpoint(tiny_model_dir, tmp_path, recipes_task):
    big = write_chat_jsonl(tmp_path / "big.jsonl", recipes_task, 200)
    config = quick_config(tiny_model_dir, big, tmp_path / "out", max_steps=1000, save_steps=2, eval_fraction=0)
    path = tmp_path / "job.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "distill_runtime", "train", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "checkpoint":
            os.kill(proc.pid, signal.SIGTERM)
            break
    rest = proc.stdout.read()
    code = proc.wait(timeout=60)
    last = events_from(rest)[-1]
    assert code == 130 and last["event"] == "error" and last["kind"] == "cancelled"
    assert (tmp_path / "out" / "checkpoints" / "step-2" / "training_state.pt").is_file()


def _lora_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if "lora_" in k}


def test_eval_split_is_seeded_and_capped():
    from distill_runtime.task import Example
    from distill_runtime.training.batches import split_eval

    examples = [Example(text=str(i), labels={}) for i in range(100)]
    train_part, held = split_eval(examples, 0.1, 200, seed=1)
    assert len(held) == 10 and len(train_part) == 90
    assert {e.text for e in held}.isdisjoint({e.text for e in train_part})
    assert split_eval(examples, 0.1, 200, seed=1)[1] == held  # the same seed holds out the same examples
    assert len(split_eval(examples, 0.5, 7, seed=1)[1]) == 7
    assert split_eval(examples[:1], 0.5, 7, seed=1) == (examples[:1], [])


def test_base_model_specs_resolve_or_say_what_to_use(tmp_path, monkeypatch):
    from distill_runtime.model import SMOLLM2_ALIAS, resolve_base_model

    alias = resolve_base_model(SMOLLM2_ALIAS)
    assert alias.gguf_file is not None and alias.gguf_file.endswith(".gguf")
    direct = resolve_base_model(str(Path(alias.name_or_dir) / alias.gguf_file))
    assert direct == alias
    with pytest.raises(JobError, match="model not found") as e:
        resolve_base_model(str(tmp_path / "nowhere"))
    assert SMOLLM2_ALIAS in (e.value.hint or "")
    with pytest.raises(JobError, match="not a model folder"):
        resolve_base_model(str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # what a machine without network sees
    with pytest.raises(JobError, match="hub cannot be reached") as e:
        resolve_base_model("some-org/some-model")
    assert "local transformers model folder" in (e.value.hint or "")


def test_frozen_cache_gives_the_full_forward_and_loss_on_packed_padded_rows(tiny_model_dir):
    """The top layers run from the stored bottom-layer states give each example's positions the full forward's
    hidden states and the same loss, with packed rows of different lengths (padding) in one micro-batch; the
    values-only labels cover the value tokens alone."""
    from transformers import AutoModelForCausalLM

    from distill_runtime.training.frozen import FrozenPrefix, layer_count
    from distill_runtime.training.recipe import last_hidden, target_loss_sum

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    assert layer_count(model) >= 2
    mask = [False, True, False, False, True, False]  # two value tokens among six target tokens
    examples = [Tokenized(list(range(100, 100 + n)), n_prompt=n - 6, is_value=mask) for n in (12, 9, 15)]
    rows = [[0, 1], [2]]  # 21 and 15 tokens: the second row is padded
    batch = collate(rows, examples, pad_id=7, loss_on="values")  # 7: an id whose embedding is not zero
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == 2 * len(examples)
    cache = FrozenPrefix(model, 1, [len(e.input_ids) for e in examples])
    cache.check(rows, batch)  # raises when the two paths differ
    with torch.no_grad():
        cached = cache.hidden(rows, batch)
        full = last_hidden(model, batch)
        assert torch.allclose(cached[0], full[0], atol=1e-5) and torch.allclose(cached[1, :15], full[1, :15], atol=1e-5)
        loss_cached, n = target_loss_sum(model, batch, cached)
        loss_full, m = target_loss_sum(model, batch)
    assert n == m == 6 and float(loss_cached) == pytest.approx(float(loss_full), rel=1e-5)
