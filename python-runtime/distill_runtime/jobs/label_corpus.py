"""`python -m distill_runtime label-corpus --config f.json`: the student labels a whole corpus into Parquet shards.

corpus_job/ holds the parts (prepare, manifest, the one-process and the Ray runners); this reads the config, opens
the output folder, runs them, and reports: progress events with done/total, rows/s, ETA and the projected cost, and
a done event with the counts by status and the label rates.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import read_config_file
from ..corpus_job.config import LabelCorpusConfig, load_config
from ..corpus_job.labeler import labeler_fingerprint
from ..corpus_job.local import run_local
from ..corpus_job.manifest import Manifest
from ..corpus_job.prepare import input_fingerprint, prepare
from ..corpus_job.rows import Progress
from ..corpus_job.summary import summarize
from ..engines import select_engine
from ..events import emit, log
from ..task import load_task, resolve_path


def run(config: LabelCorpusConfig) -> dict[str, Any]:
    started = time.perf_counter()
    task = load_task(config.task_file)
    engine = "vllm" if config.ray and config.gpus_per_worker > 0 else select_engine(config.engine, config.device)
    manifest = Manifest(resolve_path(config.output_dir))
    manifest.open(input_fingerprint(config, task), labeler_fingerprint(config, task))
    emit(
        "start",
        job="label-corpus",
        config=config.model_dump(),
        device=config.device,
        info={"engine": engine, "ray": config.ray, "workers": config.workers, "output_dir": str(manifest.dir)},
    )
    prepare(config, task, manifest)
    manifest.reconcile()
    progress = Progress(
        manifest.total, manifest.done(), config.workers, config.gpu_usd_per_hour, config.progress_every_s
    )
    progress.emit()
    if config.ray:
        from ..corpus_job.ray_pipeline import run_ray

        info = run_ray(config, task, manifest, progress)
    else:
        info = run_local(config, task, manifest, engine, progress)
    progress.set_done(manifest.done())
    progress.emit()
    metrics = summarize(config, task, manifest, progress, info)
    log(
        f"label-corpus: {metrics['done']}/{metrics['total']} rows in {len(manifest.shards)} shard(s) under "
        f"{manifest.labels_dir}"
    )
    emit(
        "done",
        job="label-corpus",
        runtime_s=round(time.perf_counter() - started, 3),
        outputs={
            "output_dir": str(manifest.dir),
            "labels_dir": str(manifest.labels_dir),
            "manifest": str(manifest.path),
        },
        metrics=metrics,
    )
    return metrics


def run_from_file(path: str) -> None:
    run(load_config(read_config_file(path), source=str(path)))
