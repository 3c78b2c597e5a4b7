// The student's throughput on each GPU it is priced at, and how that figure was obtained (its "basis"). A throughput
// measured on a CPU never prices a GPU as if measured: a GPU row is "measured" only when the student (or the GPU
// bench's model of the same size) ran on that chip; otherwise it is "estimated", from data/hardware.json's peak and
// the model's FLOPs: classifying is mostly reading the prompt, so the roofline is prefill-bound, 2 x parameters FLOP
// per processed token at a stated MFU (the GPU bench's measured MFU when bench/results/gpu.json exists, else the
// table's assumed one).
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import * as paths from "../paths";
import { describeIssues } from "../prices";

export type Basis = "measured" | "estimated" | "list price";

/** A student throughput on one GPU, and where it comes from (shown in the cost table and results.cost.table). */
export interface PricedThroughput {
  recordsPerSecond: number;
  basis: "measured" | "estimated";
  basisNote: string;
}

// ---------------------------------------------------------------- the hardware table

const HardwareSchema = z.object({
  gpus: z.array(z.object({ match: z.string().min(1), bf16_dense_tflops: z.number().positive(), measured_matmul_tflops: z.number().positive().nullable() })).min(1),
  roofline: z.object({ mfu: z.number().gt(0).max(1), why: z.string().min(1) }),
});
export type HardwareTable = z.infer<typeof HardwareSchema> & { file: string };
export type GpuPeak = HardwareTable["gpus"][number];

export function loadHardware(file = path.join(paths.dataDir, "hardware.json")): HardwareTable {
  const parsed = HardwareSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file} is not a valid hardware table (gpus[], roofline { mfu, why }):\n${describeIssues(parsed.error)}`);
  return { ...parsed.data, file };
}

/** The table's entry whose `match` (e.g. "H100") a GPU name contains ("H100 SXM 80GB", "NVIDIA H100 80GB HBM3"). */
export function gpuPeak(hw: HardwareTable, gpuName: string): GpuPeak | null {
  return hw.gpus.find((g) => gpuName.toUpperCase().includes(g.match.toUpperCase())) ?? null;
}

// ---------------------------------------------------------------- the GPU bench's result

/** What notebook 4 uses of bench/results/gpu.json (bench/gpu.sh): the shape's inference throughput on a named GPU. */
export interface GpuBenchThroughput {
  file: string;
  date: string;
  hardware: string;
  shape: string;
  paramsTotal: number;
  recordsPerSecond: number;
  /** Inference MFU by the 2 x params yardstick (prompt + generated tokens), the roofline's own convention. */
  mfu: number;
}

const GpuBenchSchema = z.object({
  date: z.string(),
  details: z.object({
    shape: z.object({ name: z.string() }),
    // null where the run's inference phase failed: then there is nothing measured to use
    throughput: z.object({ records_per_s: z.number().positive().nullable(), mfu_2p: z.number().positive().nullable(), params_total: z.int().positive(), hardware: z.string().min(1) }),
  }),
});

export const defaultGpuBenchFile = (): string => path.join(paths.root, "bench", "results", "gpu.json");

/** The GPU bench's throughput, or null when it has not been run (no file, or a CPU run of the tiny check). */
export function readGpuBench(file = defaultGpuBenchFile()): GpuBenchThroughput | null {
  if (!fs.existsSync(file)) return null;
  const parsed = GpuBenchSchema.safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file} has no usable details.throughput { records_per_s, mfu_2p, params_total, hardware } (rerun bench/gpu.sh, or remove the file):\n${describeIssues(parsed.error)}`);
  const t = parsed.data.details.throughput;
  if (/\(CPU\)$/.test(t.hardware)) return null; // the tiny CPU check: says nothing about a GPU
  if (t.records_per_s === null || t.mfu_2p === null) return null;
  return { file, date: parsed.data.date, hardware: t.hardware, shape: parsed.data.details.shape.name, paramsTotal: t.params_total, recordsPerSecond: t.records_per_s, mfu: t.mfu_2p };
}

// ---------------------------------------------------------------- the estimate

/** What one record costs the student: its parameters and the tokens it processes (prompt + generated). */
export interface StudentWorkload {
  paramsTotal: number;
  tokensPerRecord: number;
}

/** Records/s of a prefill-bound roofline: mfu x peak FLOP/s over 2 x params x tokens per record. */
export function rooflineRecordsPerSecond(w: StudentWorkload, peakTflops: number, mfu: number): number {
  for (const [k, v] of Object.entries({ paramsTotal: w.paramsTotal, tokensPerRecord: w.tokensPerRecord, peakTflops, mfu })) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`rooflineRecordsPerSecond: ${k} must be a number > 0, got ${v}`);
  }
  return (mfu * peakTflops * 1e12) / (2 * w.paramsTotal * w.tokensPerRecord);
}

const pct = (x: number) => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
const millions = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${Math.round(n / 1e6)}M`);

export interface GpuThroughputInputs {
  /** The throughput measured by this notebook (or imported from a run.json), and where. */
  measured: { recordsPerSecond: number; hardware: string };
  /** The student's size and tokens per record; null when unknown (then only measured rows and peak scaling). */
  workload: StudentWorkload | null;
  hardware?: HardwareTable;
  /** bench/results/gpu.json's throughput (readGpuBench), or null. */
  gpuBench?: GpuBenchThroughput | null;
}

/**
 * The student's records/s on `gpu` (a price row's GPU name) and its basis, or null when nothing can say (unknown chip
 * and no workload). In order: measured on that chip (here or imported); the GPU bench on that chip with a model of the
 * student's size (within 15%); a measurement on another GPU scaled by the peaks (same MFU); the roofline at the GPU
 * bench's measured MFU, else at the table's assumed MFU.
 */
export function throughputOnGpu(gpu: string, o: GpuThroughputInputs): PricedThroughput | null {
  const hw = o.hardware ?? loadHardware();
  const chip = gpuPeak(hw, gpu);
  const m = o.measured;
  const measuredChip = gpuPeak(hw, m.hardware);
  if (chip && measuredChip === chip) return { recordsPerSecond: m.recordsPerSecond, basis: "measured", basisNote: `measured on ${m.hardware}` };
  const bench = o.gpuBench ?? null;
  const benchChip = bench ? gpuPeak(hw, bench.hardware) : null;
  if (chip && bench && benchChip === chip && o.workload && Math.abs(bench.paramsTotal / o.workload.paramsTotal - 1) <= 0.15) {
    return { recordsPerSecond: bench.recordsPerSecond, basis: "measured", basisNote: `measured by bench/gpu.sh on ${bench.hardware} (${bench.shape}, ${millions(bench.paramsTotal)} params, ${bench.date.slice(0, 10)})` };
  }
  if (!chip) return null;
  if (measuredChip) {
    const r = (m.recordsPerSecond * chip.bf16_dense_tflops) / measuredChip.bf16_dense_tflops;
    return { recordsPerSecond: r, basis: "estimated", basisNote: `estimate: ${m.recordsPerSecond.toPrecision(3)} records/s measured on ${m.hardware}, scaled by the peaks (${chip.bf16_dense_tflops} / ${measuredChip.bf16_dense_tflops} TFLOP/s, data/hardware.json)` };
  }
  if (!o.workload) return null;
  const [mfu, why] = bench ? [bench.mfu, `the MFU bench/gpu.sh measured for ${bench.shape} on ${bench.hardware}`] : [hw.roofline.mfu, "assumed, data/hardware.json"];
  return {
    recordsPerSecond: rooflineRecordsPerSecond(o.workload, chip.bf16_dense_tflops, mfu),
    basis: "estimated",
    basisNote: `estimate, not measured: prefill-bound roofline at ${pct(mfu)} MFU (${why}) of ${chip.bf16_dense_tflops} TFLOP/s, 2 x ${millions(o.workload.paramsTotal)} params x ${Math.round(o.workload.tokensPerRecord)} tokens per record`,
  };
}

/** Which bases a set of rows uses, for a headline: "measured", "estimated", or "measured and estimated". */
export function basesOf(rows: { basis: Basis }[]): string {
  return [...new Set(rows.map((r) => r.basis))].join(" and ");
}
