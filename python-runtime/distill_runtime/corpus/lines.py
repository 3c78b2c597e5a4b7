"""Lines of a (possibly gzipped) UTF-8 text file, split and decoded as lib/src/corpus/lines.ts does: a line is what is
between two "\\n" bytes, less one trailing "\\r" and one leading BOM; gzip is recognised by its magic bytes (so a
".jsonl" that is really gzipped still reads); invalid UTF-8 stops the read with an error naming the line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import JobError

LINES_PER_BLOCK = 4096


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")  # gzip reads concatenated members as one


def text_line_blocks(path: Path) -> Iterator[tuple[list[str], int]]:
    """(lines, number of lines[0]) a block at a time; numbers are 1-based and count every line, blank ones too."""
    line_no = 1
    block: list[str] = []
    first = 1
    try:
        with open_binary(path) as f:
            for raw in f:
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    if block:
                        yield block, first
                    raise JobError(
                        "data",
                        f"{path}, line {line_no}: invalid UTF-8. Corpus files must be UTF-8 encoded (re-save the file "
                        "as UTF-8).",
                    ) from None
                if line.startswith("\ufeff"):
                    line = line[1:]
                block.append(line)
                line_no += 1
                if len(block) >= LINES_PER_BLOCK:
                    yield block, first
                    block, first = [], line_no
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise JobError("data", f"{path}: not a valid gzip file ({e}).") from e
    if block:
        yield block, first
