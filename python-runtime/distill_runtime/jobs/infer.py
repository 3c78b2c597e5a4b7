"""`python -m distill_runtime infer --config f.json`: label records with the student model (greedy decoding).

Input: a JSONL of records (OpenAI chat fine-tuning lines or {"id", "text"} corpus lines; task.read_examples).
Output: a JSONL with one line per input line, in input order (inference/output.py says what a line holds). The job
reads its config, picks an engine (engines/: transformers, or vLLM on CUDA), lets it write the rows, and reports
throughput and parse failures in its done event.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..config import read_config_file
from ..engines import get_engine, select_engine
from ..events import emit, log
from ..inference.config import InferConfig, load_config
from ..inference.output import Throughput
from ..task import load_task, read_examples, resolve_path


def run(config: InferConfig) -> dict[str, Any]:
    task = load_task(config.task_file)
    engine = select_engine(config.engine, config.device)
    examples = read_examples(config.input_file, task)
    if config.limit is not None:
        examples = examples[: config.limit]
    output = resolve_path(config.output_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Lines go to <output>.partial as batches finish (kept if the job dies: what is there is valid); only a finished
    # run takes the output name, so a half-written file is never mistaken for a result.
    partial = output.with_name(output.name + ".partial")
    partial.unlink(missing_ok=True)
    meter = Throughput(len(examples))
    job_started = time.perf_counter()
    log(f"infer: {len(examples)} records from {config.input_file} with the {engine} engine")

    def write(records: list[dict]) -> None:
        with partial.open("a", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)

    info = get_engine(engine).run(config, task, examples, write, meter)
    partial.touch()  # zero records still make an (empty) output file
    os.replace(partial, output)
    runtime_s = round(time.perf_counter() - job_started, 3)
    metrics = {
        "records": meter.done,
        "records_per_s": round(meter.done / meter.elapsed, 3),
        "tokens_per_s": round(meter.output_tokens / meter.elapsed, 2),
        "input_tokens": meter.input_tokens,
        "output_tokens": meter.output_tokens,
        "parse_failures": meter.parse_failures,
        "parse_failure_rate": round(meter.parse_failures / max(meter.done, 1), 6),
        "generation_s": round(meter.elapsed, 3),
        "runtime_s": runtime_s,
        "engine": engine,
        "device": info["device"],
        "max_new_tokens": info["max_new_tokens"],
        "batch_size": config.batch_size,
        # records whose text was cut to the task's student.max_input_tokens (training cuts the same way)
        "inputs_cut": info.get("inputs_cut", 0),
    }
    emit(
        "done",
        job="infer",
        runtime_s=metrics["runtime_s"],
        outputs={"output_file": str(output)},
        metrics=metrics,
    )
    return metrics


def run_from_file(path: str) -> None:
    run(load_config(read_config_file(path), source=str(path)))
