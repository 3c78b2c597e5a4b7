"""The label-corpus job end to end on the tiny model (real processes, CPU): every input row in exactly one shard, bad
rows counted and recorded, the manifest, resume after kill -9 at several instants without recomputing a finished
shard, and the refusals (another student or corpus in the same folder, a second job on the folder)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import events_from, make_recipe

from distill_runtime.corpus_job.config import load_config
from distill_runtime.corpus_job.manifest import merge_ranges, subtract, to_ranges
from distill_runtime.errors import JobError

FIELDS = ("has_non_fish_meat", "requires_oven", "requires_stove", "cook_time_over_30_mins", "main_dish")


def write_corpus(path: Path, n: int, *, seed: int = 0, bad: bool = True) -> Path:
    """n JSONL rows of synthetic recipes; with bad, row 3 has an empty text, row 5 an over-long one, row 7 is not
    JSON, and row 9 repeats row 1's id."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text, _ = make_recipe(rng, i)
            row: dict[str, Any] = {"id": f"rec-{i}", "text": text}
            if bad and i == 3:
                row["text"] = "   "
            if bad and i == 5:
                row["text"] = "salt " * 1000
            if bad and i == 9:
                row["id"] = "rec-1"
            f.write(("{not json" if bad and i == 7 else json.dumps(row)) + "\n")
    return path


def job_config(model: Path, corpus: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "model": str(model),
        "corpus": [str(corpus)],
        "output_dir": str(out),
        "records_per_shard": 10,
        "batch_size": 1,  # no padding: a row's output never depends on which rows share its batch
        "max_new_tokens": 4,
        "max_chars": 300,
        "max_record_chars": 2000,
        "gpu_usd_per_hour": 2.0,
        "progress_every_s": 0.2,
        **overrides,
    }


def start_job(config: dict[str, Any], tmp_path: Path, name: str = "config.json") -> subprocess.Popen[str]:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return subprocess.Popen(
        [sys.executable, "-m", "distill_runtime", "label-corpus", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_job(config: dict[str, Any], tmp_path: Path) -> tuple[int, list[dict[str, Any]], str]:
    proc = start_job(config, tmp_path)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, events_from(out), err


def read_shards(out: Path) -> dict[str, list[Any]]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows: dict[str, list[Any]] = {}
    for shard in manifest["shards"]:
        table = pq.read_table(out / shard["file"]).to_pydict()
        for key, values in table.items():
            rows.setdefault(key, []).extend(values)
    return rows


def by_index(rows: dict[str, list[Any]]) -> dict[int, tuple[Any, ...]]:
    keys = ["id", "status", *FIELDS, "raw_output", "error"]
    return {i: tuple(rows[k][n] for k in keys) for n, i in enumerate(rows["index"])}


def test_ranges_helpers() -> None:
    assert to_ranges([5, 1, 2, 3, 7]) == [(1, 4), (5, 6), (7, 8)]
    assert merge_ranges([(5, 9), (0, 2), (2, 4)]) == [(0, 4), (5, 9)]
    assert subtract((0, 10), [(2, 4), (6, 8)]) == [(0, 2), (4, 6), (8, 10)]
    assert subtract((3, 5), [(0, 10)]) == []
    with pytest.raises(ValueError, match="twice"):
        to_ranges([1, 1])


def test_config_errors_name_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="exactly one of model"):
        load_config({"corpus": ["x.jsonl"], "output_dir": "o"})
    with pytest.raises(JobError, match="unknown columns"):
        load_config({"model": "m", "corpus": ["x.jsonl"], "output_dir": "o", "columns": {"txt": "body"}})


def test_every_row_lands_in_exactly_one_shard_and_bad_rows_are_recorded(tiny_model_dir, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 25)
    out = tmp_path / "out"
    rc, events, err = run_job(job_config(tiny_model_dir, corpus, out), tmp_path)
    assert rc == 0, err
    rows = read_shards(out)
    assert sorted(rows["index"]) == list(range(25))
    status = dict(zip(rows["index"], rows["status"], strict=True))
    error = dict(zip(rows["index"], rows["error"], strict=True))
    assert status[3] == "skipped" and "no text" in error[3]
    assert status[5] == "too_long" and "max_record_chars" in error[5]
    assert status[7] == "skipped" and error[7]
    assert status[9] == "skipped" and "duplicate id" in error[9]
    labeled = [i for i in range(25) if i not in (3, 5, 7, 9)]
    assert all(status[i] in ("ok", "invalid_output") for i in labeled)
    # The untrained model writes garbage: every failure keeps its raw output and the parser's reason.
    for n in range(len(rows["index"])):
        if rows["status"][n] == "invalid_output":
            assert rows["raw_output"][n] is not None and rows["error"][n]
    done = [e for e in events if e["event"] == "done"][-1]
    metrics = done["metrics"]
    assert metrics["done"] == metrics["total"] == 25 and metrics["complete"]
    assert metrics["counts"]["skipped"] == 3 and metrics["counts"]["too_long"] == 1
    assert metrics["counts"]["ok"] + metrics["counts"]["invalid_output"] == 21
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["done"] == 25 and progress[-1]["total"] == 25
    assert progress[-1]["records_per_s"] > 0 and progress[-1]["eta_s"] == 0
    assert progress[-1]["projected_cost_usd"] is not None and progress[-1]["projected_cost_usd"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["prepared"]["complete"] and manifest["prepared"]["rows"] == 25
    assert sum(s["rows"] for s in manifest["shards"]) == 25 and len(manifest["shards"]) == 3

    # A rerun has nothing left: no shard is rewritten.
    before = {p.name: p.stat().st_mtime_ns for p in (out / "labels").iterdir()}
    rc, events, err = run_job(job_config(tiny_model_dir, corpus, out), tmp_path)
    assert rc == 0, err
    assert {p.name: p.stat().st_mtime_ns for p in (out / "labels").iterdir()} == before

    # Another student into the same folder is refused, saying what changed.
    rc, events, err = run_job(job_config(tiny_model_dir, corpus, out, max_new_tokens=5), tmp_path)
    assert rc == 1
    error_event = [e for e in events if e["event"] == "error"][0]
    assert "another student" in error_event["message"] and "max_new_tokens" in error_event["message"]


def test_kill_9_at_several_instants_then_resume_gives_every_row_once(tiny_model_dir, tmp_path: Path) -> None:
    # Enough rows that the job is still labeling at the third kill on a quiet machine too (60 finished first there).
    rows_in = 600
    corpus = write_corpus(tmp_path / "corpus.jsonl", rows_in)
    reference = tmp_path / "reference"
    rc, _, err = run_job(job_config(tiny_model_dir, corpus, reference), tmp_path)
    assert rc == 0, err
    expected = by_index(read_shards(reference))

    out = tmp_path / "out"
    config = job_config(tiny_model_dir, corpus, out)
    finished: dict[str, int] = {}  # shard file -> mtime, for shards listed before a kill
    kills = 0
    # The first kill lands during start-up or prepare; the others once labeling moves, after a random extra delay
    # (mid-batch, mid-write, or between a shard's rename and its listing).
    rng = random.Random(0)
    for attempt in range(4):
        proc = start_job(config, tmp_path)
        assert proc.stdout is not None
        if attempt == 0:
            time.sleep(0.5)
        else:
            base = None
            for line in proc.stdout:
                if line.startswith('{"event": "progress"'):
                    done = json.loads(line)["done"]
                    base = done if base is None else base
                    if done > base:
                        break
            time.sleep(rng.uniform(0, 1.5))
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        kills += 1
        manifest_path = out / "manifest.json"
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text())
            for shard in manifest["shards"]:
                mtime = (out / shard["file"]).stat().st_mtime_ns
                assert finished.setdefault(shard["file"], mtime) == mtime, f"{shard['file']} was rewritten"
    assert kills >= 3
    rc, events, err = run_job(config, tmp_path)
    assert rc == 0, err
    rows = read_shards(out)
    assert sorted(rows["index"]) == list(range(rows_in)), "every input row exactly once"
    assert by_index(rows) == expected, "the same labels as the uninterrupted run"
    for file, mtime in finished.items():
        assert (out / file).stat().st_mtime_ns == mtime, f"{file} was recomputed"
    assert not [p for p in (out / "labels").iterdir() if p.name.startswith(".tmp")]
    assert [e for e in events if e["event"] == "done"][-1]["metrics"]["complete"]


def test_a_second_job_on_the_same_folder_is_refused(tiny_model_dir, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 60, bad=False)
    config = job_config(tiny_model_dir, corpus, tmp_path / "out")
    first = start_job(config, tmp_path, "first.json")
    try:
        deadline = time.time() + 120
        while not (tmp_path / "out" / "manifest.json").exists() and time.time() < deadline:
            time.sleep(0.2)
        rc, events, _ = run_job(config, tmp_path)
        assert rc == 1
        assert "in use by another label-corpus job" in [e for e in events if e["event"] == "error"][0]["message"]
    finally:
        first.kill()
        first.wait()


def test_projected_cost_of_a_small_fast_job_is_not_rounded_to_zero() -> None:
    # 12 rows at ~1000 rows/s on a $1.14/h GPU cost ~4e-6 USD: four decimals would print 0 (a CI failure once).
    from distill_runtime.corpus_job.rows import Progress

    progress = Progress(total=12, done=0, workers=1, usd_per_hour=1.14, every_s=1e9)
    progress.add(12)
    progress.started -= 0.012
    cost = progress.figures()["projected_cost_usd"]
    assert cost is not None and 0 < cost < 1e-4
