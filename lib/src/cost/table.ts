// What labeling a corpus costs: API models (per token, prices.ts) against the fine-tuned student on a rented GPU (per
// hour, from a measured throughput), plus the 2023 original's table reproduced from its own inputs, the break-even
// point and model FLOPs utilisation.
import { apiCostPerRecord, apiPrice, requirePositive, type AverageUsage, type GpuPriceRow, type Original2023, type Prices } from "../prices";
import type { Basis, PricedThroughput } from "./gpu-estimate";

// ---------------------------------------------------------------- GPU cost

export interface GpuCost {
  hours: number;
  usd: number;
  usdPerRecord: number;
}

/** Renting one GPU at `ratePerHour` for as long as `corpusSize` records take at `recordsPerSecond`. */
export function gpuCost(ratePerHour: number, corpusSize: number, recordsPerSecond: number): GpuCost {
  requirePositive("GPU rate (USD per hour)", ratePerHour);
  requirePositive("corpus size", corpusSize);
  requirePositive("throughput (records per second)", recordsPerSecond);
  const hours = corpusSize / recordsPerSecond / 3600;
  const usd = hours * ratePerHour;
  return { hours, usd, usdPerRecord: usd / corpusSize };
}

// ---------------------------------------------------------------- tables

export interface CostRow {
  option: string;
  kind: "api" | "api-batch" | "student" | "original-2023";
  usdPerRecord: number;
  usdPerCorpus: number;
  /** GPU hours, for student rows. */
  hours?: number;
  /** This row's cost as a fraction of the teacher's (standard tier): 0.05 means 20x cheaper. */
  ratioVsTeacher: number;
  source: string;
  asOf: string;
  note?: string;
  /** How the $ figure was obtained: an API's list price, or a student throughput measured on that GPU or estimated. */
  basis: Basis;
  basisNote?: string;
}

export interface TokenAverages {
  input: number;
  output: number;
  cachedInput?: number;
}

export interface StudentThroughput {
  /** The GPU rows to price it at: rows of prices.gpu, or your own. */
  gpuRates: (Pick<GpuPriceRow, "gpu" | "provider" | "usd_per_hour"> & Partial<GpuPriceRow>)[];
  /** Records/s on a rate's GPU and how that figure was obtained (studentOnGpus / throughputOnGpu); null leaves the
   *  rate out (nothing can say how fast the student runs there). */
  onGpu: (gpu: string) => PricedThroughput | null;
  /** Name shown in the table, default "student". */
  name?: string;
}

export interface CostTableOptions {
  corpusSize: number;
  /** The model the student replaces; its standard price is the 1.0 of ratioVsTeacher. */
  teacher: string;
  /** Average tokens per record: one shared { input, output }, or one per model name. */
  avgTokens: TokenAverages | Record<string, TokenAverages>;
  /** API models to list besides the teacher; default: every row of the price file. */
  models?: string[];
  /** Add an "api-batch" row where the model has a Batch API price (default true). */
  batch?: boolean;
  student?: StudentThroughput;
}

/** One row per option: the teacher, the other API models (standard and batch), the student on each GPU rate. */
export function costTable(prices: Prices, opts: CostTableOptions): CostRow[] {
  requirePositive("corpus size", opts.corpusSize);
  const averagesFor = (model: string): AverageUsage => {
    const a = isTokenAverages(opts.avgTokens) ? opts.avgTokens : opts.avgTokens[model];
    if (!a) {
      throw new Error(`costTable: avgTokens has no entry for model "${model}"; give one, or a shared { input, output } for all models`);
    }
    return { inputTokens: a.input, outputTokens: a.output, cachedInputTokens: a.cachedInput };
  };
  const teacherPerRecord = apiCostPerRecord(prices, opts.teacher, averagesFor(opts.teacher));
  const rowOf = (option: string, kind: CostRow["kind"], usdPerRecord: number, extra: Partial<CostRow> & { source: string; asOf: string; basis: Basis }): CostRow => ({
    option,
    kind,
    usdPerRecord,
    usdPerCorpus: usdPerRecord * opts.corpusSize,
    ratioVsTeacher: usdPerRecord / teacherPerRecord,
    ...extra,
  });

  const rows: CostRow[] = [];
  const models = [opts.teacher, ...(opts.models ?? prices.api.map((r) => r.model)).filter((m) => m !== opts.teacher)];
  for (const model of models) {
    const price = apiPrice(prices, model);
    const avg = averagesFor(model);
    const meta = { source: price.source, asOf: price.as_of, basis: "list price" as const, basisNote: `${price.source}, as of ${price.as_of}`, ...(price.note ? { note: price.note } : {}) };
    rows.push(rowOf(model === opts.teacher ? `${model} (teacher)` : model, "api", apiCostPerRecord(prices, model, avg), meta));
    if (opts.batch !== false && price.batch_discount !== null) {
      rows.push(rowOf(`${model} batch`, "api-batch", apiCostPerRecord(prices, model, avg, { batch: true }), meta));
    }
  }
  if (opts.student) {
    const s = opts.student;
    for (const rate of s.gpuRates) {
      const t = s.onGpu(rate.gpu);
      if (!t) continue;
      const g = gpuCost(rate.usd_per_hour, opts.corpusSize, t.recordsPerSecond);
      rows.push(
        rowOf(`${s.name ?? "student"} on ${rate.gpu} (${rate.provider}${rate.tier ? ", " + rate.tier : ""})`, "student", g.usdPerRecord, {
          hours: g.hours,
          source: `${rate.source ?? "user rate"}; ${t.recordsPerSecond.toPrecision(3)} records/s ${t.basis}`,
          asOf: rate.as_of ?? "",
          basis: t.basis,
          basisNote: t.basisNote,
        }),
      );
    }
    if (!rows.some((r) => r.kind === "student")) {
      throw new Error(`costTable: no GPU rate could price the student (${s.gpuRates.map((r) => r.gpu).join(", ") || "no rates given"}): a GPU needs a measurement on it or an entry in data/hardware.json, and an estimate needs the student's parameter count (run notebook 2 in this workDir) and its tokens per record (measure its throughput here)`);
    }
  }
  return rows;
}

function isTokenAverages(x: TokenAverages | Record<string, TokenAverages>): x is TokenAverages {
  return typeof (x as TokenAverages).input === "number" && typeof (x as TokenAverages).output === "number";
}

/** The original's cost table (2023), recomputed from its own inputs in prices.original_2023, in its row order. Its
 *  printed figures: $18.81, $1,033.26, $8,683.47, $23,190.28 (they are in original_2023.published, to compare). */
export function originalTable(prices: Prices): CostRow[] {
  const o = prices.original_2023;
  const perRecord = (a: Original2023["api"][number]) =>
    (o.input_tokens_per_record * a.input_per_1k + o.output_tokens_per_record * a.output_per_1k) / 1000 + a.extra_per_record;
  const teacher = o.api.find((a) => a.option === o.teacher);
  if (!teacher) throw new Error(`${prices.file}: original_2023.teacher "${o.teacher}" is not one of original_2023.api`);
  const teacherPerRecord = perRecord(teacher);
  const studentUsd = o.student.hours * o.student.usd_per_hour;
  const asOf = "2023-09";
  const rows: CostRow[] = [
    {
      option: o.student.option,
      kind: "original-2023",
      usdPerRecord: studentUsd / o.corpus_size,
      usdPerCorpus: studentUsd,
      hours: o.student.hours,
      ratioVsTeacher: studentUsd / o.corpus_size / teacherPerRecord,
      source: o.source,
      asOf,
      // The original's hours: its own claim (a throughput measured on another model, no saved run), not ours.
      basis: "estimated",
      basisNote: `the 2023 original's ${o.student.hours} h at ${o.student.usd_per_hour} USD/h, as it reported them`,
      ...(o.student.note ? { note: o.student.note } : {}),
    },
  ];
  for (const a of o.api) {
    const usd = perRecord(a);
    rows.push({
      option: a.option,
      kind: "original-2023",
      usdPerRecord: usd,
      usdPerCorpus: usd * o.corpus_size,
      ratioVsTeacher: usd / teacherPerRecord,
      source: o.source,
      asOf,
      basis: "list price",
      basisNote: "2023 list price, from the original's notebook",
      ...(a.note ? { note: a.note } : {}),
    });
  }
  return rows;
}

// ---------------------------------------------------------------- break-even, MFU

/** Records after which the student (fixed cost of labeling + training, then its per-record cost) is cheaper than the
 *  API; null when the student is never cheaper per record. */
export function breakEven(args: { apiCostPerRecord: number; fixedCostUsd: number; studentCostPerRecord: number }): number | null {
  for (const [k, v] of Object.entries(args)) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`breakEven: ${k} must be a number >= 0, got ${v}`);
  }
  const saving = args.apiCostPerRecord - args.studentCostPerRecord;
  if (saving <= 0) return null;
  return Math.ceil(args.fixedCostUsd / saving);
}

/** Model FLOPs utilisation: achieved FLOP/s (2 x params per token, forward only) over the hardware's dense peak. */
export function mfu(args: { recordsPerSecond: number; tokensPerRecord: number; paramsCount: number; peakTflops: number }): number {
  requirePositive("throughput (records per second)", args.recordsPerSecond);
  requirePositive("tokens per record", args.tokensPerRecord);
  requirePositive("parameter count", args.paramsCount);
  requirePositive("peak TFLOP/s", args.peakTflops);
  return (args.recordsPerSecond * args.tokensPerRecord * 2 * args.paramsCount) / (args.peakTflops * 1e12);
}
