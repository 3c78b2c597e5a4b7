"""Our train loop against TRL's SFTTrainer (the substrate under axolotl and Unsloth), same config, one impl per process.

    python -m distill_runtime.bench.trl_compare IMPL --config train-config.json --out DIR

IMPL is one of
- ours        training/recipe.py's train() as the train job runs it;
- trl-same    SFTTrainer fed exactly our loop's packed rows, in our step order, from the same LoRA init (pre-tokenized
              rows with completion_mask and seq_lengths, a sequential sampler): its losses must match ours;
- trl-native  SFTTrainer as users run it: prompt/completion strings, packing=True (TRL's bfd packing, padding-free),
              completion-only loss, peft_config; TRL tokenizes, packs and shuffles itself.
The config is a train job config (data/training.json's defaults and presets apply); max_steps sets the steps of all
three; eval_fraction must be 0 (eval time is not training time). Writes DIR/summary-IMPL.json and prints it as the last
stdout line: tokens/s over steps 2..N (step 1 pays one-time warm-up), tokens per CPU-second (robust to other processes
on a shared machine), per-step losses and grad norms, peak RSS. Needs the bench extra: pip install -e
'python-runtime[bench]' (npm run bench installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from ..config import TrainConfig, load_train_config, read_config_file
from ..errors import JobError

IMPLS = ("ours", "trl-same", "trl-native")


class StepClock:
    """Wall and CPU seconds, real tokens, loss and grad norm of each optimizer step."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.tokens: list[int] = []
        self.losses: list[float] = []
        self.grad_norms: list[float | None] = []

    def summary(self, impl: str, **extra: Any) -> dict[str, Any]:
        import torch

        steady = slice(1, None) if len(self.wall) > 1 else slice(None)
        wall, cpu, tokens = sum(self.wall[steady]), sum(self.cpu[steady]), sum(self.tokens[steady])
        return {
            "impl": impl,
            "steps": len(self.losses),
            "tokens_per_s": round(tokens / wall, 2),
            "tokens_per_cpu_s": round(tokens / cpu, 2),
            "s_per_step": round(wall / len(self.wall[steady]), 3),
            "step_wall_s": [round(x, 3) for x in self.wall],
            "step_cpu_s": [round(x, 3) for x in self.cpu],
            "step_tokens": self.tokens,
            "losses": [round(x, 6) for x in self.losses],
            "final_loss": round(self.losses[-1], 6),
            "grad_norms": [None if g is None else round(g, 6) for g in self.grad_norms],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "torch_threads": torch.get_num_threads(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            **extra,
        }


def our_step_plan(
    config: TrainConfig, tokenizer: Any, task: Any, steps: int
) -> tuple[list[Any], list[list[list[int]]]]:
    """Our loop's tokenized examples and its micro-batches in step order (the same calls train() makes)."""
    from ..task import read_examples
    from ..training.batches import plan_micro_batches, split_eval
    from ..training.recipe import _tokenize_all, epoch_order

    examples = read_examples(config.train_file, task, require_labels=True)
    train_examples, _ = split_eval(examples, config.eval_fraction, config.max_eval_examples, config.seed)
    tokenized, _ = _tokenize_all(tokenizer, task, train_examples, config.max_seq_len)
    plan = plan_micro_batches([len(t.input_ids) for t in tokenized], config, one_flat_row=False)
    n = len(plan)
    micro = [plan[epoch_order(n, config.seed, m // n)[m % n]] for m in range(steps * config.grad_accum_steps)]
    return tokenized, micro


def run_ours(config: TrainConfig, out: Path) -> dict[str, Any]:
    from ..model import load_tokenizer, resolve_base_model
    from ..task import load_task
    from ..training import recipe
    from ..training.batches import labels_for

    # Per-step wall and CPU time: stamp each start/step event as the loop emits it (logging_steps is 1).
    marks: list[tuple[str, float, float, dict[str, Any]]] = []
    emit = recipe.emit

    def stamped_emit(event: str, **fields: Any) -> None:
        if event in ("start", "step"):
            marks.append((event, time.perf_counter(), time.process_time(), fields))
        emit(event, **fields)

    recipe.emit = stamped_emit
    t0 = time.perf_counter()
    try:
        with (out / "events-ours.jsonl").open("w") as f, contextlib.redirect_stdout(f):
            result = recipe.train(config)
    finally:
        recipe.emit = emit
    runtime_s = time.perf_counter() - t0
    tokenized, micro = our_step_plan(
        config,
        load_tokenizer(resolve_base_model(config.base_model)),
        load_task(config.task_file),
        config.max_steps or 0,
    )
    clock = StepClock()
    for k, ((_, t_prev, c_prev, _), (_, t, c, fields)) in enumerate(zip(marks, marks[1:], strict=False)):
        clock.wall.append(t - t_prev)
        clock.cpu.append(c - c_prev)
        step_micro = micro[k * config.grad_accum_steps : (k + 1) * config.grad_accum_steps]
        clock.tokens.append(sum(len(tokenized[i].input_ids) for b in step_micro for row in b for i in row))
        clock.losses.append(fields["loss"])
        clock.grad_norms.append(fields["grad_norm"])
    start = marks[0][3]
    used = sorted({i for b in micro for row in b for i in row})
    targets = sum(sum(1 for label in labels_for(tokenized[i]) if label >= 0) for i in used)
    return clock.summary(
        "ours",
        target_tokens_share=round(targets / max(sum(len(tokenized[i].input_ids) for i in used), 1), 4),
        runtime_s=round(runtime_s, 1),
        params_trainable=start["params_trainable"],
        packing_efficiency=start["info"]["packing_efficiency"],
        adapter_dir=result.outputs["adapter_dir"],
    )


def run_trl(config: TrainConfig, impl: str, out: Path) -> dict[str, Any]:
    try:
        import trl
        from datasets import Dataset
    except ImportError as e:
        raise JobError(
            "missing_package",
            f"the TRL comparison needs the bench extra ({e.name} is missing)",
            "npm run bench installs it; by hand: .venv/bin/pip install -e 'python-runtime[bench]'",
        ) from e
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback

    from ..model import device_and_dtype, load_model_and_tokenizer, quiet_transformers
    from ..task import load_task, read_examples, render_prompt, render_target
    from ..training.batches import labels_for, split_eval
    from ..training.recipe import add_lora, attention_implementation

    quiet_transformers()
    task = load_task(config.task_file)
    steps = config.max_steps or 0
    device, _ = device_and_dtype(config.device)
    # As train() does: seed, load, then LoRA. With nothing drawn from torch's RNG in between, trl-same starts from the
    # very same adapter weights as ours.
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model, tokenizer = load_model_and_tokenizer(
        config.base_model,
        dtype=torch.float32,
        device=device,
        attn_implementation=attention_implementation(config, device),
    )
    model.config.use_cache = False
    if impl == "trl-native":
        # As users write it: a peft_config for SFTTrainer, the same LoRA hyperparameters.
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        )
        examples = read_examples(config.train_file, task, require_labels=True)
        train_examples, _ = split_eval(examples, config.eval_fraction, config.max_eval_examples, config.seed)
        assert all(e.labels is not None for e in train_examples)
        dataset = Dataset.from_list(
            [
                {"prompt": render_prompt(task, e.text), "completion": render_target(task, e.labels or {})}
                for e in train_examples
            ]
        )
        trainer_model, peft_kw = model, {"peft_config": lora}
        data_kw: dict[str, Any] = {"packing": True, "max_length": config.max_seq_len}
    else:
        # Our loop's own LoRA setup (training/recipe.py add_lora): the same targets and init whatever the recipe does.
        trainer_model, peft_kw = add_lora(model, config, quantized=False), {}
        tokenized, micro = our_step_plan(config, tokenizer, task, steps)
        rows = []
        for batch in micro:
            for row in batch:
                ids: list[int] = []
                mask: list[int] = []
                for i in row:
                    ex = tokenized[i]
                    ids += ex.input_ids
                    mask += [0 if label < 0 else 1 for label in labels_for(ex)]
                rows.append(
                    {
                        "input_ids": ids,
                        "completion_mask": mask,
                        "seq_lengths": [len(tokenized[i].input_ids) for i in row],
                    }
                )
        dataset = Dataset.from_list(rows)
        # padding_free: the packed row's examples keep their own positions (TRL makes position_ids from seq_lengths)
        data_kw = {"packing": False, "max_length": None, "padding_free": True}

    args = trl.SFTConfig(
        output_dir=str(out / f"trainer-{impl}"),
        max_steps=steps,
        per_device_train_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.grad_accum_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant_with_warmup" if config.lr_scheduler == "constant" else config.lr_scheduler,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm or 0.0,
        optim="adamw_torch",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device.type == "cpu",
        bf16=False,
        fp16=False,
        dataloader_num_workers=0,
        completion_only_loss=True,
        disable_tqdm=True,
        shuffle_dataset=False,
        **data_kw,
    )
    clock = StepClock()
    micro_tokens: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            clock.wall.append(time.perf_counter() - self.t)
            clock.cpu.append(time.process_time() - self.c)

        def on_log(self, *a: Any, logs: dict[str, Any] | None = None, **k: Any) -> None:
            if logs and "loss" in logs:
                clock.losses.append(float(logs["loss"]))
                clock.grad_norms.append(float(logs["grad_norm"]) if "grad_norm" in logs else None)

    class Trainer(trl.SFTTrainer):
        def _get_train_sampler(self, *a: Any, **k: Any) -> Any:
            if impl == "trl-native":  # as users run it: TRL's own (shuffled) order
                return super()._get_train_sampler(*a, **k)
            return torch.utils.data.SequentialSampler(self.train_dataset)

        def training_step(self, model: Any, inputs: dict[str, Any], *a: Any, **k: Any) -> Any:
            mask = inputs.get("attention_mask")
            micro_tokens.append(int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel()))
            return super().training_step(model, inputs, *a, **k)

    trainer = Trainer(
        model=trainer_model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[Clock()],
        **peft_kw,
    )
    t0 = time.perf_counter()
    trainer.train()
    runtime_s = time.perf_counter() - t0
    ga = config.grad_accum_steps
    clock.tokens = [sum(micro_tokens[k * ga : (k + 1) * ga]) for k in range(len(clock.wall))]
    return clock.summary(
        impl,
        runtime_s=round(runtime_s, 1),
        trl_version=trl.__version__,
        params_trainable=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_runtime.bench.trl_compare", description=__doc__)
    parser.add_argument("impl", choices=IMPLS)
    parser.add_argument("--config", required=True, help="a train job config (JSON file)")
    parser.add_argument("--out", required=True, help="folder for the summary and the runs' files")
    args = parser.parse_args(argv)
    # As the lib does for every job: on busy cores, spinning OpenMP threads cost far more than they save.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = read_config_file(args.config)
    config = load_train_config({**raw, "output_dir": str(out / f"run-{args.impl}")})
    if not config.max_steps:
        raise JobError("config", "the comparison needs max_steps (the same number of steps for every impl)")
    if config.eval_fraction != 0 or config.eval_file:
        raise JobError("config", "set eval_fraction to 0 and no eval_file: eval time is not training time")
    summary = run_ours(config, out) if args.impl == "ours" else run_trl(config, args.impl, out)
    (out / f"summary-{args.impl}.json").write_text(json.dumps(summary, indent=2) + "\n")
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
