"""encoding.py: the prompt cut to max_input_tokens, the target as skeleton + value slots, calibration thresholds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from distill_runtime.encoding import (
    cut_text,
    encode_prompt,
    encode_target,
    fit_threshold,
    read_thresholds,
    skeleton,
    write_calibration,
)
from distill_runtime.errors import JobError
from distill_runtime.task import Example, load_task, render_prompt, render_target
from distill_runtime.training.batches import IGNORE_INDEX, labels_for, tokenize_example

LABELS = {
    "main_dish": True,
    "has_non_fish_meat": False,
    "requires_oven": True,
    "requires_stove": False,
    "cook_time_over_30_mins": True,
}
EDGE_TASK = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "tasks" / "edge.json"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from distill_runtime.model import load_tokenizer, resolve_base_model

    return load_tokenizer(resolve_base_model(str(tiny_model_dir)))


def test_encode_prompt_is_what_training_feeds(tokenizer, recipes_task):
    """The prompt ids training puts before the target are exactly encode_prompt's: inference uses the same."""
    for text in ["Toast\n\nIngredients:\n- bread", "  leading spaces and a trailing newline\n", "Ünïcödé 🍰"]:
        prompt_ids = encode_prompt(tokenizer, recipes_task, text)
        assert prompt_ids == tokenizer(render_prompt(recipes_task, text))["input_ids"]  # short: not cut
        tok = tokenize_example(tokenizer, recipes_task, Example(text=text, labels=LABELS))
        assert tok.input_ids[: tok.n_prompt] == prompt_ids
        labels = labels_for(tok)
        assert labels[: tok.n_prompt] == [IGNORE_INDEX] * len(prompt_ids)  # no loss on the prompt
        target = tokenizer.decode(labels[tok.n_prompt :])
        assert target == render_target(recipes_task, LABELS) + tokenizer.eos_token


def test_long_texts_are_cut_to_max_input_tokens_the_same_way_for_training_and_inference(tokenizer, recipes_task):
    limit = recipes_task.student.max_input_tokens
    text = "Mutton Pie\n\n" + "\n".join(f"- step {i}: stir the pot well" for i in range(200))
    assert len(tokenizer(text, add_special_tokens=False)["input_ids"]) > limit
    cut = cut_text(tokenizer, recipes_task, text)
    assert text.startswith(cut) and len(cut) < len(text)
    assert abs(len(tokenizer(cut, add_special_tokens=False)["input_ids"]) - limit) <= 2
    prompt_ids = encode_prompt(tokenizer, recipes_task, text)
    assert prompt_ids == tokenizer(render_prompt(recipes_task, cut))["input_ids"]
    trained = tokenize_example(tokenizer, recipes_task, Example(text=text, labels=LABELS))
    assert trained.input_ids[: trained.n_prompt] == prompt_ids
    # a cut inside a multi-byte character leaves no replacement character behind
    emoji = "🍰" * (limit * 2)
    assert "\ufffd" not in cut_text(tokenizer, recipes_task, emoji)
    assert cut_text(tokenizer, recipes_task, "short") == "short"


def test_target_ids_are_the_skeleton_with_the_values_in_their_slots(tokenizer, recipes_task):
    """For SmolLM2's tokenizer and the recipes task, the piecewise ids are also the whole JSON's ids, for all 32
    label combinations; each boolean is one token, and only those are values."""
    names = recipes_task.field_names
    sk = skeleton(tokenizer, recipes_task)
    for values in itertools.product([True, False], repeat=len(names)):
        labels = dict(zip(names, values, strict=True))
        target = encode_target(tokenizer, recipes_task, labels)
        whole = tokenizer(render_target(recipes_task, labels), add_special_tokens=False)["input_ids"]
        assert target.ids == whole + [tokenizer.eos_token_id]
        assert sum(target.value_mask) == len(names)
        assert [tokenizer.decode([t]) for t, v in zip(target.ids, target.value_mask, strict=True) if v] == [
            json.dumps(v) for v in values
        ]
    assert tokenizer.decode(list(sk.pieces[1])) == ',"requires_oven":'


def test_edge_task_target_text_is_render_target(tokenizer):
    task = load_task(str(EDGE_TASK))
    labels = {"region": 'Provence "sud"', "score": -12, "bounded": 7, "note": "a\\b ☕", "short": "é", "ok": False}
    target = encode_target(tokenizer, task, labels)
    assert tokenizer.decode(target.ids[:-1]) == render_target(task, labels)


def test_values_only_loss_covers_the_value_tokens_alone(tokenizer, recipes_task):
    tok = tokenize_example(tokenizer, recipes_task, Example(text="Toast", labels=LABELS))
    labelled = [(i, t) for i, t in enumerate(labels_for(tok, "values")) if t != IGNORE_INDEX]
    assert [tokenizer.decode([t]) for _, t in labelled] == ["false", "true", "false", "true", "true"]
    assert [i for i, _ in labelled] == tok.value_starts
    assert len([t for t in labels_for(tok, "target") if t != IGNORE_INDEX]) > 8 * len(labelled)


def test_fit_threshold_matches_the_base_rate():
    margins = [-3.0, -1.0, 0.5, 2.0, 4.0]
    assert fit_threshold(margins, [True, True, False, False, False]) == pytest.approx(1.25)  # 2 of 5 above
    assert sum(m > fit_threshold(margins, [True] * 4 + [False]) for m in margins) == 4
    assert not any(m > fit_threshold(margins, [False] * 5) for m in margins)
    assert all(m > fit_threshold(margins, [True] * 5) for m in margins)


def test_calibration_file_round_trip_and_errors(tmp_path):
    write_calibration(tmp_path, {"a": [-1.0, 0.0, 3.0]}, {"a": [False, False, True]})
    assert read_thresholds(tmp_path) == {"a": pytest.approx(1.5)}
    assert read_thresholds(tmp_path / "nowhere") == {}
    (tmp_path / "calibration.json").write_text('{"fields": {"a": {}}}')
    with pytest.raises(JobError, match="not a calibration file"):
        read_thresholds(tmp_path)
