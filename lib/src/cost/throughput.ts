// The student's throughput: measured here by the infer job over corpus records, or imported from another run's
// run.json (a GPU run priced on a CPU machine).
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { sampleRecords } from "../corpus";
import { infer, inferConfig, type studentModel } from "../infer";
import { hardware } from "../notebook/machine";
import * as paths from "../paths";
import type { Workspace } from "../paths";
import { describeIssues } from "../prices";
import type { OnProgress } from "../progress";
import { loadHardware, readGpuBench, throughputOnGpu, type GpuBenchThroughput } from "./gpu-estimate";
import type { StudentThroughput } from "./table";

// The run.json a GPU inference run writes: { ..., "results": { "throughput": { "records_per_s": 231.4,
// "tokens_per_s": 73500, "hardware": "NVIDIA H100 80GB HBM3", ...more } } }. Other keys are ignored.
const RunThroughputSchema = z.object({
  results: z.object({
    throughput: z.object({
      records_per_s: z.number().positive(),
      tokens_per_s: z.number().positive(),
      hardware: z.string().min(1),
    }),
  }),
});

export interface MeasuredThroughput {
  recordsPerSecond: number;
  tokensPerSecond: number;
  hardware: string;
}

/** Throughput measured by a GPU run, from its run.json (shape above). */
export async function importThroughput(runJsonFile: string): Promise<MeasuredThroughput> {
  const file = paths.resolve(runJsonFile);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.promises.readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`Cannot read run results from ${file}: ${(err as Error).message}`);
  }
  const parsed = RunThroughputSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${file} has no usable results.throughput { records_per_s, tokens_per_s, hardware }:\n${describeIssues(parsed.error)}`);
  }
  const t = parsed.data.results.throughput;
  return { recordsPerSecond: t.records_per_s, tokensPerSecond: t.tokens_per_s, hardware: t.hardware };
}

/** Write n corpus records as {id, text} JSONL (the infer job's corpus input). */
export async function writeCorpusSample(corpus: string | string[], n: number, seed: number, file: string): Promise<number> {
  const { records } = await sampleRecords(corpus, { n, seed, dedupe: false });
  fs.writeFileSync(file, records.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");
  return records.length;
}

/**
 * Student throughput: measured here by infer over n corpus records (not the test set: the corpus is the real job),
 * or, with `importFrom`, read from another run's run.json (a GPU run priced on a CPU machine).
 */
export async function measureThroughput(ws: Workspace, student: ReturnType<typeof studentModel>, o: { corpus: string | string[]; n: number; seed: number; taskName: string; batchSize: number; engine: string; importFrom?: string; onProgress?: OnProgress }): Promise<StudentMeasurement> {
  if (o.importFrom) return { ...(await importThroughput(o.importFrom)), records: 0, engine: `imported from ${o.importFrom}`, tokensPerRecord: null };
  paths.ensureDir(ws.throughput);
  const input = path.join(ws.throughput, "corpus-sample.jsonl");
  await writeCorpusSample(o.corpus, o.n, o.seed, input);
  const r = await infer(inferConfig({ ...student, task_file: o.taskName, input_file: input, output_file: path.join(ws.throughput, "predictions.jsonl"), batch_size: o.batchSize, engine: o.engine as "auto" }), { onProgress: o.onProgress });
  const hw = hardware();
  return {
    recordsPerSecond: r.metrics.records_per_s,
    tokensPerSecond: r.metrics.tokens_per_s,
    hardware: r.metrics.device.startsWith("cuda") && hw.gpu ? hw.gpu : `${hw.cpu} (${hw.cores} cores, CPU)`,
    records: r.metrics.records,
    engine: r.metrics.engine,
    tokensPerRecord: r.metrics.records > 0 ? (r.metrics.input_tokens + r.metrics.output_tokens) / r.metrics.records : null,
  };
}

/** What measureThroughput found: where, how fast, and what one record cost the student in tokens (prompt + generated;
 *  null when imported). */
export interface StudentMeasurement extends MeasuredThroughput {
  records: number;
  engine: string;
  tokensPerRecord: number | null;
}

/**
 * The student priced on each GPU rate, honestly: measured where it (or the GPU bench's model of its size) ran on that
 * chip, otherwise estimated from data/hardware.json and the student's FLOPs (gpu-estimate.ts). `paramsTotal` is the
 * student's parameter count (train.studentParams); `gpuBench` defaults to bench/results/gpu.json when it exists.
 */
export function studentOnGpus(measured: StudentMeasurement, o: { paramsTotal: number | null; gpuRates: StudentThroughput["gpuRates"]; name?: string; gpuBench?: GpuBenchThroughput | null }): StudentThroughput {
  const workload = o.paramsTotal && measured.tokensPerRecord ? { paramsTotal: o.paramsTotal, tokensPerRecord: measured.tokensPerRecord } : null;
  const hardware = loadHardware();
  const gpuBench = o.gpuBench === undefined ? readGpuBench() : o.gpuBench;
  return { gpuRates: o.gpuRates, ...(o.name ? { name: o.name } : {}), onGpu: (gpu) => throughputOnGpu(gpu, { measured, workload, hardware, gpuBench }) };
}
