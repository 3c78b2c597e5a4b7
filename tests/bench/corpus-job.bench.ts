// The corpus job (npm run label-corpus): records/s on this CPU for the tiny random Llama and SmolLM2-135M, one process
// vs Ray Data with 2 engine actors, Ray's overhead over one process at equal workers (1), and the peak memory of the
// job's reader (python-runtime corpus/) streaming a ~2M-record corpus (the shipped english-original repeated).
// Timings on a shared 2-core machine are noisy: other jobs run beside this one (the load average is recorded).
// BENCH_CORPUS_COPIES (default 103, ~2.0M records) and BENCH_SKIP_MEMORY=1 shrink or skip the memory part;
// BENCH_ONLY_MEMORY=1 skips the labeling runs.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { corpus, inference, paths } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const env = { OMP_NUM_THREADS: "1" };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "corpus-job-bench-"));

interface Run { records: number; runtimeS: number; recordsPerS: number; wallRecordsPerS: number }

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
  const result = await inference.labelCorpus(config, { env: env });
  const m = result.metrics;
  const runtimeS = result.done.runtime_s;
  console.log(`${name}: ${m.done} rows, ${m.records_per_s} rec/s while labeling, ${runtimeS.toFixed(1)} s in all`);
  return { records: m.done, runtimeS: runtimeS, recordsPerS: m.records_per_s, wallRecordsPerS: m.done / runtimeS };
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
  const tinyRows = 200;
  const smolRows = 16;
  const r = (x: number) => Number(x.toFixed(2));
  const metrics: BenchMetric[] = [];
  const runs: Record<string, Run> = {};
  // Results are written after every run: on a busy machine the whole benchmark takes long, and a stopped one keeps
  // what it measured.
  const record = (metric: BenchMetric) => {
    metrics.push(metric);
    writeBenchResult("corpus-job", metrics, { runs: runs, loadAverage: os.loadavg(), complete: false });
  };
  if (process.env.BENCH_ONLY_MEMORY !== "1") {
    runs.tinyOne = await labelRun("tiny-one", tiny, tinyRows, {});
    record({ name: "tiny model, one process, records/s", value: r(runs.tinyOne.recordsPerS), unit: "rec/s", note: `${tinyRows} records, batch 8, max_new_tokens from the task; ${runs.tinyOne.runtimeS.toFixed(1)} s with model loading and prepare` });
    runs.tinyRay1 = await labelRun("tiny-ray-1", tiny, tinyRows, { ray: true, workers: 1 });
    record({ name: "Ray overhead at equal workers (1), tiny model", value: r(runs.tinyRay1.runtimeS - runs.tinyOne.runtimeS), unit: "s", note: `job wall time Ray 1 worker ${runs.tinyRay1.runtimeS.toFixed(1)} s vs one process ${runs.tinyOne.runtimeS.toFixed(1)} s (${(runs.tinyRay1.runtimeS / runs.tinyOne.runtimeS).toFixed(1)}x): Ray start-up and actor start-up` });
    runs.tinyRay2 = await labelRun("tiny-ray-2", tiny, tinyRows, { ray: true, workers: 2 });
    record({ name: "tiny model, Ray 2 workers, records/s", value: r(runs.tinyRay2.recordsPerS), unit: "rec/s", note: `from the Ray pipeline's start (actor start-up included); ${runs.tinyRay2.runtimeS.toFixed(1)} s in all` });
    runs.smolOne = await labelRun("smollm2-one", "smollm2-135m-instruct", smolRows, {});
    record({ name: "SmolLM2-135M, one process, records/s", value: r(runs.smolOne.recordsPerS), unit: "rec/s", note: `${smolRows} records (base model, untrained: its answers mostly do not parse; speed only)` });
    runs.smolRay2 = await labelRun("smollm2-ray-2", "smollm2-135m-instruct", smolRows, { ray: true, workers: 2 });
    record({ name: "SmolLM2-135M, Ray 2 workers, records/s", value: r(runs.smolRay2.recordsPerS), unit: "rec/s", note: `${runs.smolRay2.runtimeS.toFixed(1)} s in all` });
  }
  if (process.env.BENCH_SKIP_MEMORY !== "1") {
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
