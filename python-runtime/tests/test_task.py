"""task.py: the text rules shared with TypeScript, label parsing and validation, reading example files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import chat_line

from distill_runtime.errors import JobError
from distill_runtime.task import (
    keyword_labels,
    load_task,
    parse_labels,
    read_examples,
    render_prompt,
    render_target,
)

LABELS = {
    "main_dish": True,
    "has_non_fish_meat": False,
    "requires_oven": True,
    "requires_stove": False,
    "cook_time_over_30_mins": True,
}


def test_render_prompt_replaces_every_placeholder_literally(recipes_task):
    text = "Crème brûlée $1 \\n {text} {{x}}"
    prompt = render_prompt(recipes_task, text)
    before, after = recipes_task.prompt_template.split("{text}")
    assert prompt == before + text + after  # no regex, no escapes, and the inserted "{text}" is not re-replaced
    twice = recipes_task.model_copy(
        update={"student": recipes_task.student.model_copy(update={"prompt_template": "{text}|{text}"})}
    )
    assert render_prompt(twice, "a") == "a|a"  # split/join replaces all, like TS


def test_render_target_is_compact_json_in_field_order(recipes_task):
    target = render_target(recipes_task, {**LABELS, "extra": 1})
    assert target == (
        '{"has_non_fish_meat":false,"requires_oven":true,"requires_stove":false,'
        '"cook_time_over_30_mins":true,"main_dish":true}'
    )


def test_render_target_keeps_non_ascii(tmp_path):
    task = load_task(write_task(tmp_path, [{"name": "cuisine", "type": "string", "description": "d"}]))
    assert render_target(task, {"cuisine": 'crème "brûlée"'}) == '{"cuisine":"crème \\"brûlée\\""}'


def test_parse_labels_takes_the_first_json_object(recipes_task):
    completion = "Sure! " + render_target(recipes_task, LABELS) + ' and then {"more": 1}'
    labels, error = parse_labels(recipes_task, completion)
    assert error is None and labels == {k: LABELS[k] for k in recipes_task.field_names}
    assert list(labels) == recipes_task.field_names


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("no json here", "no JSON object"),
        ('{"has_non_fish_meat": tru', "malformed JSON"),
        ('{"has_non_fish_meat": false}', "field requires_oven: missing"),
        ("[1, 2]", "no JSON object"),
    ],
)
def test_parse_labels_errors(recipes_task, completion, expected):
    labels, error = parse_labels(recipes_task, completion)
    assert labels is None and expected in error


def test_parse_labels_names_the_wrong_field(recipes_task):
    bad = {**LABELS, "requires_stove": "yes"}
    labels, error = parse_labels(recipes_task, json.dumps(bad))
    assert labels is None and error == "field requires_stove: expected boolean, got string"
    labels, error = parse_labels(recipes_task, json.dumps({**LABELS, "spicy": True}))
    assert labels is None and error == "unexpected field spicy"


def test_enum_integer_and_string_fields(tmp_path):
    fields = [
        {"name": "course", "type": "enum", "values": ["starter", "main"], "description": "d"},
        {"name": "servings", "type": "integer", "minimum": 1, "maximum": 12, "description": "d"},
        {"name": "note", "type": "string", "maxLength": 5, "description": "d"},
    ]
    task = load_task(write_task(tmp_path, fields))
    assert parse_labels(task, '{"course":"main","servings":4.0,"note":"ok"}') == (
        {"course": "main", "servings": 4, "note": "ok"},
        None,
    )
    assert "field course: expected one of" in parse_labels(task, '{"course":"dessert","servings":4,"note":""}')[1]
    assert (
        parse_labels(task, '{"course":"main","servings":13,"note":""}')[1] == "field servings: expected <= 12, got 13"
    )
    assert parse_labels(task, '{"course":"main","servings":true,"note":""}')[1] == (
        "field servings: expected integer, got true"
    )
    assert "field note: expected at most 5" in parse_labels(task, '{"course":"main","servings":1,"note":"toolong"}')[1]


def test_bad_task_files_name_the_problem(tmp_path):
    with pytest.raises(JobError, match="duplicate field name 'a'"):
        load_task(write_task(tmp_path, [{"name": "a", "type": "boolean", "description": "d"}] * 2))
    with pytest.raises(JobError, match="enum without values"):
        load_task(write_task(tmp_path, [{"name": "a", "type": "enum", "description": "d"}]))
    with pytest.raises(JobError, match=r"fields\.0\.type"):
        load_task(write_task(tmp_path, [{"name": "a", "type": "float", "description": "d"}]))
    with pytest.raises(JobError) as e:
        load_task("no-such-task")
    assert "task file not found" in str(e.value) and "recipes" in (e.value.hint or "")


def test_read_examples_accepts_chat_tool_calls_and_plain_lines(tmp_path, recipes_task):
    path = tmp_path / "mixed.jsonl"
    lines = [
        chat_line(recipes_task, "Soup one", LABELS),
        chat_line(recipes_task, "Soup two", LABELS, as_tool_call=True),
        {"id": "r3", "text": "Soup three"},
        {"id": 4, "text": "Soup four", "labels": LABELS},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    examples = read_examples(path, recipes_task)
    assert [e.text for e in examples] == ["Soup one", "Soup two", "Soup three", "Soup four"]
    assert examples[0].labels == examples[1].labels == examples[3].labels
    assert examples[2].labels is None and examples[2].id == "r3" and examples[3].id == "4"
    with pytest.raises(JobError, match=r"mixed\.jsonl:3: no labels"):
        read_examples(path, recipes_task, require_labels=True)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "invalid JSON"),
        ('{"messages": [{"role": "assistant", "content": "{}"}]}', "expected exactly one user message"),
        ('{"title": "x"}', 'expected "messages" (chat format) or a non-empty "text"'),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "{\\"a\\": 1}"}]}',
            "assistant labels: field has_non_fish_meat: missing",
        ),
    ],
)
def test_read_examples_errors_name_file_and_line(tmp_path, recipes_task, line, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + line + "\n")
    with pytest.raises(JobError) as e:
        read_examples(path, recipes_task)
    assert f"{path}:2: " in str(e.value) and expected in str(e.value)


def write_task(tmp_path: Path, fields: list[dict]) -> Path:
    task = json.loads(load_task("recipes").model_dump_json(by_alias=True, exclude={"file", "keyword_rules"}))
    task["fields"] = fields
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(task))
    return path


def test_keyword_rules_give_labels_in_field_order(recipes_task):
    labels = keyword_labels(recipes_task, "Roast Beef\n\nIngredients:\n- beef\n\nDirections:\n- Bake two hours")
    assert list(labels) == recipes_task.field_names
    assert labels["has_non_fish_meat"] is True and labels["requires_oven"] is True
    assert keyword_labels(recipes_task, "Fish\nbake or fry it")["requires_oven"] is False


def test_keyword_rules_mistakes_are_named(tmp_path):
    task = json.loads(Path(load_task("recipes").file).read_text())
    task["keyword_rules"]["fields"]["main_dish"]["default"] = "no"
    task["keyword_rules"]["fields"]["requires_oven"]["rules"][0]["if_any"] = ["(bake"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(task))
    with pytest.raises(JobError) as e:
        load_task(path)
    assert "keyword_rules.fields.main_dish.default: expected boolean" in str(e.value)
    assert "keyword_rules.fields.requires_oven.rules[0].if_any[0]: not a valid regular expression" in str(e.value)
    no_rules = load_task(write_task(tmp_path, [{"name": "x", "type": "boolean", "description": "d"}]))
    with pytest.raises(JobError, match="has no keyword_rules"):
        keyword_labels(no_rules, "text")
