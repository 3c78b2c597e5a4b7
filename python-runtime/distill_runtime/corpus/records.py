"""Files -> records, as lib/src/corpus/records.ts reads them: the caller's paths (a folder means its supported files,
sorted), one format reader per file, and each raw row turned into a record (id, text, group, title) or skipped with
why. Streaming: rows come a block at a time and nothing holds the corpus; only the ids' 64-bit hashes are kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import JobError
from ..task import Task, project_root, resolve_path
from .formats import EXTENSIONS, UNIT, file_stem, format_of, is_supported, raw_rows
from .ids import IdRegistry, file_labels
from .recipe import parse_recipe_markdown, render_record
from .text import js_blank, js_trim, well_formed
from .values import DEFAULT_COLUMNS, CellError, ColumnMap, as_list, as_string, as_text, check_mapped_columns, pick


@dataclass(frozen=True)
class CorpusRecord:
    id: str
    text: str
    group: str
    title: str
    file: str
    row: int


@dataclass(frozen=True)
class SkippedRow:
    file: str
    row: int
    reason: str
    duplicate_id: bool = False


Item = CorpusRecord | SkippedRow


def corpus_files(paths: str | list[str]) -> list[str]:
    """The caller's paths (relative to the project root; a folder means every supported file in it, sorted), each
    file once."""
    given = [paths] if isinstance(paths, str) else list(paths)
    if not given:
        raise JobError("config", "No corpus files given (an empty list).")
    files: list[str] = []
    for p in given:
        path = resolve_path(p)
        if not path.exists():
            where = (
                "" if Path(p).is_absolute() else f" (relative paths are taken from the project root {project_root()})"
            )
            raise JobError("config", f"Corpus file not found: {path}{where}.")
        found = [str(path / f) for f in sorted(os.listdir(path)) if is_supported(f)] if path.is_dir() else [str(path)]
        if path.is_dir() and not found:
            raise JobError(
                "config",
                f"Corpus folder {path} holds no supported files ({', '.join(e for e, _ in EXTENSIONS)}).",
            )
        files.extend(f for f in found if f not in files)
    return files


def _column(columns: ColumnMap, key: str) -> str:
    return f'column "{columns.get(key, key)}"'


def to_record(
    values: dict[str, Any], row: int, file: str, label: str, stem: str, columns: ColumnMap, task: Task, ids: IdRegistry
) -> CorpusRecord | SkippedRow:
    try:
        title = as_text(pick(values, "title", columns), _column(columns, "title"))
        text = as_text(pick(values, "text", columns), _column(columns, "text"))
        if text is None or js_blank(text):
            try:
                body = as_text(pick(values, "body", columns), _column(columns, "body"))
            except CellError as e:
                raise CellError(f"{e} (a Markdown body with Ingredients and Directions headings)") from None
            if body is not None and not js_blank(body):
                ingredients, directions = parse_recipe_markdown(body)
                if not ingredients and not directions:
                    return SkippedRow(file, row, "body has no list under an Ingredients or Directions heading")
            else:
                ingredients = as_list(
                    pick(values, "ingredients", columns), f"column {columns.get('ingredients', 'ingredients')}"
                )
                directions = as_list(
                    pick(values, "directions", columns), f"column {columns.get('directions', 'directions')}"
                )
                if not ingredients and not directions:
                    return SkippedRow(
                        file,
                        row,
                        f'no text: needs a non-empty "{columns.get("text", "text")}" column, a Markdown '
                        f'"{columns.get("body", "body")}", or "{columns.get("ingredients", "ingredients")}"/'
                        f'"{columns.get("directions", "directions")}" lists',
                    )
            text = render_record(task.record_template, js_trim(title or ""), ingredients, directions)
        explicit = as_text(pick(values, "id", columns), _column(columns, "id"))
        group = as_text(pick(values, "group", columns), _column(columns, "group"))
    except CellError as e:
        return SkippedRow(file, row, str(e))
    record_id, fresh = ids.assign(
        explicit=None if explicit == "" else explicit,
        slug=as_string(values.get("slug")),
        collection=as_string(values.get("collection")),
        label=label,
        stem=stem,
        row=row,
    )
    if not fresh:
        return SkippedRow(
            file,
            row,
            f"duplicate id {_json_string(record_id)}: an earlier row has it "
            "(ids must be unique; the first row is kept)",
            duplicate_id=True,
        )
    return CorpusRecord(
        id=well_formed(record_id),
        text=well_formed(text),
        group=well_formed(group or stem),
        title=well_formed(js_trim(title or "")),
        file=file,
        row=row,
    )


def _json_string(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def read_corpus(
    paths: str | list[str], task: Task, *, columns: ColumnMap | None = None, format: str | None = None
) -> Iterator[list[Item]]:
    """The corpus as blocks of records and skipped rows, in file and row order. A file that is empty, or whose every
    row is skipped, is an error naming it (as in records.ts); a row that cannot be a record is a SkippedRow."""
    files = corpus_files(paths)
    formats = [format or format_of(f) for f in files]  # an unknown extension fails before anything is read
    columns = {k: v for k, v in (columns or {}).items() if v is not None}
    wanted = {"slug", "collection", *(n for names in DEFAULT_COLUMNS.values() for n in names), *columns.values()}
    labels = file_labels(files)
    ids = IdRegistry()
    for file, fmt in zip(files, formats, strict=True):
        path = Path(file)
        if path.stat().st_size == 0:
            raise JobError("data", f"Corpus file {file} is empty.")
        label = labels[file]
        stem = label[: len(label) - (len(os.path.basename(file)) - len(file_stem(file)))]
        good = skipped = 0
        examples: list[SkippedRow] = []
        first = True
        for block in raw_rows(path, fmt, wanted, columns):
            out: list[Item] = []
            for raw in block:
                if raw.skip is None and first:
                    first = False
                    check_mapped_columns(file, list(raw.values), columns)
                item = (
                    SkippedRow(file, raw.row, raw.skip)
                    if raw.skip is not None
                    else to_record(raw.values, raw.row, file, label, stem, columns, task, ids)
                )
                if isinstance(item, SkippedRow):
                    skipped += 1
                    if len(examples) < 5:
                        examples.append(item)
                else:
                    good += 1
                out.append(item)
            yield out
        if good == 0:
            if skipped == 0:
                raise JobError("data", f"Corpus file {file} has no rows.")
            unit = UNIT[fmt]
            shown = "; ".join(f"{unit} {s.row}: {s.reason}" for s in examples)
            raise JobError("data", f"Corpus file {file}: none of its {skipped} rows could be used ({shown}).")
