"""Keyword rules: the task file's `keyword_rules`, a baseline that needs no model (mirror of lib/src/keywords.ts).

Per field an ordered decision list: the first rule with a pattern that matches the record text gives the field's value
(`then`); when none matches, the field takes its `default`. Patterns are matched case-insensitively anywhere in the
text. tests/lib/task-parity.test.ts holds this reader and the TypeScript one to the same verdicts and labels, so the
patterns must mean the same in both dialects (keep \\b and \\w next to ASCII letters only; no named groups).
task.py imports this module, never the other way: the value check comes in as a function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

# A label value as JSON gives it: no coercion ("true" stays a string), as zod's union in keywords.ts.
Value = StrictBool | StrictInt | StrictFloat | StrictStr


class _Strict(BaseModel):
    # Unknown keys are errors here, as in the TypeScript reader (zod .strict()), so both give the same verdict.
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordRule(_Strict):
    why: str | None = None
    then: Value
    if_any: list[StrictStr] = Field(min_length=1)


class FieldRules(_Strict):
    default: Value
    rules: list[KeywordRule]


class KeywordRules(_Strict):
    about: str | None = None
    fields: dict[str, FieldRules]


def keyword_rules_problems(
    rules: KeywordRules, field_names: Sequence[str], invalid_value: Callable[[str, Any], str | None]
) -> list[str]:
    """Everything wrong with the section ("path: problem"), as keywordRulesProblems in keywords.ts."""
    problems: list[str] = []
    problems += [f'keyword_rules.fields: no entry for field "{n}"' for n in field_names if n not in rules.fields]
    for name, spec in rules.fields.items():
        where = f"keyword_rules.fields.{name}"
        if name not in field_names:
            problems.append(f'{where}: the task has no field "{name}" (its fields: {", ".join(field_names)})')
            continue
        if (bad := invalid_value(name, spec.default)) is not None:
            problems.append(f"{where}.default: {bad}")
        for i, rule in enumerate(spec.rules):
            if (wrong := invalid_value(name, rule.then)) is not None:
                problems.append(f"{where}.rules[{i}].then: {wrong}")
            for j, pattern in enumerate(rule.if_any):
                if not pattern:
                    problems.append(f"{where}.rules[{i}].if_any[{j}]: a pattern must not be empty")
                    continue
                try:
                    re.compile(pattern, re.IGNORECASE)
                except re.error as e:
                    problems.append(f"{where}.rules[{i}].if_any[{j}]: not a valid regular expression ({e})")
    return problems


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def apply_keyword_rules(rules: KeywordRules, field_names: Sequence[str], text: str) -> dict[str, Any]:
    """The labels the rules give one record text, in the task's field order."""
    labels: dict[str, Any] = {}
    for name in field_names:
        spec = rules.fields[name]
        value = spec.default
        for rule in spec.rules:
            if any(_compiled(p).search(text) for p in rule.if_any):
                value = rule.then
                break
        labels[name] = value
    return labels
