"""Phase 2 in one process: each input part with rows no shard holds is read, its missing rows labeled by the engine
(loaded once), and written as one shard, atomically, then listed in the manifest."""

from __future__ import annotations

import os
import time
from typing import Any

from ..engines import get_engine
from ..events import log
from ..task import Task
from .config import LabelCorpusConfig
from .manifest import Manifest, fsync_dir, subtract
from .prepare import part_path
from .rows import SHARD_COMPRESSION, Progress, label_rows, shard_schema

# Texts per label_batch call: the engine sorts them by length inside, so more than one batch pads less; small enough
# that progress moves and a kill loses little.
CHUNK_BATCHES = 4


def remaining_parts(manifest: Manifest) -> list[tuple[dict[str, Any], list[tuple[int, int]]]]:
    covered = manifest.covered()
    out = []
    for part in manifest.parts:
        left = subtract((part["first"], part["first"] + part["rows"]), covered)
        if left:
            out.append((part, left))
    return out


def write_shard(manifest: Manifest, name: str, columns: dict[str, list[Any]], task: Task, **info: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = manifest.labels_dir / name
    tmp = path.with_name(f".tmp-{name}-{os.getpid()}")
    pq.write_table(pa.table(columns, schema=shard_schema(task)), tmp, compression=SHARD_COMPRESSION)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    statuses = columns["status"]
    manifest.add_shard(path, columns["index"], {k: statuses.count(k) for k in sorted(set(statuses))}, **info)


def run_local(config: LabelCorpusConfig, task: Task, manifest: Manifest, engine: str, progress: Progress) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    todo = remaining_parts(manifest)
    if not todo:
        return {"device": None, "engine": engine}
    labeler = get_engine(engine).open(config.infer_config(), task)
    log(f"label-corpus: {engine} engine on {labeler.device}; {len(todo)} part(s) to label")
    progress.restart()
    chunk = config.batch_size * CHUNK_BATCHES
    for part, left in todo:
        table = pq.read_table(part_path(manifest, part))
        if left != [(part["first"], part["first"] + part["rows"])]:
            index = table.column("index")
            keep = (
                pc.or_(*[pc.and_(pc.greater_equal(index, a), pc.less(index, b)) for a, b in left])
                if len(left) > 1
                else pc.and_(pc.greater_equal(index, left[0][0]), pc.less(index, left[0][1]))
            )
            table = table.filter(keep)
        started = time.perf_counter()
        columns = label_rows(table.to_pydict(), labeler, task, chunk, progress.add)
        first = columns["index"][0]
        name = (
            f"part-{part['part']:05d}.parquet" if first == part["first"] else f"part-{part['part']:05d}-{first}.parquet"
        )
        write_shard(manifest, name, columns, task, engine=engine, seconds=round(time.perf_counter() - started, 3))
    return {"device": labeler.device, "engine": engine, "max_new_tokens": labeler.max_new_tokens}
