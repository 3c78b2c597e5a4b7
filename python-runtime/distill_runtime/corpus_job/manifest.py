"""The corpus job's manifest (output_dir/manifest.json): what was prepared and which shard holds which input rows.

Everything here is written atomically (a temporary file, fsync, rename, fsync of the folder), so a kill at any
instant leaves either the old or the new file. A shard is listed with the index ranges it holds, its row count and a
hash of its indices; `reconcile` adopts a shard that was written but not listed yet (killed between the two steps, or
written by Ray Data) once its Parquet footer reads back and none of its rows is held elsewhere, and deletes anything
else in labels/ (a file cut by a kill). The rows no shard holds are exactly what is left to label.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import JobError
from ..events import log

VERSION = 1
Range = tuple[int, int]  # [start, end) of input indices


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def to_ranges(indices: Iterable[int]) -> list[Range]:
    """Sorted, merged [start, end) ranges of a set of indices."""
    ranges: list[list[int]] = []
    for i in sorted(indices):
        if ranges and i == ranges[-1][1]:
            ranges[-1][1] = i + 1
        elif ranges and i < ranges[-1][1]:
            raise ValueError(f"index {i} twice")
        else:
            ranges.append([i, i + 1])
    return [(a, b) for a, b in ranges]


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def subtract(span: Range, covered: list[Range]) -> list[Range]:
    """The parts of span that no range in covered (sorted, merged) holds."""
    start, end = span
    left: list[Range] = []
    for a, b in covered:
        if b <= start or a >= end:
            continue
        if a > start:
            left.append((start, a))
        start = max(start, b)
    if start < end:
        left.append((start, end))
    return left


def overlaps(ranges: list[Range], covered: list[Range]) -> bool:
    return any(subtract(r, covered) != [r] for r in ranges)


def indices_digest(indices: Iterable[int]) -> str:
    h = hashlib.sha256()
    for i in indices:
        h.update(i.to_bytes(8, "little"))
    return h.hexdigest()[:16]


class Manifest:
    def __init__(self, output_dir: Path) -> None:
        self.dir = output_dir
        self.path = output_dir / "manifest.json"
        self.labels_dir = output_dir / "labels"
        self.input_dir = output_dir / "input"
        self.data: dict[str, Any] = {}
        self._lock: int | None = None

    # -- the folder -------------------------------------------------------------------------------------------------

    def open(self, input_fingerprint: dict[str, Any], labeler_fingerprint: dict[str, Any]) -> None:
        """Lock the folder (one job at a time; the lock goes with the process, however it ends), load the manifest,
        and refuse one made for another corpus or another student."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.labels_dir.mkdir(exist_ok=True)
        self.input_dir.mkdir(exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobError(
                "config", f"{self.dir} is in use by another label-corpus job", "wait for it, or use another output_dir"
            ) from None
        self._lock = fd
        if self.path.exists():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
            for key, now in (("input", input_fingerprint), ("labeler", labeler_fingerprint)):
                before = self.data.get(key)
                if before != now:
                    changed = sorted(k for k in {*before, *now} if before.get(k) != now.get(k)) if before else ["all"]
                    what = "corpus or its reading settings" if key == "input" else "student or its decoding settings"
                    raise JobError(
                        "config",
                        f"{self.dir} holds labels made from another {what} (changed: {', '.join(changed)})",
                        "use another output_dir for this run, or delete that folder to start over",
                    )
        else:
            self.data = {
                "version": VERSION,
                "input": input_fingerprint,
                "labeler": labeler_fingerprint,
                "prepared": {"complete": False, "parts": []},
                "shards": [],
            }
            self.save()
        for tmp in [*self.dir.glob(".tmp-*"), *self.input_dir.glob(".tmp-*"), *self.labels_dir.glob(".tmp-*")]:
            tmp.unlink(missing_ok=True)

    def save(self) -> None:
        self.data["updated"] = round(time.time(), 3)
        write_atomic(self.path, json.dumps(self.data, indent=1).encode("utf-8"))

    # -- prepared input ---------------------------------------------------------------------------------------------

    @property
    def prepared(self) -> dict[str, Any]:
        return self.data["prepared"]

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.prepared["parts"]

    @property
    def total(self) -> int:
        return sum(p["rows"] for p in self.parts)

    def add_part(self, part: dict[str, Any]) -> None:
        self.parts.append(part)
        self.save()

    # -- shards -----------------------------------------------------------------------------------------------------

    @property
    def shards(self) -> list[dict[str, Any]]:
        return self.data["shards"]

    def covered(self) -> list[Range]:
        return merge_ranges((a, b) for s in self.shards for a, b in s["ranges"])

    def done(self) -> int:
        return sum(s["rows"] for s in self.shards)

    def add_shard(self, file: Path, indices: list[int], counts: dict[str, int], **info: Any) -> None:
        ranges = to_ranges(indices)
        if overlaps(ranges, self.covered()):
            raise JobError("runtime", f"{file} holds rows another shard holds: refusing to list it twice")
        self.shards.append(
            {
                "file": str(file.relative_to(self.dir)),
                "ranges": [list(r) for r in ranges],
                "rows": len(indices),
                "indices_sha256": indices_digest(sorted(indices)),
                "counts": counts,
                **info,
            }
        )
        self.save()

    def reconcile(self) -> None:
        """Adopt whole shards in labels/ that the manifest does not list yet; delete what cannot be adopted."""
        import pyarrow.parquet as pq

        listed = {s["file"] for s in self.shards}
        for s in self.shards:
            if not (self.dir / s["file"]).is_file():
                raise JobError(
                    "data",
                    f"{self.dir / s['file']} is listed in the manifest but missing",
                    "restore the file, or delete the output folder to start over",
                )
        adopted = 0
        for file in sorted(self.labels_dir.rglob("*.parquet")):
            rel = str(file.relative_to(self.dir))
            if rel in listed:
                continue
            try:
                table = pq.read_table(file, columns=["index", "status"])
            except Exception as e:  # noqa: BLE001 - a file cut by a kill: no footer, or a footer that lies
                log(f"label-corpus: removing {rel}, which a kill cut short ({type(e).__name__})")
                file.unlink()
                continue
            indices = table.column("index").to_pylist()
            try:
                ranges = to_ranges(indices)
            except ValueError:
                ranges = []
            if not ranges or overlaps(ranges, self.covered()) or ranges[-1][1] > self.total:
                log(f"label-corpus: removing {rel}: its rows are held by another shard (or out of range)")
                file.unlink()
                continue
            with file.open("rb") as f:
                os.fsync(f.fileno())
            statuses = table.column("status").to_pylist()
            counts = {k: statuses.count(k) for k in sorted(set(statuses))}
            self.add_shard(file, indices, counts, adopted=True)
            adopted += 1
        if adopted:
            log(f"label-corpus: adopted {adopted} finished shard(s) that the manifest did not list yet")
