"""Recipe text, as lib/src/corpus/recipe.ts makes it: the ingredients and directions of a recipe's Markdown body, and
a record rendered with the task's record_template. The regular expressions are recipe.ts's, with JavaScript's
meaning of \\s, \\d and "." spelled out (text.py), so that both sides cut every line the same way."""

from __future__ import annotations

import re

from .text import JS_DOT, JS_WS, js_blank, js_collapse_ws, js_trim

_heading = re.compile(f"(#{{1,6}})[{JS_WS}]+({JS_DOT}*?)[{JS_WS}#]*\\Z")
_item = re.compile(f"[{JS_WS}]{{0,3}}(?:[-*+]|[0-9]+[.)])[{JS_WS}]+({JS_DOT}*)\\Z")
_image = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_link = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_bold = re.compile(r"\*\*|__")
# JS's /i without the u flag folds only ASCII letters for these ASCII patterns: re.ASCII does the same.
_ingredients = re.compile("ingredient", re.IGNORECASE | re.ASCII)
_directions = re.compile("direction|instruction|method|steps|preparation", re.IGNORECASE | re.ASCII)
_newline_run = re.compile(f"[{JS_WS}]*\n[{JS_WS}]*")
_placeholder = re.compile(r"\{(title|ingredients|directions)\}")


def plain_text(line: str) -> str:
    """A Markdown line without links, images and bold/underline markers: "[Pasta](/pasta)" -> "Pasta"."""
    s = line
    if "](" in s:
        s = _link.sub(lambda m: m.group(1), _image.sub("", s))
    if "**" in s or "__" in s:
        s = _bold.sub("", s)
    return js_trim(js_collapse_ws(s))


def parse_recipe_markdown(body: str) -> tuple[list[str], list[str]]:
    """(ingredients, directions) from a recipe's Markdown body: list entries and paragraphs under an ingredients or
    directions/instructions/method/steps/preparation heading; continuation lines join their item; a sub-heading in a
    section becomes an item ending with ":"."""
    ingredients: list[str] = []
    directions: list[str] = []
    current: list[str] | None = None
    section_level = 0
    open_item = False
    lines = body.split("\n")
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if i < last and line.endswith("\r"):
            line = line[:-1]
        heading = _heading.match(line) if line.startswith("#") else None
        if heading:
            level = len(heading.group(1))
            name = plain_text(heading.group(2))
            if current is not None and level > section_level:
                if name:
                    current.append(name if name.endswith(":") else f"{name}:")
            else:
                section_level = level
                if _ingredients.search(name):
                    current = ingredients
                elif _directions.search(name):
                    current = directions
                else:
                    current = None
            open_item = False
            continue
        if current is None:
            continue
        if js_blank(line):
            open_item = False
            continue
        match = _item.match(line)
        item = match.group(1) if match else None
        text = plain_text(item if item is not None else line)
        if not text:
            continue
        if item is None and open_item and current:
            current[-1] += f" {text}"
        else:
            current.append(text)
        open_item = True
    return ingredients, directions


def _bullets(items: list[str]) -> str:
    out: list[str] = []
    for item in items:
        s = js_trim(_newline_run.sub(" ", item) if "\n" in item else item)
        if s:
            out.append(f"- {s}")
    return "\n".join(out)


def render_record(template: str, title: str, ingredients: list[str], directions: list[str]) -> str:
    """The task's record_template filled with the title and "- " bullet lists (one pass: braces in values stay)."""
    values = {"title": js_trim(title), "ingredients": _bullets(ingredients), "directions": _bullets(directions)}
    return _placeholder.sub(lambda m: values[m.group(1)], template)
