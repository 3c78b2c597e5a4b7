"""The label-corpus job as a Ray Data pipeline on a local Ray (2 engine actors of 1 CPU each) with the tiny model over
a couple of thousand records: the same rows and labels as the one-process job, and a resume after kill -9 of the
driver that gives every row exactly once. Also the ray.data.llm vLLM processor's config, built but never run (it
needs a GPU and vLLM)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from test_label_corpus import by_index, job_config, read_shards, run_job, start_job, write_corpus

pytest.importorskip("ray.data")

ROWS = 2000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("ray-corpus") / "corpus.jsonl", ROWS)


def ray_config(tiny_model_dir: Path, corpus: Path, out: Path) -> dict:
    # Short texts and answers: the test is about the pipeline, not the model's speed.
    return job_config(
        tiny_model_dir, corpus, out, records_per_shard=250, max_chars=120, max_new_tokens=2, ray=True, workers=2
    )


def test_ray_gives_the_one_process_labels_and_resumes_after_the_driver_is_killed(
    tiny_model_dir, corpus: Path, tmp_path: Path
) -> None:
    local = tmp_path / "local"
    config = {**ray_config(tiny_model_dir, corpus, local), "ray": False, "workers": 1}
    rc, _, err = run_job(config, tmp_path)
    assert rc == 0, err
    expected = by_index(read_shards(local))
    assert sorted(expected) == list(range(ROWS))

    out = tmp_path / "ray"
    config = ray_config(tiny_model_dir, corpus, out)
    proc = start_job(config, tmp_path, "ray.json")
    # Kill the driver once Ray has written a finished file (a footer that reads back) but before it is done.
    deadline = time.time() + 900
    killed = False
    while time.time() < deadline and proc.poll() is None:
        files = list((out / "labels").glob("*.parquet")) if (out / "labels").exists() else []
        if files:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    proc.communicate()
    assert killed, "the Ray run ended before it wrote its first file"

    rc, events, err = run_job(config, tmp_path)
    assert rc == 0, err
    rows = read_shards(out)
    assert sorted(rows["index"]) == list(range(ROWS)), "every input row exactly once"
    assert by_index(rows) == expected, "the same labels as the one-process job"
    done = [e for e in events if e["event"] == "done"][-1]
    assert done["metrics"]["complete"] and done["metrics"]["engine"].startswith("ray")
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == ROWS


def test_vllm_processor_config_serves_the_adapter_with_the_task_schema(tiny_model_dir, tmp_path: Path) -> None:
    pytest.importorskip("ray.data.llm")
    from distill_runtime.corpus_job.config import load_config
    from distill_runtime.corpus_job.vllm_processor import postprocess_row, preprocess_row, processor_config
    from distill_runtime.encoding import encode_prompt, text_ids
    from distill_runtime.engines.vllm_engine import structured_output_schema
    from distill_runtime.model import ModelSource, load_tokenizer
    from distill_runtime.task import load_task, render_prompt

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 12}))
    config = load_config(
        {
            "model": str(tiny_model_dir),
            "adapter_dir": str(adapter),
            "corpus": ["x.jsonl"],
            "output_dir": str(tmp_path / "out"),
            "ray": True,
            "workers": 4,
            "gpus_per_worker": 2,
            "batch_size": 64,
            "max_new_tokens": 40,
        }
    )
    task = load_task("recipes")
    processor = processor_config(config, task)
    assert type(processor).__name__ == "vLLMEngineProcessorConfig"
    assert processor.model_source == str(tiny_model_dir)
    assert processor.concurrency == 4 and processor.batch_size == 64
    kwargs = processor.engine_kwargs
    assert kwargs["enable_lora"] is True and kwargs["max_lora_rank"] == 16 and kwargs["max_loras"] == 1
    assert kwargs["tensor_parallel_size"] == 2
    tokenizer = load_tokenizer(ModelSource(str(tiny_model_dir)))
    template_tokens = len(encode_prompt(tokenizer, task, ""))
    assert kwargs["max_model_len"] == template_tokens + 4 * task.student.max_input_tokens + 40
    assert processor.chat_template_stage is False  # the student's prompt is the task's template, as in training

    row = preprocess_row(config, task, 40)({"text": "Dish\n\nIngredients:\n- cod"})
    assert row["prompt"] == render_prompt(task, "Dish\n\nIngredients:\n- cod")
    # A long text is cut to max_input_tokens exactly as training and the other engines cut it.
    long_text = "Stew\n\nIngredients:\n" + "\n".join(f"- {n} cups of water" for n in range(2000))
    long_prompt = preprocess_row(config, task, 40)({"text": long_text})["prompt"]
    assert long_prompt != render_prompt(task, long_text)
    assert tokenizer(long_prompt, add_special_tokens=True)["input_ids"] == encode_prompt(tokenizer, task, long_text)
    assert len(text_ids(tokenizer, long_text)) > task.student.max_input_tokens
    assert row["model"] == str(adapter)  # a LoRA request per row
    sampling = row["sampling_params"]
    assert sampling["temperature"] == 0.0 and sampling["max_tokens"] == 40
    assert sampling["structured_outputs"] == {"json": structured_output_schema(task)}

    labels = {f.name: True for f in task.fields}
    shard_row = postprocess_row(task)(
        {
            "index": 7,
            "id": "r7",
            "file": "x.jsonl",
            "row": 7,
            "truncated": False,
            "generated_text": json.dumps(labels),
            "num_input_tokens": 90,
            "num_generated_tokens": 30,
        }
    )
    assert shard_row["status"] == "ok" and shard_row["index"] == 7 and shard_row["raw_output"] is None
    assert all(shard_row[f.name] is True for f in task.fields)
    bad = postprocess_row(task)({"index": 8, "generated_text": "{oops", "num_generated_tokens": 3})
    assert bad["status"] == "invalid_output" and bad["raw_output"] == "{oops" and bad["error"]
