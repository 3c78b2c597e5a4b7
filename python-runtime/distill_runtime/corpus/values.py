"""Which column of a corpus file holds each part of a record (id, text, title, group, ingredients, directions or a
Markdown body), and a cell's value as text or as a list of strings, as lib/src/corpus/columns.ts reads them."""

from __future__ import annotations

import json
import re
from typing import Any

from .text import js_string, js_trim

PARTS = ("id", "text", "group", "title", "ingredients", "directions", "body")

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "id": ["id"],
    "text": ["text"],
    "group": ["group", "source_title"],
    "title": ["title", "name"],
    "ingredients": ["ingredients"],
    "directions": ["directions", "instructions", "steps"],
    "body": ["body"],
}

ColumnMap = dict[str, str]


def pick(values: dict[str, Any], key: str, columns: ColumnMap) -> Any:
    named = columns.get(key)
    if named is not None:
        return values.get(named)
    for name in DEFAULT_COLUMNS[key]:
        v = values.get(name)
        if v is not None and v != "":
            return v
    return None


def as_string(v: Any) -> str | None:
    return None if v is None else js_string(v)


class CellError(Exception):
    """A cell that cannot be what its column should hold; the row is skipped with this reason."""


def as_text(v: Any, what: str) -> str | None:
    """A cell that should hold text: a string, or a number or boolean written out. A JSON object or a list is not."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple, bytes, bytearray)):
        raise CellError(f"{what} holds a list, not text")
    if isinstance(v, dict):
        raise CellError(f"{what} holds a JSON object, not text")
    return js_string(v)


_line_break = re.compile(r"\r?\n")


def _js_typeof(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object"


def as_list(v: Any, what: str) -> list[str]:
    """A list of strings from a list, a JSON-array string (RecipeNLG CSV) or newline-separated text."""
    if v is None:
        return []
    if isinstance(v, str):
        s = js_trim(v)
        if not s.startswith("["):
            return [x for x in (js_trim(p) for p in _line_break.split(s)) if x]
        try:
            v = json.loads(s, parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as e:
            raise CellError(f"{what} looks like a JSON array but does not parse ({e})") from None
    if isinstance(v, (list, tuple, bytes, bytearray)):
        return ["" if x is None else js_string(x) for x in v]
    raise CellError(f"{what} should be a list of strings, got {_js_typeof(v)}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_mapped_columns(file: str, present: list[str], columns: ColumnMap) -> None:
    """A column named in the column map must exist: say so with the file's real column names."""
    from ..errors import JobError

    for part, name in columns.items():
        if name is not None and name not in present:
            raise JobError(
                "data",
                f'Corpus file {file} has no column "{name}" (given as columns.{part}). '
                f"Its columns: {', '.join(present)}.",
            )
