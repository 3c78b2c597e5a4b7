"""The GPU bench (bench/gpu.sh) has not run on a GPU yet: this runs its whole path with the tiny shape on the CPU
(tokenizer trained on the corpus, random model, prefill, the train job, the infer job) and checks the result file
that notebook 4 reads, and the FLOP counts it divides by."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from distill_runtime.bench.flops import LLAMA2_7B, linear_params, lora_params, prefill_flops_per_token
from distill_runtime.bench.machine import peak_tflops

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_gpu_bench_runs_end_to_end_on_the_tiny_shape_and_writes_its_result(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "DISTILL_PYTHON": sys.executable}
    r = subprocess.run(
        ["bash", str(REPO_ROOT / "bench" / "gpu.sh"), "--tiny", "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"result_file": str(out.resolve())}
    result = json.loads(out.read_text())

    assert result["name"] == "gpu"
    assert result["machine"]["gpu"] is None and result["machine"]["torch"]
    metrics = {m["name"]: m["value"] for m in result["metrics"]}
    assert metrics["LoRA training tokens/s (fp32, r16 all-linear)"] > 0
    assert metrics["inference records/s (transformers engine, adapter merged)"] > 0
    assert metrics["inference prompt tokens/s (transformers engine)"] > 0
    assert metrics["prefill tokens/s (forward only)"] > 0
    assert metrics["LoRA training MFU"] is None, "no GPU peak on a CPU: no MFU"

    d = result["details"]
    training, inference, prefill = d["training"], d["inference"], d["prefill"]
    assert training["error"] is None and not training["timed_out"], training
    assert training["steps"] == d["plan"]["train_steps"] == 3
    assert all(math.isfinite(x) and x > 0 for x in training["losses"])
    assert training["params_trainable"] < training["params_total"]
    assert inference["error"] is None and not inference["timed_out"], inference
    assert inference["records"] == d["plan"]["records"] == 12
    assert prefill["records"] == 12 and 0 <= prefill["padding_share"] < 1
    # The trained adapter was merged into the model the infer job ran.
    assert Path(tmp_path / "work" / "student").is_dir()
    # What notebook 4 reads (lib/src/cost/gpu-estimate.ts readGpuBench); on a CPU it ignores the file ("(CPU)").
    t = d["throughput"]
    assert t["records_per_s"] == inference["records_per_s"] and t["params_total"] == d["params_total"]
    assert t["hardware"].endswith("(CPU)")
    assert set(t) >= {"records_per_s", "mfu_2p", "params_total", "hardware"}


def test_flops_of_the_llama2_7b_shape_and_the_peak_table():
    # Per layer: q, k, v, o 4 x 4096^2 + MLP 3 x 4096 x 11008 = 202.4M; 32 layers = 6.48B (+ 2 x 131M embeddings
    # and head = Llama-2-7B's 6.74B).
    assert linear_params(LLAMA2_7B) == 32 * (4 * 4096**2 + 3 * 4096 * 11008)
    assert lora_params(LLAMA2_7B, 16) == 32 * 16 * (4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096))
    # One 100-token prompt: 2 x linear weights, causal attention over a mean of 50.5 positions, the head once.
    flops = prefill_flops_per_token(LLAMA2_7B, [100])
    expected = 2 * linear_params(LLAMA2_7B) + 4 * 32 * 4096 * 50.5 + 2 * 32000 * 4096 / 100
    assert math.isclose(flops, expected)
    assert peak_tflops("NVIDIA H100 80GB HBM3") == (989.0, "H100")
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == (312.0, "A100")
    assert peak_tflops("AMD EPYC") == (None, None)
