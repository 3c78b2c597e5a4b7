"""The GPU bench's pieces: its data and tokenizer, the random model, the prefill measurement, and our jobs run
under a deadline with their events summarised."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..task import project_root
from .flops import Shape, attention_flops, linear_params, mfu, prefill_flops_per_token


def recipe_texts(n: int, max_chars: int, seed: int = 0) -> list[str]:
    """n real recipes (title + body) from the shipped corpus, in a seeded order, each cut at max_chars."""
    root = project_root() / "data" / "recipes"
    files = sorted((root / "open-recipe-archive" / "english-original").glob("*.jsonl.gz"))
    files += sorted((root / "public-domain-recipes").glob("*.jsonl.gz"))
    texts: list[str] = []
    for file in files:
        with gzip.open(file, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                body = (r.get("body") or "").strip()
                if body:
                    texts.append(f"{r.get('title') or ''}\n\n{body}"[:max_chars])
    if not texts:
        raise SystemExit(f"no recipes found under {root}: the bench needs the shipped corpus (data/recipes)")
    random.Random(seed).shuffle(texts)
    return (texts * (n // len(texts) + 1))[:n]


def build_tokenizer(texts: list[str], vocab_size: int, out: Path) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, with Llama-2's special tokens and BOS added to every prompt."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>", add_bos_token=True
    )
    fast.save_pretrained(out)
    return fast


def build_model(shape: Shape, tokenizer: Any, device: Any, dtype: Any, out: Path) -> Any:
    """A randomly initialised Llama of `shape`, made directly on `device` in `dtype`, saved to `out` (+ tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=shape.context,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model


def model_folder_root(model_bytes: int) -> Path:
    """/dev/shm when it has room (saving and loading 13 GB is then memory speed), else the temp folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 1.3 * model_bytes:
        return shm
    return Path(tempfile.gettempdir())


def measure_prefill(
    model: Any, prompts: list[list[int]], pad_id: int, batch_size: int, device: Any, deadline: float
) -> dict[str, Any]:
    """Forward passes over length-sorted, left-padded batches, logits at the last position only. One warm-up batch."""
    import torch

    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]

    def forward(batch: list[int]) -> int:
        width = max(len(prompts[i]) for i in batch)
        ids = torch.tensor([[pad_id] * (width - len(prompts[i])) + prompts[i] for i in batch], device=device)
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in batch], device=device)
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask, logits_to_keep=1, use_cache=False)
        return width * len(batch)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.eval()
    forward(batches[0])
    sync()
    real = computed = done = 0
    t0 = time.perf_counter()
    for k, batch in enumerate(batches):
        if k > 0 and time.perf_counter() > deadline:  # at least one timed batch, however late
            break
        computed += forward(batch)
        real += sum(len(prompts[i]) for i in batch)
        done += len(batch)
    sync()
    seconds = time.perf_counter() - t0
    return {
        "records": done,
        "seconds": round(seconds, 3),
        "real_tokens": real,
        "computed_tokens": computed,
        "tokens_per_s": round(real / seconds, 1),
        "records_per_s": round(done / seconds, 2),
        "padding_share": round(1 - real / max(computed, 1), 4),
        "batch_size": batch_size,
    }


def run_job(job: str, config: dict[str, Any], work: Path, deadline: float) -> dict[str, Any]:
    """`python -m distill_runtime JOB` with its events collected; stopped (SIGTERM, then SIGKILL) at the deadline."""
    config_file = work / f"{job}-config.json"
    config_file.write_text(json.dumps(config, indent=2))
    return run_events(
        [sys.executable, "-m", "distill_runtime", job, "--config", str(config_file)], work / f"{job}.log", deadline
    )


def run_events(cmd: list[str], log_file: Path, deadline: float) -> dict[str, Any]:
    """Run a command that prints JSON-lines events; collect them until it ends or the deadline passes."""
    events: list[dict[str, Any]] = []
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with log_file.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    events.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=max(deadline - time.perf_counter(), 1))
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(signal.SIGTERM)  # the job turns it into a `cancelled` error event
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
    error = next((e for e in events if e["event"] == "error"), None)
    return {
        "events": events,
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "error": None if error is None or timed_out else error["message"],
        "log": str(log_file),
    }


def summarize_training(run: dict[str, Any], flops_per_token: float, peak: float | None) -> dict[str, Any]:
    steps = [e for e in run["events"] if e["event"] == "step"]
    steady = steps[1:] or steps  # step 1 pays for warm-up (allocator, kernels' first launch)
    done = next((e for e in run["events"] if e["event"] == "done"), None)
    start = next((e for e in run["events"] if e["event"] == "start"), None)
    if not steady:
        return {"steps": 0, "timed_out": run["timed_out"], "error": run["error"], "log": run["log"]}
    tokens_per_s = sum(e["tokens_per_s"] for e in steady) / len(steady)
    return {
        "steps": len(steps),
        "tokens_per_s": round(tokens_per_s, 1),
        "samples_per_s": round(sum(e["samples_per_s"] for e in steady) / len(steady), 2),
        "s_per_step": round((steady[-1]["time"] - steps[0]["time"]) / max(len(steady) - 1, 1), 3)
        if len(steps) > 1
        else None,
        "peak_memory_gib": round(max(e.get("memory_mb") or 0 for e in steps) / 1024, 2),
        "losses": [round(e["loss"], 4) for e in steps],
        "flops_per_token": round(flops_per_token),
        "mfu": mfu(tokens_per_s * flops_per_token, peak),
        "params_total": start["params_total"] if start else None,
        "params_trainable": start["params_trainable"] if start else None,
        "device": start["device"] if start else None,
        "info": start["info"] if start else None,
        "adapter_dir": done["outputs"]["adapter_dir"] if done else None,
        "timed_out": run["timed_out"],
        "error": run["error"],
    }


def summarize_inference(
    run: dict[str, Any], shape: Shape, prompt_lengths: list[int], params_total: int, peak: float | None
) -> dict[str, Any]:
    done = next((e for e in run["events"] if e["event"] == "done"), None)
    progress = [e for e in run["events"] if e["event"] == "progress"]
    if done is None:
        last = progress[-1] if progress else None
        return {
            "records": last["done"] if last else 0,
            "records_per_s": last["records_per_s"] if last else None,
            "timed_out": run["timed_out"],
            "error": run["error"],
            "log": run["log"],
        }
    m = done["metrics"]
    seconds = m["generation_s"]
    new_tokens = m["output_tokens"]
    mean_prompt = sum(prompt_lengths) / len(prompt_lengths)
    mean_new = new_tokens / max(m["records"], 1)
    # Each generated token: the decoder's linear layers, attention over prompt + half the new tokens, the LM head.
    decode_flops = (
        2.0 * linear_params(shape)
        + attention_flops(shape, mean_prompt + mean_new / 2)
        + 2.0 * shape.vocab * shape.hidden
    )
    flops = m["input_tokens"] * prefill_flops_per_token(shape, prompt_lengths) + new_tokens * decode_flops
    return {
        "records": m["records"],
        "records_per_s": m["records_per_s"],
        "prompt_tokens_per_s": round(m["input_tokens"] / seconds, 1),
        "generated_tokens_per_s": m["tokens_per_s"],
        "input_tokens": m["input_tokens"],
        "output_tokens": new_tokens,
        "generated_per_record": round(mean_new, 1),
        "seconds": seconds,
        "batch_size": m["batch_size"],
        "mfu": mfu(flops / seconds, peak),
        "mfu_2p": mfu(2.0 * params_total * (m["input_tokens"] + new_tokens) / seconds, peak),
        "timed_out": run["timed_out"],
        "error": run["error"],
    }
