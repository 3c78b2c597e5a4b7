"""The train recipe: LoRA / QLoRA fine-tuning of a causal LM on teacher-labeled examples, in one readable loop.

Why a hand-written loop (nanoGPT / torchtune style) rather than HF Trainer or TRL: the whole job is ~one screen of
logic and each thing this project needs is explicit here instead of configured through callbacks:
- packing without attention across examples: examples are concatenated into rows with position_ids restarting at
  0 for each; with the 2D attention mask left out, transformers (>= 4.5x, here 5.23) turns those position_ids into a
  block-diagonal causal mask for sdpa/eager, and flash-attention-2 uses them as varlen boundaries (one flat row);
- loss on the target only, normalised by the number of target tokens in the whole optimizer step (not per micro-batch),
  and logits computed only where there is a target (the prompt is ~90% of the tokens; the lm_head is not);
- the event stream (events.py), checkpoints that resume at the exact step with the exact data order and RNG, a NaN
  guard, and prompt SIGTERM/SIGINT handling (KeyboardInterrupt; checkpoints are written atomically).
"""

from __future__ import annotations

import functools
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig
from ..errors import JobError
from ..events import emit, log
from ..model import context_length, device_and_dtype, load_model_and_tokenizer, quiet_transformers
from ..task import Example, load_task, read_examples, resolve_path
from .batches import (
    IGNORE_INDEX,
    Tokenized,
    collate,
    computed_tokens,
    pack_rows,
    plan_micro_batches,
    split_eval,
    tokenize_example,
)
from .calibration import train_margins
from .checkpoints import checkpoint_dirs, load_checkpoint, save_adapter, save_checkpoint
from .distributed import barrier, finish, pick_local_device, start, sum_gradients, sum_number
from .frozen import FrozenPrefix, layer_count
from .readout import fit_readout
from .setup import add_lora, attention_implementation, build_optimizer, memory_mb

# ---------------------------------------------------------------------------------------------------------------
# Loss


def last_hidden(model: Any, batch: dict[str, Any]) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()(
        input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
    ).last_hidden_state


def target_loss_sum(model: Any, batch: dict[str, Any], hidden: Any = None) -> tuple[Any, int]:
    """Sum of cross-entropy over the target tokens, and their count. Runs the decoder (unless its last hidden states
    are given: the frozen-layer cache's), then the lm_head only at the positions that predict a target token."""
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = last_hidden(model, batch) if hidden is None else hidden
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, targets[keep], reduction="sum"), int(keep.sum())


def evaluate(model: Any, batches: list[dict[str, Any]], hidden_of: Callable[[int, dict], Any]) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for k, batch in enumerate(batches):
            loss_sum, n = target_loss_sum(model, batch, hidden_of(k, batch))
            total += float(loss_sum)
            count += n
    model.train()
    return total / max(count, 1)


# ---------------------------------------------------------------------------------------------------------------
# The job


@dataclass
class TrainResult:
    outputs: dict[str, Any]
    metrics: dict[str, Any]
    model: Any  # the PEFT model in memory (tests compare it with the saved adapter)


def train(config: TrainConfig) -> TrainResult:
    import torch

    t_start = time.time()
    quiet_transformers()
    task = load_task(config.task_file)
    examples = read_examples(config.train_file, task, require_labels=True)
    if config.eval_file:
        train_examples = examples
        eval_examples = read_examples(config.eval_file, task, require_labels=True)[: config.max_eval_examples]
    else:
        train_examples, eval_examples = split_eval(
            examples, config.eval_fraction, config.max_eval_examples, config.seed
        )

    pick_local_device(config.device)  # under torchrun / accelerate launch (distributed.py)
    device, _ = device_and_dtype(config.device)
    world = start(device.type, config.grad_accum_steps)
    if config.optimizer == "adamw_8bit" and device.type != "cuda":  # say so before minutes of model loading
        raise JobError("config", "optimizer adamw_8bit needs a CUDA GPU (bitsandbytes)", 'use optimizer "adamw" on CPU')
    bf16 = config.bf16 if config.bf16 != "auto" else device.type == "cuda" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    quantized = config.load_in_4bit or config.load_in_8bit
    attn = attention_implementation(config, device)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model, tokenizer = load_model_and_tokenizer(
        config.base_model,
        dtype=dtype,
        device=device,
        load_in_4bit=config.load_in_4bit,
        load_in_8bit=config.load_in_8bit,
        attn_implementation=attn,
    )
    model.config.use_cache = False
    limit = context_length(model.config)
    if limit is not None and config.max_seq_len > limit:
        # Longer rows than the position embeddings cover train on garbage positions (or crash in the attention).
        raise JobError(
            "config",
            f"max_seq_len={config.max_seq_len} is longer than the context of {config.base_model} ({limit} tokens)",
            f"set max_seq_len to at most {limit}",
        )

    train_tok, skipped = _tokenize_all(tokenizer, task, train_examples, config.max_seq_len)
    eval_tok, eval_skipped = _tokenize_all(tokenizer, task, eval_examples, config.max_seq_len)
    if not train_tok:
        raise JobError(
            "data",
            f"no training example fits max_seq_len={config.max_seq_len} tokens ({skipped} too long)",
            "raise max_seq_len or shorten the records",
        )
    lengths = [len(e.input_ids) for e in train_tok]
    flat = attn == "flash_attention_2"
    plan = plan_micro_batches(lengths, config, one_flat_row=flat)
    real_tokens = sum(lengths)
    packing_efficiency = real_tokens / sum(computed_tokens(b, lengths) for b in plan)
    eval_lengths = [len(e.input_ids) for e in eval_tok]
    eval_plan = plan_micro_batches(eval_lengths, config, one_flat_row=flat)
    eval_batches = [collate(b, eval_tok, tokenizer.pad_token_id, config.loss_on) for b in eval_plan]

    micro_per_epoch = len(plan)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum_steps)
    # num_epochs 0 (with fit_readout): no LoRA step, the fitted readout is the whole training
    total_steps = config.max_steps or math.ceil(config.num_epochs * steps_per_epoch)

    model = add_lora(model, config, quantized)
    # train_layers + cache_frozen_layers: the layers below the trained ones run once per example (frozen.py); with no
    # LoRA step to come (the readout alone) nothing would read the stored states again, so none are stored
    n_layers = layer_count(model)
    caching = config.cache_frozen_layers and total_steps > 0
    n_frozen = n_layers - min(config.train_layers or n_layers, n_layers) if caching else 0
    train_cache = FrozenPrefix(model, n_frozen, lengths) if n_frozen else None
    eval_cache = FrozenPrefix(model, n_frozen, eval_lengths) if n_frozen else None
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(config, trainable)
    from transformers import get_scheduler

    scheduler = get_scheduler(
        "constant_with_warmup" if config.lr_scheduler == "constant" else config.lr_scheduler,
        optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=total_steps,
    )

    output_dir = resolve_path(config.output_dir)
    checkpoint_root = output_dir / "checkpoints"
    # Training time adds up across resumes: a checkpoint carries the seconds spent up to it (earlier sessions included).
    step, tokens_seen, resumed_from, earlier_seconds = 0, 0, None, 0.0
    existing = checkpoint_dirs(checkpoint_root) if checkpoint_root.is_dir() else []
    if config.resume and existing:
        state = load_checkpoint(existing[-1], model, optimizer, scheduler)
        if state.get("micro_per_epoch") != micro_per_epoch:
            raise JobError(
                "config",
                f"{existing[-1]} was made with a different data plan ({state.get('micro_per_epoch')} micro-batches "
                f"per epoch, now {micro_per_epoch}): the training data or batch settings changed",
                "set resume to false to start over, or restore the original train_file and batch settings",
            )
        step, tokens_seen, resumed_from = state["step"], state["tokens_seen"], state["step"]
        earlier_seconds = float(state.get("train_seconds", 0.0))
        log(f"resuming from {existing[-1]} (step {step} of {total_steps})")
    elif existing and world.main:
        log(f"resume is off: removing the old checkpoints in {checkpoint_root}")
        shutil.rmtree(checkpoint_root)
    barrier(world)  # every rank has read the checkpoint it resumes from (or none) before rank 0 removes any
    checkpoint_root.mkdir(parents=True, exist_ok=True)

    params_total = sum(p.numel() for p in model.parameters())
    emit(
        "start",
        job="train",
        config=config.model_dump(mode="json"),
        device=f"{device.type}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        params_total=params_total,
        params_trainable=sum(p.numel() for p in trainable),
        info={
            "dtype": str(dtype).removeprefix("torch."),
            "attn_implementation": attn,
            "packing": config.packing,
            "packing_efficiency": round(packing_efficiency, 4),
            # real tokens / (rows x max_seq_len): how full the packed rows are (the axolotl-style number)
            "row_fill": round(real_tokens / (len(pack_rows(lengths, config.max_seq_len)) * config.max_seq_len), 4)
            if config.packing
            else None,
            "n_train_examples": len(train_tok),
            "n_eval_examples": len(eval_tok),
            "n_skipped_too_long": skipped + eval_skipped,
            "inputs_cut": sum(t.text_cut for t in train_tok),  # texts cut to the task's student.max_input_tokens
            "tokens_per_epoch": real_tokens,
            "micro_batches_per_epoch": micro_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
            "resumed_from_step": resumed_from,
            "loss_on": config.loss_on,
            "trained_layers": min(config.train_layers or n_layers, n_layers),
            "frozen_cache_mb": train_cache.expected_mb if train_cache else None,
        },
    )

    def eval_hidden(k: int, batch: dict[str, Any]) -> Any:
        return eval_cache.hidden(eval_plan[k], batch) if eval_cache else None

    def batch_of(rows: list[list[int]]) -> dict[str, Any]:
        return on_device(collate(rows, train_tok, tokenizer.pad_token_id, config.loss_on), device)

    def hidden_of(rows: list[list[int]], batch: dict[str, Any]) -> Any:
        return train_cache.hidden(rows, batch) if train_cache else last_hidden(model, batch)

    last_saved = step if resumed_from is not None else None
    checked = False  # the frozen cache is checked against the full forward once per session, on its first use
    readout = None
    if config.fit_readout and resumed_from is None:  # a resumed run's checkpoint holds the readout already
        if train_cache is not None:
            train_cache.check(plan[0], batch_of(plan[0]))
            checked = True
        # every rank fits the same readout from the same examples (deterministic), so no broadcast is needed
        readout = fit_readout(model, tokenizer, task, train_tok, plan, batch_of, hidden_of, config.readout_l2)
        if total_steps == 0 and world.main:
            state = {"tokens_seen": 0, "micro_per_epoch": micro_per_epoch, "total_steps": 0, "train_seconds": 0.0}
            path = save_checkpoint(checkpoint_root, 0, model, optimizer, scheduler, state)
            last_saved = 0
            emit("checkpoint", step=0, path=str(path))

    model.train()
    recent_losses: list[float] = []
    window = {"loss": 0.0, "steps": 0, "tokens": 0, "samples": 0, "t0": time.time()}
    eval_loss: float | None = None
    while step < total_steps:
        micro_indices = [step * config.grad_accum_steps + k for k in range(config.grad_accum_steps)]
        micro = [
            plan[epoch_order(micro_per_epoch, config.seed, m // micro_per_epoch)[m % micro_per_epoch]]
            for m in micro_indices
        ]
        mine = world.share(micro)  # all of them in one process
        batches = [on_device(collate(b, train_tok, tokenizer.pad_token_id, config.loss_on), device) for b in mine]
        n_targets = sum_number(world, sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches), device)
        lr = scheduler.get_last_lr()[0]
        step_loss = 0.0
        for rows, batch in zip(mine, batches, strict=True):
            if train_cache is not None and not checked:
                train_cache.check(rows, batch)  # once per session: the cached path is the full forward
                checked = True
            loss_sum, _ = target_loss_sum(model, batch, train_cache.hidden(rows, batch) if train_cache else None)
            loss = loss_sum / n_targets
            if config.debug_nan_at_step == step + 1:
                loss = loss * float("nan")
            if not torch.isfinite(loss):
                raise JobError(
                    "nan",
                    f"the loss became {float(loss)} at step {step + 1}",
                    f"lower learning_rate (now {config.learning_rate:g}), or set max_grad_norm (now "
                    f"{config.max_grad_norm}); with float16 use bf16 or float32",
                )
            loss.backward()
            step_loss += float(loss.detach())
        sum_gradients(world, trainable)
        step_loss = sum_number(world, step_loss, device)
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm or float("inf"))
        if not torch.isfinite(grad_norm):
            raise JobError(
                "nan",
                f"the gradient norm became {float(grad_norm)} at step {step + 1}",
                "lower learning_rate",
            )
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        step_tokens = sum(len(train_tok[i].input_ids) for b in micro for row in b for i in row)
        tokens_seen += step_tokens
        recent_losses = (recent_losses + [step_loss])[-10:]
        window["loss"] += step_loss
        window["steps"] += 1
        window["tokens"] += step_tokens
        window["samples"] += sum(len(row) for b in micro for row in b)
        if step % config.logging_steps == 0 or step == total_steps:
            elapsed = max(time.time() - window["t0"], 1e-9)
            emit(
                "step",
                step=step,
                total_steps=total_steps,
                epoch=round(step * config.grad_accum_steps / micro_per_epoch, 4),
                loss=window["loss"] / window["steps"],
                lr=lr,
                grad_norm=float(grad_norm),
                tokens_per_s=round(window["tokens"] / elapsed, 2),
                samples_per_s=round(window["samples"] / elapsed, 3),
                memory_mb=memory_mb(device),
            )
            window = {"loss": 0.0, "steps": 0, "tokens": 0, "samples": 0, "t0": time.time()}
        evaluate_now = step == total_steps or (config.eval_steps and step % config.eval_steps == 0)
        if world.main and eval_batches and evaluate_now:
            eval_loss = evaluate(model, [on_device(b, device) for b in eval_batches], eval_hidden)
            emit("eval", step=step, eval_loss=eval_loss)
            window["t0"] = time.time()  # eval time is not training throughput
        if world.main and (step % config.save_steps == 0 or step == total_steps):
            state = {
                "tokens_seen": tokens_seen,
                "micro_per_epoch": micro_per_epoch,
                "total_steps": total_steps,
                "train_seconds": earlier_seconds + time.time() - t_start,
            }
            path = save_checkpoint(checkpoint_root, step, model, optimizer, scheduler, state)
            last_saved = step
            emit("checkpoint", step=step, path=str(path))
            window["t0"] = time.time()

    if world.main and eval_batches and eval_loss is None:  # resumed a finished run: still report where it stands
        eval_loss = evaluate(model, [on_device(b, device) for b in eval_batches], eval_hidden)
    calibration = None
    if world.main and config.calibrate:  # calibration.py: thresholds on the train margins, written beside the adapter
        unchanged = readout is not None and step == 0  # no LoRA step since the readout: its states are the model's
        known = (readout.states, readout.labels) if readout is not None and unchanged else None
        calibration = train_margins(model, tokenizer, task, train_tok, plan, batch_of, hidden_of, known)
    adapter_dir = output_dir / "adapter"
    thresholds = None
    if world.main:
        thresholds = save_adapter(adapter_dir, model, tokenizer, config, task.name, calibration)
    finish(world)
    session_s = time.time() - t_start
    runtime_s = earlier_seconds + session_s
    outputs = {"adapter_dir": str(adapter_dir), "checkpoint_dir": str(checkpoint_root / f"step-{last_saved}")}
    metrics = {
        "train_loss": sum(recent_losses) / len(recent_losses) if recent_losses else None,
        "eval_loss": eval_loss,
        "tokens_seen": tokens_seen,
        "steps": step,
        "runtime_s": round(runtime_s, 2),  # every session's, up to the checkpoint it resumed from
        "session_runtime_s": round(session_s, 2),  # this process's alone
        "packing_efficiency": round(packing_efficiency, 4),
        "inputs_cut": sum(t.text_cut for t in train_tok),  # texts cut to the task's student.max_input_tokens
        "calibration_thresholds": thresholds,
        "readout": readout.summary if readout is not None else None,
    }
    emit("done", job="train", runtime_s=round(session_s, 3), outputs=outputs, metrics=metrics)
    return TrainResult(outputs, metrics, model)


@functools.lru_cache(maxsize=4)
def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The micro-batch order of an epoch: a permutation fixed by (seed, epoch), so resuming replays it exactly."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def _tokenize_all(tokenizer: Any, task: Any, examples: list[Example], max_len: int) -> tuple[list[Tokenized], int]:
    kept, skipped = [], 0
    for example in examples:
        tok = tokenize_example(tokenizer, task, example)
        if len(tok.input_ids) > max_len:
            skipped += 1  # cutting it would cut the target: the model would learn to stop mid-JSON
            continue
        kept.append(tok)
    if skipped:
        log(f"skipped {skipped} example(s) longer than max_seq_len={max_len} tokens")
    cut = sum(t.text_cut for t in kept)
    if cut:
        limit = task.student.max_input_tokens
        log(f"{cut} of {len(kept)} example texts cut to student.max_input_tokens={limit} tokens")
    return kept, skipped


def on_device(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}
