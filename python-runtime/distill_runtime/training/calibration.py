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

from ..encoding import value_ids
from ..task import Task
from .batches import Tokenized

# (rows of example indices, collated micro-batch) -> last hidden states [rows, width, hidden]
HiddenFn = Callable[[list[list[int]], dict[str, Any]], Any]


def train_margins(
    model: Any,
    tokenizer: Any,
    task: Task,
    examples: list[Tokenized],
    plan: list[list[list[int]]],
    batch_of: Callable[[list[list[int]]], dict[str, Any]],
    hidden_of: HiddenFn,
) -> tuple[dict[str, list[float]], dict[str, list[bool]]]:
    """Per calibratable boolean field: every training example's margin and label."""
    import torch

    true_ids, false_ids = value_ids(tokenizer, True), value_ids(tokenizer, False)
    fields = [j for j, spec in enumerate(task.fields) if spec.type == "boolean"]
    if len(true_ids) != 1 or len(false_ids) != 1 or not fields:
        return {}, {}
    head = model.get_base_model().get_output_embeddings() if hasattr(model, "get_base_model") else None
    head = head if head is not None else model.get_output_embeddings()
    pair = head.weight[[true_ids[0], false_ids[0]]]  # [2, hidden]: only these two logits are needed
    names = [task.fields[j].name for j in fields]
    margins: dict[str, list[float]] = {n: [] for n in names}
    truths: dict[str, list[bool]] = {n: [] for n in names}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for rows in plan:
            hidden = hidden_of(rows, batch_of(rows))
            for r, row in enumerate(rows):
                offset = 0
                for i in row:
                    example = examples[i]
                    for j, name in zip(fields, names, strict=True):
                        position = offset + example.value_starts[j]
                        two = (hidden[r, position - 1].float() @ pair.float().T).tolist()
                        margins[name].append(two[0] - two[1])
                        truths[name].append(example.input_ids[example.value_starts[j]] == true_ids[0])
                    offset += len(example.input_ids)
    model.train(was_training)
    return margins, truths
