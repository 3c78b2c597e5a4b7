"""Record ids, as lib/src/corpus/ids.ts gives them: unique across every file of one read. A row's id is its id column;
else <collection>/<slug> when it has a slug (the file's stem without a collection), with -2, -3 ... should the slug
come again; else <file>#<row>. <file> is the file's name, or its path from the files' common folder when two files of
the read share a name. A later row with an id already given is skipped as a duplicate."""

from __future__ import annotations

import hashlib
import os


class IdRegistry:
    """Every id handed out in one read, kept as a 64-bit hash (a set of ints: ~70 bytes an id, not the id's string)."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def _add(self, key: str) -> bool:
        digest = int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True

    def assign(
        self, *, explicit: str | None, slug: str | None, collection: str | None, label: str, stem: str, row: int
    ) -> tuple[str, bool]:
        """(id, True), or (the id that is taken, False) for a duplicate."""
        if explicit is None and slug:
            base = f"{collection or stem}/{slug}"
            candidate, k = base, 2
            while not self._add(candidate):
                candidate, k = f"{base}-{k}", k + 1
            return candidate, True
        candidate = explicit if explicit is not None else f"{label}#{row}"
        return candidate, self._add(candidate)


def _common_folder(files: list[str]) -> list[str]:
    common = os.path.dirname(files[0]).split(os.sep)
    for f in files[1:]:
        parts = os.path.dirname(f).split(os.sep)
        n = 0
        while n < len(common) and n < len(parts) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return common


def file_labels(files: list[str]) -> dict[str, str]:
    """How ids name each file: its base name, or its "/"-separated path from the common folder when another file of
    the read has the same base name."""
    counts: dict[str, int] = {}
    for f in files:
        counts[os.path.basename(f)] = counts.get(os.path.basename(f), 0) + 1
    root = os.sep.join(_common_folder(files)) or os.sep
    return {
        f: "/".join(os.path.relpath(f, root).split(os.sep)) if counts[os.path.basename(f)] > 1 else os.path.basename(f)
        for f in files
    }
