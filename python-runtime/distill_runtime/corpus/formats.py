"""The corpus formats, one reader each, as lib/src/corpus/{jsonl,csv,parquet,arrow}.ts read them: each yields raw rows
(row number, values keyed by the file's own column names, or why the row cannot be used) a block at a time.
Row numbers are line numbers for JSONL and CSV, 1-based row indexes for Parquet and Arrow."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import JobError
from .lines import text_line_blocks
from .text import js_blank
from .values import ColumnMap, check_mapped_columns


@dataclass(frozen=True)
class RawRow:
    row: int
    values: dict[str, Any]
    skip: str | None = None


RawBlocks = Iterator[list[RawRow]]

# In the order they are tried (".jsonl.gz" before ".jsonl"), as formats.ts lists them.
EXTENSIONS: list[tuple[str, str]] = [
    (".jsonl.gz", "jsonl"),
    (".jsonl", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".ndjson", "jsonl"),
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".parquet", "parquet"),
    (".arrow", "arrow"),
    (".arrows", "arrow"),
    (".feather", "arrow"),
    (".ipc", "arrow"),
]
FORMATS = ("jsonl", "csv", "parquet", "arrow")
UNIT = {"jsonl": "line", "csv": "line", "parquet": "row", "arrow": "row"}
csv.field_size_limit(2**31 - 1)  # the default (128 KiB a field) would refuse a long recipe


def format_of(file: str) -> str:
    lower = file.lower()
    for ext, name in EXTENSIONS:
        if lower.endswith(ext):
            return name
    raise JobError(
        "data",
        f"Unsupported corpus file {file}: supported extensions are {', '.join(e for e, _ in EXTENSIONS)} "
        f"(or pass format: {' | '.join(json.dumps(f) for f in FORMATS)}).",
    )


def is_supported(file: str) -> bool:
    return any(file.lower().endswith(ext) for ext, _ in EXTENSIONS)


def file_stem(file: str) -> str:
    base = os.path.basename(file)
    for ext, _ in EXTENSIONS:
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def _no_constants(name: str) -> Any:
    raise ValueError(f"Unexpected token {name[0]}")


def _js_int(text: str) -> int | float:
    """JSON integers past 2^53 lose precision in JS: keep them as the double JS would hold."""
    value = int(text)
    return value if -(2**53) <= value <= 2**53 else float(value)


_decoder = json.JSONDecoder(parse_constant=_no_constants, parse_int=_js_int)


def jsonl_rows(path: Path) -> RawBlocks:
    for lines, first in text_line_blocks(path):
        rows: list[RawRow] = []
        for i, line in enumerate(lines):
            row = first + i
            if not line.startswith("{") and js_blank(line):
                continue
            try:
                value = _decoder.decode(line)
            except (json.JSONDecodeError, ValueError, RecursionError) as e:
                rows.append(RawRow(row, {}, f"invalid JSON ({e})"))
                continue
            if not isinstance(value, dict):
                rows.append(RawRow(row, {}, "not a JSON object"))
                continue
            rows.append(RawRow(row, value))
        if rows:
            yield rows


def csv_rows(path: Path) -> RawBlocks:
    """CSV with a header row, as csv-parse reads it (columns: true, skip_empty_lines): the row number is the line the
    record ends on; a record with another number of fields than the header is an error naming its line."""

    def lines() -> Iterator[str]:
        for block, _ in text_line_blocks(path):
            for line in block:
                yield line + "\n"

    source = lines()
    reader = csv.reader(source, strict=False)
    header: list[str] | None = None
    rows: list[RawRow] = []
    try:
        for fields in reader:
            if not fields:
                continue  # an empty line
            if header is None:
                header = fields
                continue
            if len(fields) != len(header):
                raise JobError(
                    "data",
                    f"{path}: Invalid Record Length: columns length is {len(header)}, got {len(fields)} on line "
                    f"{reader.line_num}",
                )
            rows.append(RawRow(reader.line_num, dict(zip(header, fields, strict=True))))
            if len(rows) >= 1024:
                yield rows
                rows = []
    except csv.Error as e:
        raise JobError("data", f"{path}: {e} (line {reader.line_num})") from e
    if rows:
        yield rows


def parquet_rows(path: Path, wanted: set[str], columns: ColumnMap) -> RawBlocks:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        raise JobError("data", f"{path}: not a readable Parquet file ({e}).") from e
    names = parquet.schema_arrow.names
    check_mapped_columns(str(path), names, columns)
    read = [n for n in names if n in wanted]
    start = 0
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=read)
        records = table.to_pylist()
        if records:
            yield [RawRow(start + i + 1, values) for i, values in enumerate(records)]
        start += table.num_rows


def arrow_rows(path: Path) -> RawBlocks:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        with path.open("rb") as f:
            is_file_format = f.read(6) == b"ARROW1"
        reader = ipc.open_file(path) if is_file_format else ipc.open_stream(path)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches)) if is_file_format else iter(reader)
        row = 0
        for batch in batches:
            assert isinstance(batch, pa.RecordBatch)
            records = batch.to_pylist()
            if records:
                yield [RawRow(row + i + 1, values) for i, values in enumerate(records)]
            row += len(records)
    except pa.ArrowInvalid as e:
        raise JobError("data", f"{path}: not a readable Arrow IPC file or stream ({e}).") from e


def raw_rows(path: Path, format: str, wanted: set[str], columns: ColumnMap) -> RawBlocks:
    if format == "jsonl":
        return jsonl_rows(path)
    if format == "csv":
        return csv_rows(path)
    if format == "parquet":
        return parquet_rows(path, wanted, columns)
    return arrow_rows(path)
