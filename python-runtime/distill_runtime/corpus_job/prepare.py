"""Phase 1: the corpus, read once in order with corpus/ (the TS readers' ids and texts), into input parts of
records_per_shard rows each (output_dir/input/part-NNNNN.parquet), every row numbered (index) and marked ready, skipped
(the reader's reason) or too_long. Texts are cut to max_chars as notebook 1 cut what the teacher saw (UTF-16 units,
never inside a surrogate pair, as sample.ts cuts). Memory: one part's rows and the reader's id hashes.

Killed halfway, a rerun reads the corpus again from the start (ids depend on every row before them) and writes the
parts that are missing; each part already listed must come out with the same ids (ids_sha256), or the corpus changed
under the job and it stops saying so.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..corpus import CorpusRecord, corpus_files, read_corpus
from ..corpus.ids import file_labels
from ..errors import JobError
from ..events import log
from ..task import Task
from .config import LabelCorpusConfig
from .manifest import Manifest, fsync_dir

PART_COLUMNS = ("index", "id", "text", "file", "row", "status", "reason", "truncated")


def part_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("index", pa.int64()),
            ("id", pa.string()),
            ("text", pa.string()),
            ("file", pa.string()),
            ("row", pa.int64()),
            ("status", pa.string()),
            ("reason", pa.string()),
            ("truncated", pa.bool_()),
        ]
    )


def max_chars(config: LabelCorpusConfig, task: Task) -> int:
    return config.max_chars or task.student.max_input_tokens * 4


def cut_utf16(text: str, limit: int) -> tuple[str, bool]:
    """text cut to `limit` UTF-16 code units, as sample.ts cuts (a pair is never split): (text, was it cut)."""
    if len(text) <= limit // 2 or (text.isascii() and len(text) <= limit):
        return text, False
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) <= 2 * limit:
        return text, False
    end = 2 * limit
    if 0xD800 <= int.from_bytes(units[end - 2 : end], "little") <= 0xDBFF:
        end -= 2
    return units[:end].decode("utf-16-le", "surrogatepass"), True


def input_fingerprint(config: LabelCorpusConfig, task: Task) -> dict[str, Any]:
    """What the prepared rows depend on: the files (name, size, modification time), how they are read, the cuts."""
    files = corpus_files(config.corpus)
    return {
        "files": [[f, os.path.getsize(f), os.stat(f).st_mtime_ns] for f in files],
        "columns": config.columns,
        "format": config.format,
        "limit": config.limit,
        "max_chars": max_chars(config, task),
        "max_record_chars": config.max_record_chars,
        "records_per_shard": config.records_per_shard,
        "record_template": task.record_template,
    }


def _ids_digest(ids: list[str | None], first: int) -> str:
    h = hashlib.sha256(str(first).encode())
    for i in ids:
        h.update(b"\x00" + (i or "").encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def prepare(config: LabelCorpusConfig, task: Task, manifest: Manifest) -> None:
    """Write the input parts that are missing; on return every part is listed and prepared.complete is true."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if manifest.prepared.get("complete"):
        return
    listed = {p["part"]: p for p in manifest.parts}
    if listed:
        log(f"label-corpus: preparing the input again from the start ({len(listed)} part(s) already listed)")
    files = corpus_files(config.corpus)
    labels = file_labels(files)
    limit = max_chars(config, task)
    size = config.records_per_shard
    counts = {"records": 0, "skipped": 0, "too_long": 0, "truncated": 0}
    columns: dict[str, list[Any]] = {c: [] for c in PART_COLUMNS}
    index = 0

    def flush() -> None:
        first = columns["index"][0]
        part_no = first // size
        digest = _ids_digest(columns["id"], first)
        rows = len(columns["index"])
        if part_no in listed:
            if listed[part_no]["ids_sha256"] != digest or listed[part_no]["rows"] != rows:
                raise JobError(
                    "data",
                    f"the corpus changed since part {part_no} was prepared (its ids differ now)",
                    f"delete {manifest.dir} to start over with the corpus as it is",
                )
        else:
            name = f"part-{part_no:05d}.parquet"
            path = manifest.input_dir / name
            tmp = path.with_name(f".tmp-{name}-{os.getpid()}")
            pq.write_table(pa.table(columns, schema=part_schema()), tmp, compression="zstd")
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
            manifest.add_part(
                {"part": part_no, "file": f"input/{name}", "first": first, "rows": rows, "ids_sha256": digest}
            )
        for c in columns.values():
            c.clear()

    def add(row: dict[str, Any]) -> None:
        nonlocal index
        row["index"] = index
        for c in PART_COLUMNS:
            columns[c].append(row.get(c))
        index += 1
        if index % size == 0:
            flush()

    for block in read_corpus(config.corpus, task, columns=config.columns, format=config.format):
        for item in block:
            if config.limit is not None and index >= config.limit:
                break
            file = labels.get(item.file, os.path.basename(item.file))
            if isinstance(item, CorpusRecord):
                counts["records"] += 1
                if len(item.text) > config.max_record_chars:
                    counts["too_long"] += 1
                    add(
                        {
                            "id": item.id,
                            "text": "",
                            "file": file,
                            "row": item.row,
                            "status": "too_long",
                            "reason": f"text of {len(item.text)} characters, past max_record_chars "
                            f"({config.max_record_chars})",
                            "truncated": False,
                        }
                    )
                    continue
                text, cut = cut_utf16(item.text, limit)
                counts["truncated"] += cut
                add(
                    {
                        "id": item.id,
                        "text": text,
                        "file": file,
                        "row": item.row,
                        "status": "ready",
                        "reason": None,
                        "truncated": cut,
                    }
                )
            else:
                counts["skipped"] += 1
                add(
                    {
                        "id": None,
                        "text": "",
                        "file": file,
                        "row": item.row,
                        "status": "skipped",
                        "reason": item.reason,
                        "truncated": False,
                    }
                )
        if config.limit is not None and index >= config.limit:
            break
    if columns["index"]:
        flush()
    manifest.prepared.update(complete=True, rows=index, **counts)
    manifest.save()
    log(
        f"label-corpus: prepared {index} rows ({counts['records']} records, {counts['skipped']} skipped rows, "
        f"{counts['too_long']} too long, {counts['truncated']} cut to {limit} characters)"
    )


def part_path(manifest: Manifest, part: dict[str, Any]) -> Path:
    return manifest.dir / part["file"]
