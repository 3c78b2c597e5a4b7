"""The token ids the student sees, at training and at inference: one function for each, used by both sides.

- The record text is cut to the task's `student.max_input_tokens` tokens (cut_text): the text alone is tokenized, its
  first N ids are decoded back to a string (a broken trailing character dropped), and that string goes into the
  prompt template. Training and inference both go through encode_prompt, so they see byte-identical prompts.
- The target is the compact JSON of the labels (task.render_target), tokenized as a fixed SKELETON of pieces with one
  value slot per field, then EOS:

      '{"f1":' V1 ',"f2":' V2 ... ',"fn":' Vn '}' EOS

  each piece and each value (json.dumps of the value) tokenized on its own and concatenated (encode_target). Its
  text is exactly render_target's. The constrained decoder (inference/constrained.py) forces the same pieces and
  chooses only the value ids, so what it feeds the model is what training showed it. For SmolLM2's tokenizer and
  the recipes task, these ids are also the ids of the whole JSON string (python-runtime/tests/test_task.py).
- Which target ids are values (EncodedTarget.value_mask) is what the loss_on="values" training option needs.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import JobError
from .events import log
from .task import FieldSpec, Labels, Task, render_prompt


def text_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def cut_text(tokenizer: Any, task: Task, text: str) -> str:
    """The text cut to the task's student.max_input_tokens tokens (token ids cut, decoded back to a string)."""
    return _cut(tokenizer, task, text)[0]


def _cut(tokenizer: Any, task: Task, text: str) -> tuple[str, bool]:
    limit = task.student.max_input_tokens
    ids = text_ids(tokenizer, text)
    if len(ids) <= limit:
        return text, False
    cut = tokenizer.decode(ids[:limit], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    # A cut inside a multi-byte character decodes to U+FFFD: drop it rather than feed the model a broken character.
    return cut.rstrip("\ufffd"), True


def encode_prompt(tokenizer: Any, task: Task, text: str) -> list[int]:
    """Record text -> prompt ids: cut_text, the task's prompt template, special tokens as the tokenizer adds them
    (BOS for Llama-2; none for SmolLM2). The one way prompts become ids, at training and at inference."""
    return encode_prompt_counted(tokenizer, task, text)[0]


def encode_prompt_counted(tokenizer: Any, task: Task, text: str) -> tuple[list[int], bool]:
    """encode_prompt, and whether the text was cut (jobs count and report the cut records)."""
    text, was_cut = _cut(tokenizer, task, text)
    return list(tokenizer(render_prompt(task, text), add_special_tokens=True)["input_ids"]), was_cut


def encode_prompts(tokenizer: Any, task: Task, texts: list[str]) -> tuple[list[list[int]], int]:
    """encode_prompt of every text, and how many were cut to max_input_tokens (logged: a silent cut hides why a
    label was missed)."""
    encoded = [encode_prompt_counted(tokenizer, task, t) for t in texts]
    cut = sum(was_cut for _, was_cut in encoded)
    if cut:
        limit = task.student.max_input_tokens
        log(f"{cut} of {len(texts)} record texts cut to student.max_input_tokens={limit} tokens")
    return [ids for ids, _ in encoded], cut


@dataclass(frozen=True)
class Skeleton:
    """The fixed pieces of a target: pieces[i] comes before field i's value, closing after the last value."""

    pieces: tuple[tuple[int, ...], ...]
    closing: tuple[int, ...]
    eos: int


def skeleton(tokenizer: Any, task: Task) -> Skeleton:
    return _skeleton(tokenizer, tuple(task.field_names))


@functools.lru_cache(maxsize=8)
def _skeleton(tokenizer: Any, names: tuple[str, ...]) -> Skeleton:
    if tokenizer.eos_token_id is None:
        raise JobError("config", "the tokenizer has no EOS token", "use a base model whose tokenizer defines eos_token")
    pieces = []
    for i, name in enumerate(names):
        key = json.dumps(name, ensure_ascii=False)
        pieces.append(tuple(text_ids(tokenizer, ("{" if i == 0 else ",") + key + ":")))
    return Skeleton(tuple(pieces), tuple(text_ids(tokenizer, "}")), int(tokenizer.eos_token_id))


def value_ids(tokenizer: Any, value: Any) -> list[int]:
    """A field value's ids: its JSON text (as render_target writes it) tokenized on its own."""
    return text_ids(tokenizer, json.dumps(value, separators=(",", ":"), ensure_ascii=False))


@dataclass(frozen=True)
class EncodedTarget:
    ids: list[int]
    value_mask: list[bool]  # True where ids[k] belongs to a field's value


def encode_target(tokenizer: Any, task: Task, labels: Labels) -> EncodedTarget:
    """Labels -> target ids: the skeleton's pieces with each value's ids in its slot, then EOS."""
    sk = skeleton(tokenizer, task)
    ids: list[int] = []
    mask: list[bool] = []
    for piece, name in zip(sk.pieces, task.field_names, strict=True):
        value = value_ids(tokenizer, labels[name])
        ids += [*piece, *value]
        mask += [False] * len(piece) + [True] * len(value)
    ids += [*sk.closing, sk.eos]
    mask += [False] * (len(sk.closing) + 1)
    return EncodedTarget(ids, mask)


# ---------------------------------------------------------------------------------------------------------------
# Values: the candidates of a finite field, and the calibration of boolean decisions


def candidates(tokenizer: Any, spec: FieldSpec) -> list[tuple[Any, list[int]]] | None:
    """A boolean's or an enum's possible values with their ids (value_ids), in the schema's order; None for the
    free-form types (integer, string)."""
    if spec.type == "boolean":
        return [(True, value_ids(tokenizer, True)), (False, value_ids(tokenizer, False))]
    if spec.type == "enum":
        return [(v, value_ids(tokenizer, v)) for v in spec.values or []]
    return None


CALIBRATION_FILE = "calibration.json"


def fit_threshold(margins: list[float], truths: list[bool]) -> float:
    """The threshold t such that "true iff margin > t" predicts true for as many examples as are labelled true
    (the labels' base rate), halfway between the two margins that straddle it."""
    ranked = sorted(margins)
    n, k = len(ranked), sum(truths)
    if n == 0:
        return 0.0
    if k == 0:
        return ranked[-1]
    if k == n:
        return ranked[0] - 1.0
    return (ranked[n - k - 1] + ranked[n - k]) / 2


def write_calibration(folder: Path, margins: dict[str, list[float]], truths: dict[str, list[bool]]) -> dict:
    """calibration.json: per boolean field, the fitted threshold and what it was fitted on."""
    fields = {
        name: {
            "threshold": round(fit_threshold(margins[name], truths[name]), 6),
            "examples": len(margins[name]),
            "true_rate": round(sum(truths[name]) / max(len(truths[name]), 1), 6),
        }
        for name in margins
    }
    data = {
        "$comment": "Per boolean field: the value is true iff logprob(true) - logprob(false) > threshold (0 without "
        "this file). Fitted on the training examples' margins (previous values forced to their labels) so that the "
        "share of true predictions equals the share of true labels. Written by the train job (calibrate: true), "
        "read by the constrained decoder (python-runtime/distill_runtime/encoding.py says how).",
        "fields": fields,
    }
    (folder / CALIBRATION_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return data


def read_thresholds(folder: Path | None) -> dict[str, float]:
    """The boolean fields' thresholds from a folder's calibration.json ({} when there is none)."""
    path = folder / CALIBRATION_FILE if folder is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: float(v["threshold"]) for name, v in data["fields"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise JobError("config", f"{path}: not a calibration file ({e})", "delete it, or retrain with calibrate") from e
