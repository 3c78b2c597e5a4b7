"""The infer job: transformers engine end to end on tiny models (CPU, seconds), engine choice, config errors, vLLM.

Two tiny models: the untrained one from conftest (its output is garbage, which is the point: parse failures are
counted, never a crash) and `json_model_dir`, the same model fully fine-tuned here for a few seconds to write the
task's JSON followed by "\\nThe end." and no EOS, so only the JSON-closed stopping rule can end its output early.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_recipe, write_chat_jsonl

from distill_runtime.__main__ import main
from distill_runtime.config import load_train_config
from distill_runtime.encoding import encode_prompt
from distill_runtime.engines import select_engine, vllm_installed
from distill_runtime.errors import JobError
from distill_runtime.inference.config import load_config
from distill_runtime.inference.output import (
    MAX_NEW_TOKENS_MARGIN,
    default_max_new_tokens,
    json_object_end,
    longest_target_tokens,
)
from distill_runtime.jobs.infer import run
from distill_runtime.task import load_task, render_target

TRAILER = "\nThe end."


def events_from(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_plain_jsonl(path: Path, n: int, *, seed: int) -> Path:
    """{"id", "text"} corpus lines of different lengths."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            text, _ = make_recipe(rng, i)
            text += "\n- Season well." * (i % 4)  # vary the prompt lengths so batches need padding
            f.write(json.dumps({"id": f"rec-{i}", "text": text}) + "\n")
    return path


@pytest.fixture(scope="session")
def json_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model taught (full fine-tune, ~150 steps) to answer prompts with the task JSON + TRAILER, no EOS."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task = load_task("recipes")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    rng = random.Random(0)
    data = []
    for i in range(16):
        text, labels = make_recipe(rng, i)
        prompt = encode_prompt(tokenizer, task, text)
        target = tokenizer(render_target(task, labels) + TRAILER, add_special_tokens=False)["input_ids"]
        data.append((prompt, target))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model.train()
    for step in range(150):
        prompt, target = data[step % len(data)]
        loss = model(
            input_ids=torch.tensor([prompt + target]), labels=torch.tensor([[-100] * len(prompt) + target])
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss.item() < 1.0, f"the JSON model did not learn its format (loss {loss.item():.2f})"
    out = tmp_path_factory.mktemp("json-model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def infer(capsys: pytest.CaptureFixture[str], **config: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict]]:
    """Run the job in this process: (done metrics, events, output lines)."""
    metrics = run(load_config(config))
    events = events_from(capsys.readouterr().out)
    return metrics, events, read_jsonl(Path(config["output_file"]))


# ---------------------------------------------------------------------------------------------------------------


def test_cli_on_the_untrained_model_counts_parse_failures_and_never_crashes(tiny_model_dir, recipes_task, tmp_path):
    from transformers import AutoTokenizer

    input_file = write_chat_jsonl(tmp_path / "test.jsonl", recipes_task, 5, seed=3)
    config = {
        "model": str(tiny_model_dir),
        "input_file": str(input_file),
        "output_file": str(tmp_path / "out" / "pred.jsonl"),
        "batch_size": 2,
        "max_new_tokens": 8,
        "decoding": "free",
    }
    (tmp_path / "job.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "distill_runtime", "infer", "--config", str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = events_from(result.stdout)
    assert [e["event"] for e in events] == ["start", "progress", "progress", "progress", "done"]
    assert events[0]["info"]["engine"] == "transformers" and events[0]["device"] == "cpu"
    assert [e["done"] for e in events[1:4]] == [2, 4, 5] and all(e["total"] == 5 for e in events[1:4])
    assert all(e["records_per_s"] > 0 and e["tokens_per_s"] > 0 for e in events[1:4])
    metrics = events[-1]["metrics"]
    assert events[-1]["outputs"]["output_file"] == config["output_file"]

    lines = read_jsonl(Path(config["output_file"]))
    assert [p["index"] for p in lines] == list(range(5))
    assert all(p["labels"] is None and p["error"] for p in lines)  # random weights never write the task's JSON
    assert metrics["parse_failures"] == 5 and metrics["parse_failure_rate"] == 1.0
    assert metrics["records"] == 5 and metrics["engine"] == "transformers" and metrics["device"] == "cpu"
    assert all(1 <= p["output_tokens"] <= 8 for p in lines)
    assert metrics["output_tokens"] == sum(p["output_tokens"] for p in lines)
    # The prompt ids are exactly the ones training builds (encoding.encode_prompt).
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [json.loads(line)["messages"][1]["content"] for line in input_file.read_text().splitlines()]
    assert [p["input_tokens"] for p in lines] == [len(encode_prompt(tokenizer, recipes_task, t)) for t in texts]
    assert not Path(config["output_file"] + ".partial").exists()


def test_generation_stops_as_soon_as_the_json_object_closes(json_model_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 6, seed=5)
    metrics, _, lines = infer(
        capsys,
        model=str(json_model_dir),
        input_file=str(input_file),
        output_file=str(tmp_path / "p.jsonl"),
        batch_size=3,
        decoding="free",
    )
    assert [p["id"] for p in lines] == [f"rec-{i}" for i in range(6)]
    for p in lines:
        assert p["completion"].startswith("{") and p["completion"].endswith("}"), p["completion"]
        assert "The end" not in p["completion"]
        assert p["output_tokens"] < metrics["max_new_tokens"]
        assert (p["labels"] is None) == (p["error"] is not None)
    assert metrics["parse_failures"] == sum(p["error"] is not None for p in lines)
    # Without the stopping rule the same model goes on past the brace (it was never taught an EOS).
    tokenizer = AutoTokenizer.from_pretrained(json_model_dir)
    model = AutoModelForCausalLM.from_pretrained(json_model_dir).eval()
    prompt = encode_prompt(tokenizer, load_task("recipes"), json.loads(input_file.read_text().splitlines()[0])["text"])
    first = lines[0]
    out = model.generate(torch.tensor([prompt]), max_new_tokens=first["output_tokens"] + 3, do_sample=False)
    free_text = tokenizer.decode(out[0, len(prompt) :], skip_special_tokens=True)
    assert free_text.startswith(first["completion"]) and len(free_text) > len(first["completion"])


@pytest.mark.parametrize("decoding", ["constrained", "free"])
def test_batched_output_equals_unbatched_in_input_order(json_model_dir, tiny_model_dir, tmp_path, capsys, decoding):
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 7, seed=9)
    for model_dir, max_new_tokens in [(json_model_dir, None), (tiny_model_dir, 10)]:
        runs = {}
        for batch_size in (1, 4):
            _, _, lines = infer(
                capsys,
                model=str(model_dir),
                input_file=str(input_file),
                output_file=str(tmp_path / f"b{batch_size}.jsonl"),
                batch_size=batch_size,
                max_new_tokens=max_new_tokens,
                decoding=decoding,
            )
            runs[batch_size] = lines
        assert [p["index"] for p in runs[4]] == list(range(7))
        assert [p["id"] for p in runs[4]] == [f"rec-{i}" for i in range(7)]
        assert runs[1] == runs[4]


def test_adapter_merged_in_memory_and_merge_job_output_give_the_same_predictions(
    tiny_model_dir, train_file, tmp_path, capsys
):
    from distill_runtime.config import MergeConfig
    from distill_runtime.jobs.merge import merge
    from distill_runtime.training.recipe import train

    trained = train(
        load_train_config(
            {
                "base_model": str(tiny_model_dir),
                "train_file": str(train_file),
                "output_dir": str(tmp_path / "train"),
                "preset": "none",
                "max_steps": 4,
                "micro_batch_size": 2,
                "grad_accum_steps": 1,
                "max_seq_len": 256,
                "learning_rate": 0.01,
                "warmup_steps": 1,
                "save_steps": 100,
                "eval_fraction": 0.1,
            }
        )
    )
    adapter = trained.outputs["adapter_dir"]
    merged = merge(
        MergeConfig(base_model=str(tiny_model_dir), adapter_dir=adapter, output_dir=str(tmp_path / "merged"))
    )
    capsys.readouterr()
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 4, seed=2)
    common = {"input_file": str(input_file), "batch_size": 2, "max_new_tokens": 12}
    _, _, with_adapter = infer(
        capsys, model=str(tiny_model_dir), adapter_dir=adapter, output_file=str(tmp_path / "a.jsonl"), **common
    )
    _, _, merged_in_memory = infer(
        capsys,
        model=str(tiny_model_dir),
        adapter_dir=adapter,
        merge=True,
        output_file=str(tmp_path / "m.jsonl"),
        **common,
    )
    _, _, merged_folder = infer(
        capsys, merged_dir=merged["merged_dir"], output_file=str(tmp_path / "f.jsonl"), **common
    )
    assert [drop_margins(r) for r in with_adapter] == [drop_margins(r) for r in merged_in_memory]
    assert [drop_margins(r) for r in with_adapter] == [drop_margins(r) for r in merged_folder]
    for a, m, f in zip(with_adapter, merged_in_memory, merged_folder, strict=True):  # merged weights round differently
        for name, margin in a["margins"].items():
            assert m["margins"][name] == pytest.approx(margin, abs=1e-3) == f["margins"][name]


def drop_margins(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "margins"}


def test_limit_and_progress_events(tiny_model_dir, tmp_path, capsys):
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 9, seed=1)
    metrics, events, lines = infer(
        capsys,
        model=str(tiny_model_dir),
        input_file=str(input_file),
        output_file=str(tmp_path / "p.jsonl"),
        batch_size=2,
        max_new_tokens=4,
        limit=5,
    )
    assert len(lines) == 5 and metrics["records"] == 5
    # one progress event per batch: at most batch_size records each (a batch may be cut short where its padding
    # would pass 10%), ending at the limit
    done = [e["done"] for e in events if e["event"] == "progress"]
    assert done[-1] == 5 and all(0 < b - a <= 2 for a, b in zip([0, *done[:-1]], done, strict=True))
    assert events[0]["config"]["limit"] == 5


# ---------------------------------------------------------------------------------------------------------------
# Pieces


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ('{"a":true}', 10),
        ('  {"a":true} and more {}', 12),
        ('{"a":"}"}', 9),  # a brace inside a string does not close the object
        ('{"a":"\\"}"}x', 11),  # nor after an escaped quote
        ('{"a":{"b":1}}', 13),
        ('{"a":true', None),
        ("no json here }", None),
        ('"{"', None),  # a quote before any object is not a string opener
    ],
)
def test_json_object_end(text, end):
    assert json_object_end(text) == end


def test_constrained_batches_are_cut_where_padding_would_pass_a_tenth():
    from distill_runtime.engines.transformers_engine import padded_batches

    lengths = [100, 99, 98, 50, 49, 10]
    # 50 after 100, 99, 98 would make 13% of the batch padding; 10 after 50, 49 27%
    assert list(padded_batches([0, 1, 2, 3, 4, 5], lengths, size=4)) == [[0, 1, 2], [3, 4], [5]]
    assert list(padded_batches(list(range(8)), [7] * 8, size=3)) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert list(padded_batches([0, 1, 2, 3, 4, 5], lengths, size=16, max_padding=1.0)) == [[0, 1, 2, 3, 4, 5]]
    assert list(padded_batches([], [], size=4)) == []


def test_default_max_new_tokens_covers_the_longest_target(tiny_model_dir, recipes_task):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    names = recipes_task.field_names
    every_target = [
        len(
            tokenizer(render_target(recipes_task, dict(zip(names, values, strict=True))), add_special_tokens=False)[
                "input_ids"
            ]
        )
        + 1  # EOS
        for values in itertools.product([True, False], repeat=len(names))
    ]
    assert longest_target_tokens(recipes_task, tokenizer) == max(every_target)
    assert default_max_new_tokens(recipes_task, tokenizer) == max(every_target) + MAX_NEW_TOKENS_MARGIN


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU choice; this machine has CUDA")
def test_auto_engine_is_transformers_on_cpu():
    assert select_engine("auto") == "transformers"
    assert select_engine("auto", "cpu") == "transformers"
    assert select_engine("transformers") == "transformers"


@pytest.mark.skipif(vllm_installed(), reason="vllm is installed here, so it cannot be missing")
def test_vllm_without_vllm_is_a_missing_package_error(tiny_model_dir, tmp_path, capsys):
    with pytest.raises(JobError) as e:
        select_engine("vllm")
    assert e.value.kind == "missing_package" and "pip install" in (e.value.hint or "")
    # Through the job entry point: an error event and a non-zero exit, before any model is loaded.
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 2, seed=0)
    config = {"model": str(tiny_model_dir), "input_file": str(input_file), "output_file": str(tmp_path / "p.jsonl")}
    (tmp_path / "job.json").write_text(json.dumps({**config, "engine": "vllm"}))
    assert main(["infer", "--config", str(tmp_path / "job.json")]) == 1
    [event] = events_from(capsys.readouterr().out)
    assert event["event"] == "error" and event["kind"] == "missing_package"
    assert "vllm" in event["message"] and "pip install 'vllm" in event["hint"]
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.skipif(
    not (vllm_installed() and torch.cuda.is_available()),
    reason="the vLLM engine needs the vllm package and a CUDA GPU (pip install 'vllm>=0.12' on a GPU machine)",
)
def test_vllm_engine_writes_schema_valid_json(tiny_model_dir, tmp_path, capsys):
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 6, seed=4)
    metrics, _, lines = infer(
        capsys,
        model=str(tiny_model_dir),
        input_file=str(input_file),
        output_file=str(tmp_path / "p.jsonl"),
        engine="vllm",
    )
    assert metrics["engine"] == "vllm" and len(lines) == 6
    # Structured outputs: even random weights can only write the task's JSON.
    assert metrics["parse_failures"] == 0, [p["completion"] for p in lines]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"batchsize": 2}, "unknown field 'batchsize'"),
        ({"merged_dir": "x"}, "exactly one of model"),
        ({"merge": True}, "merge=true needs adapter_dir"),
        ({"batch_size": 0}, "batch_size"),
        ({"engine": "onnx"}, "engine"),
    ],
)
def test_config_errors_name_the_field(config, message):
    base = {"model": "m", "input_file": "in.jsonl", "output_file": "out.jsonl"}
    with pytest.raises(JobError) as e:
        load_config({**base, **config})
    assert e.value.kind == "config" and message in str(e.value)


def test_unknown_field_hint_and_missing_input(tiny_model_dir, tmp_path):
    with pytest.raises(JobError) as e:
        load_config({"model": "m", "input_file": "a", "output_file": "b", "batchsize": 2})
    assert e.value.hint == "did you mean 'batch_size'?"
    with pytest.raises(JobError) as e:
        run(load_config({"model": str(tiny_model_dir), "input_file": str(tmp_path / "nope.jsonl"), "output_file": "x"}))
    assert e.value.kind == "data" and "nope.jsonl" in str(e.value)


def test_missing_adapter_is_a_config_error(tiny_model_dir, tmp_path):
    input_file = write_plain_jsonl(tmp_path / "in.jsonl", 1, seed=0)
    empty = tmp_path / "adapter"
    empty.mkdir()
    with pytest.raises(JobError) as e:
        run(
            load_config(
                {
                    "model": str(tiny_model_dir),
                    "adapter_dir": str(empty),
                    "input_file": str(input_file),
                    "output_file": str(tmp_path / "p.jsonl"),
                }
            )
        )
    assert e.value.kind == "config" and "adapter_config.json" in str(e.value)
    shutil.rmtree(empty)


# ---------------------------------------------------------------------------------------------------------------
# export: GGUF through llama.cpp's converter, unpacked offline from node-llama-cpp's bundle

BUNDLE = Path(__file__).resolve().parents[2] / "node_modules/node-llama-cpp/llama/gitRelease.bundle"


# llama.cpp's tensor names for the Llama weights; q and k are stored with their rows permuted (rotary layout).
GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
}


def gguf_name(hf_name: str) -> str:
    if hf_name in GGUF_NAMES:
        return GGUF_NAMES[hf_name]
    _, _, layer, rest = hf_name.split(".", 3)  # model.layers.<n>.<rest>
    return f"blk.{layer}.{GGUF_NAMES[rest]}"


@pytest.mark.skipif(not BUNDLE.is_file() or shutil.which("git") is None, reason="needs node-llama-cpp's bundle and git")
def test_export_writes_a_gguf_holding_the_same_weights(tiny_model_dir, tmp_path, capsys):
    import numpy as np
    from gguf import GGUFReader
    from safetensors.numpy import load_file

    from distill_runtime.jobs.export import ExportConfig, export

    gguf = tmp_path / "student.gguf"
    outputs = export(ExportConfig(merged_dir=str(tiny_model_dir), output_file=str(gguf), outtype="f32"))
    events = events_from(capsys.readouterr().out)
    assert [e["event"] for e in events] == ["start", "done"]
    assert outputs["gguf_file"] == str(gguf) and events[-1]["metrics"]["size_bytes"] == gguf.stat().st_size
    reader = GGUFReader(gguf)
    architecture = reader.fields["general.architecture"]
    assert bytes(architecture.parts[architecture.data[0]]).decode() == "llama"
    exported = {t.name: np.asarray(t.data) for t in reader.tensors}
    original = load_file(tiny_model_dir / "model.safetensors")
    assert sorted(exported) == sorted(gguf_name(n) for n in original)
    for name, weights in original.items():
        theirs = exported[gguf_name(name)]
        if name.endswith(("q_proj.weight", "k_proj.weight")):  # same rows, rotary order
            assert np.array_equal(np.sort(theirs, axis=0), np.sort(weights, axis=0)), name
        else:
            assert np.array_equal(theirs, weights), name


def test_export_refuses_a_folder_without_a_model(tmp_path):
    from distill_runtime.jobs.export import ExportConfig, export

    with pytest.raises(JobError) as e:
        export(ExportConfig(merged_dir=str(tmp_path), output_file=str(tmp_path / "x.gguf")))
    assert e.value.kind == "config" and "merge job" in (e.value.hint or "")
