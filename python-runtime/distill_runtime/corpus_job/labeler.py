"""Which student made the labels: a fingerprint of the model, the adapter's files and the decoding settings. A rerun
with another student into the same output folder is refused (manifest.open), so one folder never mixes students."""

from __future__ import annotations

import hashlib
from typing import Any

from ..task import Task, resolve_path
from .config import LabelCorpusConfig


def _folder_digest(folder: str | None) -> str | None:
    """Names, sizes and modification times of a folder's files (hashing gigabytes of merged weights would take
    minutes; a retrained adapter changes all three)."""
    if folder is None:
        return None
    path = resolve_path(folder)
    if not path.exists():
        return "missing"
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = f.stat()
        h.update(f"{f.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def labeler_fingerprint(config: LabelCorpusConfig, task: Task) -> dict[str, Any]:
    return {
        "model": config.model,
        "adapter_dir": config.adapter_dir,
        "adapter_files": _folder_digest(config.adapter_dir),
        "merged_dir": config.merged_dir,
        "merged_files": _folder_digest(config.merged_dir),
        "merge": config.merge,
        "prompt_template": task.prompt_template,
        "fields": [f.model_dump() for f in task.fields],
        "max_new_tokens": config.max_new_tokens,
    }
