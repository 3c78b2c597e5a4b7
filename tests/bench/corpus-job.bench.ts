// The corpus job (npm run label-corpus): records/s on this CPU for the tiny random Llama and SmolLM2-135M, one process
// vs Ray Data with 2 engine actors, Ray's overhead over one process at equal workers (1), and the peak memory of the
// job's reader (python-runtime corpus/) streaming a ~2M-record corpus (the shipped english-original repeated).
// Two rates per run: "steady" counts the rows labeled between the first progress event that saw labeled rows and the
// end (model loading, Ray's start-up and the first shard excluded: what a long corpus job runs at), "wall" divides
// all rows by the job's whole time (what a short job gets). Ray's overhead is the wall time it adds at equal workers.
// Timings on a shared 2-core machine are noisy: other jobs run beside this one (the load average is recorded).
// BENCH_CORPUS_COPIES (default 103, ~2.0M records) and BENCH_SKIP_MEMORY=1 shrink or skip the memory part;
// BENCH_ONLY_MEMORY=1 skips the labeling runs. A part that is skipped keeps its metrics from the last results file.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { corpus, inference, paths } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const env = { OMP_NUM_THREADS: "1" };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "corpus-job-bench-"));

interface Run { records: number; runtimeS: number; recordsPerS: number; wallRecordsPerS: number; steadyRecordsPerS: number | null; loadAverage: number[] }

/** Rows per second between the first progress event with labeled rows and the job's end. */
function steadyRate(marks: { done: number; t: number }[], end: { done: number; t: number }): number | null {
  const first = marks.find((m) => m.done > 0 && m.done < end.done);
  return first && end.t > first.t ? (end.done - first.done) / ((end.t - first.t) / 1000) : null;
}

async function labelRun(name: string, model: string, limit: number, o: { ray?: boolean; workers?: number; batchSize?: number }): Promise<Run> {
  const config = inference.labelCorpusConfig({
    model: model,
    corpus: corpus.defaultCorpus,
    limit: limit,
    output_dir: path.join(tmp, name),
    records_per_shard: Math.max(1, Math.ceil(limit / 8)),
    batch_size: o.batchSize ?? 8,
    ray: o.ray ?? false,
    workers: o.workers ?? 1,
    progress_every_s: 5,
  });
  // Two processes on two cores: each engine gets one thread, as Ray's actors do (cpus_per_worker 1).
  const marks: { done: number; t: number }[] = [];
  const result = await inference.labelCorpus(config, { env: env, onProgress: (p) => marks.push({ done: p.done, t: Date.now() }) });
  const m = result.metrics;
  const runtimeS = result.done.runtime_s;
  const steady = steadyRate(marks, { done: m.done, t: Date.now() });
  console.log(`${name}: ${m.done} rows, ${m.records_per_s} rec/s job figure, steady ${steady?.toFixed(2)} rec/s, ${runtimeS.toFixed(1)} s in all`);
  return { records: m.done, runtimeS: runtimeS, recordsPerS: m.records_per_s, wallRecordsPerS: m.done / runtimeS, steadyRecordsPerS: steady, loadAverage: os.loadavg() };
}

/** The english-original corpus written `copies` times into one JSONL.gz, slugs suffixed so every id is new. */
function writeCopies(copies: number, file: string): number {
  const lines = corpus.defaultCorpus.flatMap((f) => zlib.gunzipSync(fs.readFileSync(f)).toString("utf8").split("\n").filter((l) => l.trim() !== ""));
  const fd = fs.openSync(file, "w");
  for (let c = 0; c < copies; c++) {
    const text = lines.map((line) => {
      const r = JSON.parse(line);
      r.slug = `${r.slug}-copy${c}`;
      return JSON.stringify(r) + "\n";
    });
    fs.writeSync(fd, zlib.gzipSync(text.join(""), { level: 1 })); // concatenated gzip members read as one stream
  }
  fs.closeSync(fd);
  return lines.length * copies;
}

const READER_PROBE = `
import json, resource, sys, time
from distill_runtime.corpus import read_corpus
from distill_runtime.task import load_task
task = load_task("recipes")
start, rows = time.time(), 0
for block in read_corpus([sys.argv[1]], task):
    rows += len(block)
print(json.dumps({"rows": rows, "seconds": time.time() - start, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

async function main(): Promise<void> {
  const tiny = path.join(tmp, "tiny-model");
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const tinyRows = Number(process.env.BENCH_TINY_ROWS ?? 2000);
  const smolRows = Number(process.env.BENCH_SMOL_ROWS ?? 48);
  const r = (x: number) => Number(x.toFixed(2));
  const onlyMemory = process.env.BENCH_ONLY_MEMORY === "1";
  const skipMemory = process.env.BENCH_SKIP_MEMORY === "1";
  const isMemory = (m: BenchMetric) => m.name.startsWith("peak RSS");
  // A part not run this time keeps what the last run measured (its metrics and details).
  const resultsFile = path.join(paths.root, "bench", "results", "corpus-job.json");
  const last = fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, "utf8")) as { metrics: BenchMetric[]; details?: { runs?: Record<string, Run> } }) : null;
  const kept = (last?.metrics ?? []).filter((m) => (onlyMemory && !isMemory(m)) || (skipMemory && isMemory(m)));
  const metrics: BenchMetric[] = [...kept];
  const runs: Record<string, Run> = onlyMemory ? { ...(last?.details?.runs ?? {}) } : {};
  // Results are written after every run: on a busy machine the whole benchmark takes long, and a stopped one keeps
  // what it measured.
  const record = (metric: BenchMetric) => {
    metrics.push(metric);
    writeBenchResult("corpus-job", metrics, { runs: runs, loadAverage: os.loadavg(), complete: false });
  };
  const rates = (run: Run) => `steady ${run.steadyRecordsPerS?.toFixed(2) ?? "-"} rec/s; ${run.records} records in ${run.runtimeS.toFixed(1)} s in all (${run.wallRecordsPerS.toFixed(2)} rec/s with start-up), load ${run.loadAverage.map((x) => x.toFixed(1)).join(" ")}`;
  const steady = (run: Run) => (run.steadyRecordsPerS === null ? null : r(run.steadyRecordsPerS));
  const ratio = (a: Run, b: Run) => (a.steadyRecordsPerS && b.steadyRecordsPerS ? r(a.steadyRecordsPerS / b.steadyRecordsPerS) : null);
  if (!onlyMemory) {
    runs.tinyOne = await labelRun("tiny-one", tiny, tinyRows, {});
    record({ name: "tiny model, one process, records/s", value: steady(runs.tinyOne), unit: "rec/s", note: `batch 8, 1 thread; ${rates(runs.tinyOne)}` });
    runs.tinyRay1 = await labelRun("tiny-ray-1", tiny, tinyRows, { ray: true, workers: 1 });
    record({ name: "tiny model, Ray 1 worker, records/s", value: steady(runs.tinyRay1), unit: "rec/s", note: rates(runs.tinyRay1) });
    record({ name: "Ray overhead at equal workers (1), tiny model", value: r(runs.tinyRay1.runtimeS - runs.tinyOne.runtimeS), unit: "s", note: `job wall time Ray 1 worker ${runs.tinyRay1.runtimeS.toFixed(1)} s vs one process ${runs.tinyOne.runtimeS.toFixed(1)} s: Ray's start-up, its actor's model loading, moving rows through the object store` });
    runs.tinyRay2 = await labelRun("tiny-ray-2", tiny, tinyRows, { ray: true, workers: 2 });
    record({ name: "tiny model, Ray 2 workers, records/s", value: steady(runs.tinyRay2), unit: "rec/s", note: rates(runs.tinyRay2) });
    record({ name: "tiny model, Ray 2 workers / one process (steady)", value: ratio(runs.tinyRay2, runs.tinyOne), unit: "x", note: "2 cores: at most 2x" });
    runs.smolOne = await labelRun("smollm2-one", "smollm2-135m-instruct", smolRows, {});
    record({ name: "SmolLM2-135M, one process, records/s", value: steady(runs.smolOne), unit: "rec/s", note: `base model (speed only; the labels are the constrained decoder's); ${rates(runs.smolOne)}` });
    runs.smolRay2 = await labelRun("smollm2-ray-2", "smollm2-135m-instruct", smolRows, { ray: true, workers: 2 });
    record({ name: "SmolLM2-135M, Ray 2 workers, records/s", value: steady(runs.smolRay2), unit: "rec/s", note: rates(runs.smolRay2) });
    record({ name: "SmolLM2-135M, Ray 2 workers / one process (steady)", value: ratio(runs.smolRay2, runs.smolOne), unit: "x", note: "2 cores: at most 2x" });
  }
  if (!skipMemory) {
    const copies = Number(process.env.BENCH_CORPUS_COPIES ?? 103);
    const big = path.join(tmp, "big.jsonl.gz");
    const rows = writeCopies(copies, big);
    const child = spawnSync(paths.python, ["-c", READER_PROBE, big], { encoding: "utf8", env: { ...process.env, ...env } });
    if (child.status !== 0) throw new Error(`the reader probe failed: ${child.stderr}`);
    const probe = JSON.parse(child.stdout.trim().split("\n").pop()!) as { rows: number; seconds: number; peak_mib: number };
    const gib = fs.statSync(big).size / 2 ** 30;
    record({ name: `peak RSS of the job's reader streaming ${(rows / 1e6).toFixed(2)}M records`, value: Math.round(probe.peak_mib), unit: "MiB", goal: "<= 1024", met: probe.peak_mib <= 1024, note: `${probe.rows} rows (${gib.toFixed(2)} GiB gzip) in ${probe.seconds.toFixed(0)} s: ${Math.round(probe.rows / probe.seconds)} rows/s; the id registry is what grows` });
  }
  writeBenchResult("corpus-job", metrics, { runs: runs, loadAverage: os.loadavg(), complete: true });
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});
