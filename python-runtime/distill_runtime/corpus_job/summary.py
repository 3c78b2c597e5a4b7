"""The done event's metrics: rows by status, label rates (the share of each boolean field that is true, the counts of
each enum value), throughput and the projected cost, read back from the shards the manifest lists."""

from __future__ import annotations

from typing import Any

from ..task import Task
from .config import LabelCorpusConfig
from .manifest import Manifest
from .rows import STATUSES, Progress


def label_rates(manifest: Manifest, task: Task) -> dict[str, Any]:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    files = [str(manifest.dir / s["file"]) for s in manifest.shards]
    if not files:
        return {}
    table = ds.dataset(files, format="parquet").to_table(columns=["status", *task.field_names])
    ok = table.filter(pc.equal(table.column("status"), "ok"))
    rates: dict[str, Any] = {}
    for spec in task.fields:
        column = ok.column(spec.name)
        if spec.type == "boolean":
            rates[spec.name] = round(pc.sum(column).as_py() / ok.num_rows, 4) if ok.num_rows else None
        elif spec.type == "enum":
            counts = pc.value_counts(column).to_pylist()
            rates[spec.name] = {c["values"]: c["counts"] for c in counts}
        elif spec.type == "integer" and ok.num_rows:
            rates[spec.name] = {"mean": round(pc.mean(column).as_py(), 4)}
    return rates


def summarize(
    config: LabelCorpusConfig, task: Task, manifest: Manifest, progress: Progress, info: dict[str, Any]
) -> dict[str, Any]:
    counts = {s: sum(shard["counts"].get(s, 0) for shard in manifest.shards) for s in STATUSES}
    labeled = counts["ok"] + counts["invalid_output"]
    figures = progress.figures()
    return {
        "done": manifest.done(),
        "total": manifest.total,
        "complete": manifest.done() == manifest.total,
        "shards": len(manifest.shards),
        "counts": counts,
        "invalid_output_rate": round(counts["invalid_output"] / labeled, 6) if labeled else 0.0,
        "truncated": manifest.prepared.get("truncated", 0),
        "label_rates": label_rates(manifest, task),
        "records_per_s": figures["records_per_s"],
        "labeled_this_run": progress.done - progress.started_done,
        "generation_s": round(progress.elapsed, 3),
        "projected_cost_usd": figures["projected_cost_usd"],
        "gpu_usd_per_hour": config.gpu_usd_per_hour,
        "workers": config.workers,
        "ray": config.ray,
        **{k: v for k, v in info.items() if v is not None},
    }
