"""Tokenized examples -> rows (packed or not) -> micro-batches, with the loss masked to the target.

Packing puts several examples in one row with position_ids restarting at 0 for each; recipe.py's module comment says
why that keeps attention inside each example.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig
from ..encoding import encode_prompt_counted, encode_target
from ..task import Example

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    n_prompt: int  # the first n_prompt ids are the prompt: labelled IGNORE_INDEX
    # per target id (input_ids[n_prompt:]): part of a field's value, not of the skeleton
    is_value: list[bool] = field(default_factory=list)
    value_starts: list[int] = field(default_factory=list)  # per field, the position in input_ids of its value
    text_cut: bool = False  # the record text was cut to student.max_input_tokens


def tokenize_example(tokenizer: Any, task: Any, example: Example) -> Tokenized:
    """Prompt and target tokenized separately, then concatenated: the prompt ids are exactly what inference feeds,
    the target ids what the constrained decoder forces and chooses (encoding.py)."""
    assert example.labels is not None
    prompt_ids, text_cut = encode_prompt_counted(tokenizer, task, example.text)
    target = encode_target(tokenizer, task, example.labels)
    starts = [
        len(prompt_ids) + k
        for k, flag in enumerate(target.value_mask)
        if flag and (k == 0 or not target.value_mask[k - 1])
    ]
    return Tokenized(prompt_ids + target.ids, len(prompt_ids), target.value_mask, starts, text_cut)


def labels_for(example: Tokenized, loss_on: str = "target") -> list[int]:
    """Next-token labels: IGNORE_INDEX on the prompt, and with loss_on "values" on the skeleton too."""
    target = example.input_ids[example.n_prompt :]
    if loss_on == "values":
        target = [t if flag else IGNORE_INDEX for t, flag in zip(target, example.is_value, strict=True)]
    return [IGNORE_INDEX] * example.n_prompt + target


def pack_rows(lengths: list[int], max_len: int) -> list[list[int]]:
    """Best-fit decreasing bin packing: example indices grouped into rows of at most max_len tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    rows: list[list[int]] = []
    free: list[int] = []  # free space per row
    for i in order:
        best = -1
        for r, space in enumerate(free):  # rows are few (n / examples-per-row); a linear scan is fast enough
            if lengths[i] <= space and (best < 0 or space < free[best]):
                best = r
        if best < 0:
            rows.append([i])
            free.append(max_len - lengths[i])
        else:
            rows[best].append(i)
            free[best] -= lengths[i]
    return rows


def plan_micro_batches(lengths: list[int], config: TrainConfig, *, one_flat_row: bool) -> list[list[list[int]]]:
    """Micro-batches of rows of example indices. Packing: rows are packed to max_seq_len. No packing: one example per
    row, rows of similar length batched together (length-grouped) so little padding is computed."""
    if config.packing:
        rows = pack_rows(lengths, config.max_seq_len)
        rows.sort(key=lambda row: -sum(lengths[i] for i in row))
    else:
        rows = [[i] for i in sorted(range(len(lengths)), key=lambda i: -lengths[i])]
    size = config.micro_batch_size
    batches = [rows[k : k + size] for k in range(0, len(rows), size)]
    if one_flat_row:  # flash-attention varlen: the whole micro-batch is one row, no padding at all
        batches = [[[i for row in batch for i in row]] for batch in batches]
    return batches


def computed_tokens(batch: list[list[int]], lengths: list[int]) -> int:
    return len(batch) * max(sum(lengths[i] for i in row) for row in batch)


def collate(batch: list[list[int]], examples: list[Tokenized], pad_id: int, loss_on: str = "target") -> dict[str, Any]:
    """input_ids, labels, position_ids of shape [rows, longest row]. Positions restart at 0 for every example and for
    the padding, which is what makes attention block-diagonal (see recipe.py's module comment)."""
    import torch

    rows_ids, rows_labels, rows_pos = [], [], []
    for row in batch:
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for i in row:
            ids += examples[i].input_ids
            labels += labels_for(examples[i], loss_on)
            pos += list(range(len(examples[i].input_ids)))
        rows_ids.append(ids)
        rows_labels.append(labels)
        rows_pos.append(pos)
    width = max(len(r) for r in rows_ids)
    for ids, labels, pos in zip(rows_ids, rows_labels, rows_pos, strict=True):
        pad = width - len(ids)
        ids += [pad_id] * pad
        labels += [IGNORE_INDEX] * pad
        pos += list(range(pad))
    return {
        "input_ids": torch.tensor(rows_ids),
        "labels": torch.tensor(rows_labels),
        "position_ids": torch.tensor(rows_pos),
    }


def split_eval(
    examples: list[Example], fraction: float, max_examples: int, seed: int
) -> tuple[list[Example], list[Example]]:
    """Hold out a seeded random fraction of the examples for eval (at least one, at most max_examples)."""
    if fraction <= 0 or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(examples) - 1, max_examples, max(1, round(len(examples) * fraction)))
    held = set(order[:n_eval])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]
