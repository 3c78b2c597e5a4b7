"""GPU bench: bf16 LoRA training and batch inference of a Llama-2-7B-shaped model, through our own jobs.

    python -m distill_runtime.bench.gpu [--tiny] [--out bench/results/gpu.json]      (bench/gpu.sh wraps this)

Made for a lent GPU machine that has torch, transformers, peft and accelerate but no network, no vLLM, bitsandbytes
or flash-attn, and maybe not this package installed (PYTHONPATH=python-runtime is enough). Nothing is downloaded:
- a BPE tokenizer is trained on the shipped recipe corpus (the `tokenizers` library, seconds), and a model of
  Llama-2-7B's shape (32 layers, hidden 4096, MLP 11008, 32 heads, vocabulary 32000) is built with random weights
  directly on the GPU in bf16 and saved once (to /dev/shm when it fits);
- classification examples are real recipes in the task's prompt/target format, with seeded random labels (speed does
  not depend on what the labels say);
- prefill: forward passes over the prompts in length-sorted batches (only the last position's logits), in-process;
- training: the train job (`python -m distill_runtime train`, training/recipe.py) for N steps of bf16 LoRA;
- inference: the infer job with the transformers engine over the same prompts (the trained adapter merged in
  memory). Random weights never close the JSON, so every record generates max_new_tokens: decode is a worst case.
Each phase is time-boxed (--budget-s, default 420 s, so the whole run fits 8 minutes on an H100); a job past its
deadline is stopped and measured on the steps it finished. `--tiny` builds a tiny model of the same family for a CPU
check (what the tests run). Writes a bench result (bench/results/*.json shape) with the hardware and versions.

FLOPs: counted per token from the shapes (the numbers in the result say which): a forward pass is 2 x the decoder's
linear weights + causal attention (4 x layers x hidden x mean context); LoRA training is forward + the activation
gradients (4 x linear weights; frozen weights get no weight gradient) + 6 x the adapter weights + 3 x the attention,
and the LM head only where our loop computes it (target positions). MFU = those FLOP/s over the GPU's dense bf16 peak
(data/hardware.json). `mfu_2p` uses 2 x all parameters per processed token: notebook 4's yardstick for pricing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..task import encode_prompt, encode_target, load_task, project_root, render_prompt, render_target
from .flops import LLAMA2_7B, TINY, Shape, linear_params, lora_train_flops_per_token, mfu, prefill_flops_per_token
from .machine import machine_info, peak_tflops
from .phases import (
    build_model,
    build_tokenizer,
    measure_prefill,
    model_folder_root,
    recipe_texts,
    run_job,
    summarize_inference,
    summarize_training,
)


@dataclass(frozen=True)
class Plan:
    """What to run: sizes and step counts. The GPU defaults fit 8 minutes on an H100 with room to spare."""

    shape: Shape
    records: int  # classification prompts for prefill and inference
    train_examples: int
    train_steps: int
    max_seq_len: int
    micro_batch_size: int
    grad_accum_steps: int
    infer_batch_size: int
    prefill_batch_size: int
    max_text_chars: int
    tokenizer_texts: int


GPU_PLAN = Plan(
    LLAMA2_7B,
    records=256,
    train_examples=400,
    train_steps=16,
    max_seq_len=2048,
    micro_batch_size=2,
    grad_accum_steps=4,
    infer_batch_size=64,
    prefill_batch_size=32,
    max_text_chars=2000,
    tokenizer_texts=4000,
)
TINY_PLAN = Plan(
    TINY,
    records=12,
    train_examples=40,
    train_steps=3,
    max_seq_len=512,
    micro_batch_size=2,
    grad_accum_steps=1,
    infer_batch_size=8,
    prefill_batch_size=8,
    max_text_chars=600,
    tokenizer_texts=300,
)


def run_bench(plan: Plan, out_file: Path, work: Path, budget_s: float, device_name: str) -> dict[str, Any]:
    import torch

    t_start = time.perf_counter()
    deadline = t_start + budget_s
    device = torch.device(device_name)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    machine = machine_info()
    peak, peak_match = peak_tflops(machine.get("gpu"))
    task = load_task("recipes")
    shape = plan.shape
    phases: dict[str, float] = {}

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 1)
        print(
            f"gpu bench: {name} done in {phases[name]} s ({now - t_start:.0f} s of {budget_s:.0f})",
            file=sys.stderr,
            flush=True,
        )
        return now

    t = time.perf_counter()
    texts = recipe_texts(max(plan.tokenizer_texts, plan.train_examples + plan.records), plan.max_text_chars)
    model_dir = work / "model"
    tokenizer = build_tokenizer(texts[: plan.tokenizer_texts], shape.vocab, model_dir)
    rng = random.Random(0)
    train_texts = texts[: plan.train_examples]
    infer_texts = texts[plan.train_examples : plan.train_examples + plan.records]
    examples = [{"text": x, "labels": {f: rng.random() < 0.5 for f in task.field_names}} for x in train_texts]
    train_file = work / "train.jsonl"
    train_file.write_text("".join(json.dumps(e) + "\n" for e in examples))
    corpus_file = work / "corpus.jsonl"
    corpus_file.write_text("".join(json.dumps({"id": f"r{i}", "text": x}) + "\n" for i, x in enumerate(infer_texts)))
    prompts = [encode_prompt(tokenizer, render_prompt(task, x)) for x in infer_texts]
    train_prompt = [len(encode_prompt(tokenizer, render_prompt(task, e["text"]))) for e in examples]
    train_target = [len(encode_target(tokenizer, render_target(task, e["labels"]))) for e in examples]
    t = mark("data and tokenizer", t)

    model = build_model(shape, tokenizer, device, dtype, model_dir)
    params_total = sum(p.numel() for p in model.parameters())
    t = mark("model built and saved", t)
    prefill = measure_prefill(
        model, prompts, tokenizer.pad_token_id, plan.prefill_batch_size, device, deadline=t_start + 0.25 * budget_s
    )
    prefill_fpt = prefill_flops_per_token(shape, [len(p) for p in prompts])
    prefill.update(
        flops_per_token=round(prefill_fpt),
        mfu=mfu(prefill["tokens_per_s"] * prefill_fpt, peak),
        mfu_2p=mfu(prefill["tokens_per_s"] * 2.0 * params_total, peak),
    )
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    t = mark("prefill", t)

    lengths = [p + q for p, q in zip(train_prompt, train_target, strict=True)]
    train_config = {
        "base_model": str(model_dir),
        "train_file": str(train_file),
        "output_dir": str(work / "student"),
        "preset": "none",
        "max_steps": plan.train_steps,
        "max_seq_len": plan.max_seq_len,
        "micro_batch_size": plan.micro_batch_size,
        "grad_accum_steps": plan.grad_accum_steps,
        "packing": True,
        "eval_fraction": 0,
        "save_steps": 10_000,
        "logging_steps": 1,
        "warmup_steps": 0,
        "device": device.type,
        "bf16": device.type == "cuda",
        "gradient_checkpointing": False,
    }
    r = 16  # data/training.json's default lora_r, which the config above does not change
    train_fpt = lora_train_flops_per_token(shape, lengths, sum(train_target) / sum(lengths), r)
    # Training may use what inference does not need: inference gets at least 30% of the budget left.
    training = summarize_training(run_job("train", train_config, work, deadline - 0.3 * budget_s), train_fpt, peak)
    t = mark("training", t)

    infer_config: dict[str, Any] = {
        "model": str(model_dir),
        "task_file": "recipes",
        "input_file": str(corpus_file),
        "output_file": str(work / "predictions.jsonl"),
        "engine": "transformers",
        "batch_size": plan.infer_batch_size,
        "device": device.type,
    }
    if training.get("adapter_dir"):
        infer_config.update(adapter_dir=training["adapter_dir"], merge=True)
    inference = summarize_inference(
        run_job("infer", infer_config, work, deadline), shape, [len(p) for p in prompts], params_total, peak
    )
    mark("inference", t)
    wall = round(time.perf_counter() - t_start, 1)
    return make_result(
        plan, machine, peak, peak_match, params_total, prefill, training, inference, phases, wall, budget_s, out_file
    )


def make_result(
    plan: Plan,
    machine: dict[str, Any],
    peak: float | None,
    peak_match: str | None,
    params_total: int,
    prefill: dict[str, Any],
    training: dict[str, Any],
    inference: dict[str, Any],
    phases: dict[str, float],
    wall: float,
    budget_s: float,
    out_file: Path,
) -> dict[str, Any]:
    where = machine["gpu"] or f"{machine['cpu']} (CPU)"
    precision = "bf16" if machine["gpu"] else "fp32"  # run_bench: bf16 on CUDA, fp32 for the CPU check
    pct = lambda x: None if x is None else round(100 * x, 1)  # noqa: E731
    metrics = [
        {
            "name": f"LoRA training tokens/s ({precision}, r16 all-linear)",
            "value": training.get("tokens_per_s"),
            "unit": "tokens/s",
            "note": f"{plan.micro_batch_size} x {plan.max_seq_len} packed tokens x {plan.grad_accum_steps} "
            f"accumulation per step, {training.get('steps', 0)} steps (rate over steps 2..N), "
            "no gradient checkpointing",
        },
        {
            "name": "LoRA training MFU",
            "value": pct(training.get("mfu")),
            "unit": "% of peak",
            "note": f"{training.get('flops_per_token', 0) / 1e9:.1f} GFLOP per token (forward + activation gradients)",
        },
        {
            "name": "LoRA training peak GPU memory" if machine["gpu"] else "LoRA training peak RSS",
            "value": training.get("peak_memory_gib"),
            "unit": "GiB",
        },
        {
            "name": "inference records/s (transformers engine, adapter merged)",
            "value": inference.get("records_per_s"),
            "unit": "records/s",
            "note": f"batch {plan.infer_batch_size}, {inference.get('records', 0)} recipes, "
            f"{inference.get('generated_per_record', '?')} new tokens each (random weights: no early stop)",
        },
        {
            "name": "inference prompt tokens/s (transformers engine)",
            "value": inference.get("prompt_tokens_per_s"),
            "unit": "tokens/s",
        },
        {
            "name": "inference MFU (transformers engine)",
            "value": pct(inference.get("mfu")),
            "unit": "% of peak",
            "note": "prefill + decode FLOPs over generation time",
        },
        {
            "name": "prefill tokens/s (forward only)",
            "value": prefill["tokens_per_s"],
            "unit": "tokens/s",
            "note": f"batch {prefill['batch_size']}, length-sorted, padding {pct(prefill['padding_share'])}%",
        },
        {
            "name": "prefill MFU",
            "value": pct(prefill["mfu"]),
            "unit": "% of peak",
            "note": f"2 x params convention (notebook 4's roofline): {pct(prefill['mfu_2p'])}%",
        },
        {
            "name": "wall time, whole bench",
            "value": wall,
            "unit": "s",
            "goal": f"<= {budget_s + 60:.0f}",
            "met": wall <= budget_s + 60,
        },
    ]
    notes = [
        f"{plan.shape.name}: {_count(params_total)} parameters, on {where}; dense bf16 peak "
        + (f'{peak:g} TFLOP/s (data/hardware.json entry "{peak_match}").' if peak else "unknown: no MFU."),
        "Weights are random and the tokenizer is a BPE trained on the shipped recipes (no network): speed is that of "
        "the shape, not of a trained model; every record decodes max_new_tokens, a worst case for decode.",
    ]
    for name, phase in (("training", training), ("inference", inference)):
        if phase.get("timed_out"):
            notes.append(f"The {name} phase reached its time box and was stopped; its figures cover what finished.")
        if phase.get("error"):
            notes.append(f"The {name} job failed: {phase['error']} (log: {phase.get('log')}).")
    result = {
        "name": out_file.stem,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "machine": machine,
        "metrics": metrics,
        "notes": notes,
        "details": {
            "shape": asdict(plan.shape),
            "plan": {k: v for k, v in asdict(plan).items() if k != "shape"},
            "params_total": params_total,
            "peak_bf16_tflops": peak,
            "prefill": prefill,
            "training": training,
            "inference": inference,
            "phases_s": phases,
            "wall_s": wall,
            "budget_s": budget_s,
            # What notebook 4 reads (lib/src/cost/throughput.ts) to price this shape on this GPU as measured.
            "throughput": {
                "records_per_s": inference.get("records_per_s"),
                "tokens_per_s": inference.get("generated_tokens_per_s"),
                "prompt_tokens_per_s": inference.get("prompt_tokens_per_s"),
                "mfu_2p": inference.get("mfu_2p"),
                "prefill_mfu_2p": prefill["mfu_2p"],
                "params_total": params_total,
                "hardware": where,
            },
        },
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_runtime.bench.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model, a few steps: the CPU check")
    parser.add_argument(
        "--out", help="result file (default bench/results/gpu.json; with --tiny bench/tmp/gpu-tiny.json)"
    )
    parser.add_argument("--work", help="folder for the model, data and job logs (default: a temp folder, removed)")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="time box for the whole run (default 420; tiny 300)"
    )
    parser.add_argument("--train-steps", type=int, help="override the plan's training steps")
    parser.add_argument("--records", type=int, help="override the plan's inference records")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not args.tiny and device != "cuda":
        print("the 7B-shaped bench needs a CUDA GPU; on a CPU run it with --tiny", file=sys.stderr)
        return 2
    plan = TINY_PLAN if args.tiny else GPU_PLAN
    overrides = {k: v for k, v in (("train_steps", args.train_steps), ("records", args.records)) if v}
    plan = Plan(**{**asdict(plan), "shape": plan.shape, **overrides})
    default_out = "bench/tmp/gpu-tiny.json" if args.tiny else "bench/results/gpu.json"
    out_file = Path(args.out) if args.out else project_root() / default_out
    budget = args.budget_s or (300.0 if args.tiny else 420.0)
    bytes_per_param = 2 if device == "cuda" else 4
    est_bytes = bytes_per_param * (linear_params(plan.shape) + 2 * plan.shape.vocab * plan.shape.hidden)
    work = (
        Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu-bench-", dir=model_folder_root(est_bytes)))
    )
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run_bench(plan, out_file, work, budget, device)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    for m in result["metrics"]:
        print(f"{m['name']}: {m['value']} {m['unit']}", file=sys.stderr)
    print(json.dumps({"result_file": str(out_file.resolve())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
