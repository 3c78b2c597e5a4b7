"""Phase 2 on Ray: the same job as a Ray Data pipeline, on a local Ray (ray.init()) or a cluster (ray_address, else
RAY_ADDRESS). read_parquet of the input parts with rows left -> rows the manifest holds dropped -> map_batches on an
actor pool of student engines (`workers` actors: one per GPU, or per CPU slot here) -> write_parquet into labels/.
On GPUs (gpus_per_worker > 0) the engines are ray.data.llm's vLLM processor instead (vllm_processor.py). Ray schedules
everything; nothing here hands out work.

Resume: write_parquet writes each file in place, so a kill can cut one short. When the run ends, and when the next run
starts, manifest.reconcile adopts every file whose footer reads back and whose rows no other shard holds, and deletes
the rest; what no adopted file holds is what the next run reads.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from ..events import log
from ..task import Task
from .config import LabelCorpusConfig
from .local import CHUNK_BATCHES, remaining_parts
from .manifest import Manifest
from .prepare import part_path
from .rows import SHARD_COMPRESSION, Progress, label_rows, shard_schema


class StudentWorker:
    """One engine replica in the actor pool: the model loads once, then each batch of input rows comes back as shard
    rows (rows.label_rows, the same code the one-process runner uses)."""

    def __init__(self, config: dict[str, Any], threads: int) -> None:
        import torch

        from ..engines import get_engine, select_engine
        from ..task import load_task
        from .config import LabelCorpusConfig

        torch.set_num_threads(threads)
        self.config = LabelCorpusConfig.model_validate(config)
        self.task = load_task(self.config.task_file)
        engine = select_engine(self.config.engine, self.config.device)
        self.labeler = get_engine(engine).open(self.config.infer_config(), self.task)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        columns = label_rows(batch.to_pydict(), self.labeler, self.task, chunk=max(batch.num_rows, 1))
        return pa.table(columns, schema=shard_schema(self.task))


def drop_held(batch: Any, held: list[list[int]]) -> Any:
    """The batch's rows whose index no listed shard holds (held: merged [start, end) ranges)."""
    import numpy as np

    index = batch.column("index").to_numpy()
    keep = np.ones(len(index), dtype=bool)
    for a, b in held:
        keep &= ~((index >= a) & (index < b))
    return batch.filter(keep)


AGENT_PORTS = ("metrics_agent_port", "metrics_export_port", "dashboard_agent_listen_port", "runtime_env_agent_port")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agent_ports_given() -> None:
    """Give a local Ray's agents their ports up front. Without them the raylet waits for each agent to write its port
    to a file, a wait of fixed length (RAY_agent_register_timeout_ms does not reach it in Ray 2.60): on two busy
    cores the Python agents took ~35 s to start and the raylet aborted ("Timed out waiting for file
    .../metrics_agent_port_..."). ray.init takes no argument for these ports, so the parameters it builds get them,
    and the raylet's command line gets the one Ray 2.60 leaves out (dashboard_agent_listen_port, a raylet flag)."""
    from ray._private import parameter, ray_constants, services

    if getattr(parameter.RayParams, "_distill_ports", False):
        return
    original_init = parameter.RayParams.__init__
    original_start = services.start_ray_process
    listen_port: dict[str, int] = {}

    def init_with_ports(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for name in AGENT_PORTS:
            if hasattr(self, name) and not getattr(self, name):
                setattr(self, name, _free_port())
        listen_port["port"] = self.dashboard_agent_listen_port

    def start_with_listen_port(command: list[str], process_type: str, *args: Any, **kwargs: Any) -> Any:
        if process_type == ray_constants.PROCESS_TYPE_RAYLET and "port" in listen_port:
            if not any(c.startswith("--dashboard_agent_listen_port") for c in command):
                command = [*command, f"--dashboard_agent_listen_port={listen_port['port']}"]
        return original_start(command, process_type, *args, **kwargs)

    parameter.RayParams.__init__ = init_with_ports  # type: ignore[method-assign]
    services.start_ray_process = start_with_listen_port
    parameter.RayParams._distill_ports = True  # type: ignore[attr-defined]


def init_ray(config: LabelCorpusConfig) -> Any:
    import ray

    address = config.ray_address or os.environ.get("RAY_ADDRESS") or None
    env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"), "TOKENIZERS_PARALLELISM": "false"}
    if os.environ.get("DISTILL_ROOT"):
        env["DISTILL_ROOT"] = os.environ["DISTILL_ROOT"]
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    if address is not None:
        kwargs["runtime_env"] = {"env_vars": env}
    else:
        # A local Ray's workers inherit this process's environment: a runtime_env would only add its agent's set-up
        # to every worker's start (minutes on two busy cores).
        os.environ.update(env)
        # Ray's start-up waits (raylet, its agents' ports) are tuned for idle machines. Generous waits cost nothing.
        waits = ("RAY_agent_register_timeout_ms", "RAY_raylet_start_wait_time_s", "RAY_gcs_server_port_wait_time_s")
        for name in waits:
            os.environ.setdefault(name, "180000" if name.endswith("_ms") else "180")
        _agent_ports_given()
        # A local Ray: enough logical CPUs for the actors plus the read and write tasks beside them (they mostly wait).
        needed = int(config.workers * config.cpus_per_worker) + 1
        # The object store holds a few parts in flight, not the corpus: a small one leaves the memory to the engines.
        kwargs.update(
            num_cpus=max(os.cpu_count() or 1, needed), include_dashboard=False, object_store_memory=512 * 1024**2
        )
    ray.init(address=address, **kwargs)
    log(f"label-corpus: Ray {'cluster at ' + address if address else 'local instance'}: {ray.cluster_resources()}")
    return ray


class ShardWatcher:
    """Progress while write_parquet runs: every few seconds, the rows in labels/ files whose footer reads back."""

    def __init__(self, manifest: Manifest, progress: Progress) -> None:
        self.manifest, self.progress = manifest, progress
        self.listed = {s["file"] for s in manifest.shards}
        self.rows: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import pyarrow.parquet as pq

        while not self.stop.wait(self.progress.every_s):
            for file in self.manifest.labels_dir.rglob("*.parquet"):
                rel = str(file.relative_to(self.manifest.dir))
                if rel in self.listed or rel in self.rows:
                    continue
                try:
                    self.rows[rel] = pq.read_metadata(file).num_rows
                except Exception:  # noqa: BLE001, S112 - still being written
                    continue
            self.progress.set_done(self.manifest.done() + sum(self.rows.values()))

    def __enter__(self) -> ShardWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def run_ray(config: LabelCorpusConfig, task: Task, manifest: Manifest, progress: Progress) -> dict[str, Any]:
    todo = remaining_parts(manifest)
    if not todo:
        return {"engine": "ray"}
    ray = init_ray(config)
    held = [list(r) for r in manifest.covered()]
    # Blocks of records_per_shard rows (the reader merges small files into one block, which left one actor idle):
    # the actors share them, and each written file holds about one part's rows, so a killed driver loses at most the
    # parts in flight, as the one-process runner does.
    ds = ray.data.read_parquet([str(part_path(manifest, part)) for part, _ in todo])
    ds = ds.repartition(target_num_rows_per_block=config.records_per_shard)
    if held:
        ds = ds.map_batches(drop_held, fn_kwargs={"held": held}, batch_format="pyarrow")
    if config.gpus_per_worker > 0:
        from .vllm_processor import label_on_gpus

        ds = label_on_gpus(ds, config, task)
        engine = "ray.data.llm vLLM"
    else:
        ds = ds.map_batches(
            StudentWorker,
            fn_constructor_kwargs={"config": config.model_dump(), "threads": max(1, int(config.cpus_per_worker))},
            batch_size=config.batch_size * CHUNK_BATCHES,
            batch_format="pyarrow",
            concurrency=config.workers,
            num_cpus=config.cpus_per_worker,
        )
        engine = "ray transformers"
    log(f"label-corpus: Ray Data pipeline over {len(todo)} part(s) with {config.workers} worker(s)")
    progress.restart()
    with ShardWatcher(manifest, progress):
        ds.write_parquet(
            str(manifest.labels_dir), min_rows_per_file=config.records_per_shard, compression=SHARD_COMPRESSION
        )
    manifest.reconcile()
    ray.shutdown()
    return {"engine": engine}
