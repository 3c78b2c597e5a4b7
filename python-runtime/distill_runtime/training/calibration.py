"""calibrate: true — per boolean field, a threshold on the true-minus-false margin, fitted on the training examples.

A student trained on few examples leans towards each field's majority value: its margins rank the examples well but
their zero point is off. After training, one forward pass over the training examples (previous values forced to
their labels, as in training) gives each boolean field's margin logprob(true) - logprob(false) at its value slot;
encoding.fit_threshold puts the threshold where the share of true predictions equals the share of true labels.
encoding.write_calibration writes calibration.json beside the adapter; the constrained decoder applies it.
Fields whose true or false is more than one token are left uncalibrated (margin compared with 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..task import Task
from .batches import Tokenized
from .readout import HiddenFn, boolean_slots, head_margins, value_states


def train_margins(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: list[Tokenized],
    plan: list[list[list[int]]],
    batch_of: Callable[[list[list[int]]], dict[str, Any]],
    hidden_of: HiddenFn,
    states_and_labels: tuple[Any, Any] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[bool]]]:
    """Per calibratable boolean field: every training example's margin (through the model's own lm_head, its LoRA
    included) and label. states_and_labels: the value slots' states when they are still the model's (a readout fitted
    and no LoRA step since), which saves a pass over the examples."""
    slots = boolean_slots(tokenizer, task)
    if slots is None:
        return {}, {}
    fields, true_id, false_id = slots
    if states_and_labels is None:
        states_and_labels = value_states(model, examples, plan, fields, true_id, batch_of, hidden_of)
    states, labels = states_and_labels
    margins = head_margins(model, states, true_id, false_id)
    names = [task.fields[j].name for j in fields]
    return (
        {name: margins[:, k].tolist() for k, name in enumerate(names)},
        {name: labels[:, k].tolist() for k, name in enumerate(names)},
    )
