"""fit_readout: true — before any LoRA step, fit the boolean fields' readout by logistic regression (linear probing).

The constrained decoder reads a boolean field as the margin logit(true) - logit(false) at its value slot, i.e. a
linear function of the last hidden state h there: (W_true - W_false) . h. A LoRA started from zero moves that margin
slowly (the research behind this: bench/results/quality-notes.md, where 1 epoch of LoRA on the top layers gave mean
kappa 0.38 and the same frozen states read by a fitted direction gave 0.56). So this module fits the direction first,
with full-batch L-BFGS on the training examples' states (previous values forced to their labels, as in training):

    margin = (W_true - W_false) . h + d . h,   minimise  BCE(margin, label) + l2 * |d|^2   over d

and writes d into the LoRA on lm_head (lm_head_lora_r), which is where it lives in the saved adapter: a plain PEFT
adapter that every engine loads, merges (model.merge_adapter) and exports to GGUF as it is. LoRA training, if any
steps follow, starts from there ("linear probing, then fine-tuning"). One direction serves every field (they share the
true/false tokens); the calibration thresholds then place each field's cut.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..encoding import value_ids
from ..errors import JobError
from ..events import emit, log
from ..task import Task
from .batches import Tokenized

# (rows of example indices, collated micro-batch) -> last hidden states [rows, width, hidden]
HiddenFn = Callable[[list[list[int]], dict[str, Any]], Any]


def boolean_slots(tokenizer: Any, task: Task) -> tuple[list[int], int, int] | None:
    """(indices of the boolean fields, id of true, id of false), or None when true/false are not one token each."""
    true_ids, false_ids = value_ids(tokenizer, True), value_ids(tokenizer, False)
    fields = [j for j, spec in enumerate(task.fields) if spec.type == "boolean"]
    if len(true_ids) != 1 or len(false_ids) != 1 or not fields:
        return None
    return fields, true_ids[0], false_ids[0]


def value_states(
    model: Any,
    examples: list[Tokenized],
    plan: list[list[list[int]]],
    fields: list[int],
    true_id: int,
    batch_of: Callable[[list[list[int]]], dict[str, Any]],
    hidden_of: HiddenFn,
    *,
    progress_every_s: float | None = None,
) -> tuple[Any, Any]:
    """The last hidden state at each boolean field's value slot of every example, and the labels:
    ([examples, fields, hidden] float32, [examples, fields] bool), in example order. progress_every_s: emit progress
    events (examples done) that often: the pass over every example is minutes on a CPU."""
    import torch

    states: list[Any] = [None] * len(examples)
    was_training = model.training
    model.eval()
    started = last = time.time()
    done = 0
    with torch.no_grad():
        for rows in plan:
            hidden = hidden_of(rows, batch_of(rows))
            for r, row in enumerate(rows):
                offset = 0
                for i in row:
                    positions = [offset + examples[i].value_starts[j] - 1 for j in fields]  # the slot predicts it
                    states[i] = hidden[r, positions].float().cpu()
                    offset += len(examples[i].input_ids)
            done += sum(len(row) for row in rows)
            now = time.time()
            if progress_every_s is not None and (now - last >= progress_every_s or done == len(examples)):
                rate = round(done / max(now - started, 1e-9), 3)
                emit("progress", done=done, total=len(examples), records_per_s=rate)
                last = now
    model.train(was_training)
    labels = torch.tensor([[e.input_ids[e.value_starts[j]] == true_id for j in fields] for e in examples])
    return torch.stack(states), labels


def head_margins(model: Any, states: Any, true_id: int, false_id: int) -> Any:
    """logit(true) - logit(false) of the model's own lm_head (its LoRA included) for states [..., hidden]."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    with torch.no_grad():
        logits = head(states.to(head.weight.device, head.weight.dtype)).float().cpu()
    return logits[..., true_id] - logits[..., false_id]


def fit_direction(states: Any, labels: Any, base_margins: Any, l2: float) -> Any:
    """d minimising BCE(base_margins + states . d, labels) + l2 |d|^2 (full batch, L-BFGS)."""
    import torch
    import torch.nn.functional as F

    x, y = states.double(), labels.double()
    m0 = base_margins.double()
    d = torch.zeros(x.shape[-1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([d], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(m0 + x @ d, y) + l2 * (d * d).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return d.detach().float()


def write_direction(model: Any, d: Any, true_id: int, false_id: int) -> None:
    """Put d into the LoRA on lm_head so that logit(true) gains d.h/2 and logit(false) loses d.h/2: its first rank's
    A row is d, B is +-1/2 (divided by LoRA's scaling) at the two tokens, 0 elsewhere; the other ranks keep B = 0."""
    import torch

    base = model.get_base_model()
    head = base.get_output_embeddings()
    if not hasattr(head, "lora_A"):
        raise JobError("config", "fit_readout needs a LoRA on lm_head", "set lm_head_lora_r (e.g. 8)")
    name = next(iter(head.lora_A))
    a, b, scaling = head.lora_A[name].weight, head.lora_B[name].weight, head.scaling[name]
    with torch.no_grad():
        a[0] = d.to(a.device, a.dtype)
        b.zero_()
        b[true_id, 0] = 0.5 / scaling
        b[false_id, 0] = -0.5 / scaling


@dataclass
class Readout:
    summary: dict[str, Any]  # what the job reports (metrics.readout)
    states: Any  # [examples, boolean fields, hidden]: the value slots' states it was fitted on
    labels: Any  # [examples, boolean fields]


def fit_readout(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: list[Tokenized],
    plan: list[list[list[int]]],
    batch_of: Callable[[list[list[int]]], dict[str, Any]],
    hidden_of: HiddenFn,
    l2: float,
) -> Readout | None:
    """Fit and write the readout; None without a boolean field whose values are one token each."""
    import torch

    slots = boolean_slots(tokenizer, task)
    if slots is None:
        log("fit_readout: no boolean field with one-token true/false values; the readout is left to training")
        return None
    fields, true_id, false_id = slots
    states, labels = value_states(model, examples, plan, fields, true_id, batch_of, hidden_of, progress_every_s=5.0)
    before = head_margins(model, states, true_id, false_id)
    d = fit_direction(states, labels, before, l2)
    write_direction(model, d, true_id, false_id)
    after = head_margins(model, states, true_id, false_id)
    expected = before + states @ d
    if not torch.allclose(after, expected, atol=1e-3 * (1 + float(expected.abs().max()))):  # the LoRA holds d
        raise JobError("internal", "fit_readout: the lm_head LoRA does not give the fitted margins")
    accuracy = lambda m: round(float(((m > 0) == labels).float().mean()), 4)  # noqa: E731
    result = {
        "examples": len(examples),
        "fields": [task.fields[j].name for j in fields],
        "train_accuracy_before": accuracy(before),
        "train_accuracy_after": accuracy(after),
        "direction_norm": round(float(d.norm()), 4),
    }
    log(
        f"readout fitted on {len(examples)} examples: train accuracy {result['train_accuracy_before']} -> "
        f"{result['train_accuracy_after']} (|d| {result['direction_norm']})"
    )
    return Readout(result, states, labels)
