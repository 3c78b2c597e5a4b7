// What labeling a corpus costs: API models (per token, from data/prices.json) against the fine-tuned student on a
// rented GPU (per hour, from a measured throughput), plus the 2023 original's table reproduced from its own inputs.
// All money is USD. Prices live in the data file only; users override rows, never numbers in code.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import * as paths from "./paths";
import { encodingForModel } from "./tokens";

// ---------------------------------------------------------------- price file

const ApiPriceRowSchema = z.strictObject({
  model: z.string().min(1),
  input_per_1m: z.number().nonnegative(),
  /** null: the model has no cached-input price, cached tokens bill as input. */
  cached_input_per_1m: z.number().nonnegative().nullable(),
  output_per_1m: z.number().nonnegative(),
  /** Fine-tuning price per 1M training tokens (fine-tuned rows only). */
  training_per_1m: z.number().nonnegative().optional(),
  /** Fraction off with the Batch API (0.5); null where there is no Batch API. */
  batch_discount: z.number().min(0).max(1).nullable(),
  fine_tuned: z.boolean(),
  encoding: z.enum(["cl100k_base", "o200k_base"]),
  as_of: z.string().min(1),
  source: z.string().min(1),
  note: z.string().optional(),
});

const GpuPriceRowSchema = z.strictObject({
  gpu: z.string().min(1),
  provider: z.string().min(1),
  tier: z.string().min(1),
  usd_per_hour: z.number().positive(),
  as_of: z.string().min(1),
  source: z.string().min(1),
  note: z.string().optional(),
});

const Original2023Schema = z.strictObject({
  source: z.string(),
  teacher: z.string(),
  corpus_size: z.number().int().positive(),
  input_tokens_per_record: z.number().positive(),
  output_tokens_per_record: z.number().positive(),
  student: z.strictObject({
    option: z.string(),
    gpu: z.string(),
    provider: z.string(),
    usd_per_hour: z.number().positive(),
    hours: z.number().positive(),
    note: z.string().optional(),
  }),
  api: z.array(
    z.strictObject({
      option: z.string(),
      input_per_1k: z.number().nonnegative(),
      output_per_1k: z.number().nonnegative(),
      extra_per_record: z.number().nonnegative(),
      note: z.string().optional(),
    }),
  ),
  published: z.array(z.strictObject({ option: z.string(), usd_per_record: z.number(), usd_per_corpus: z.number() })),
});

const PriceFileSchema = z.strictObject({
  about: z.string().optional(),
  api: z.array(ApiPriceRowSchema),
  gpu: z.array(GpuPriceRowSchema),
  original_2023: Original2023Schema,
});

export type ApiPriceRow = z.infer<typeof ApiPriceRowSchema>;
export type GpuPriceRow = z.infer<typeof GpuPriceRowSchema>;
export type Original2023 = z.infer<typeof Original2023Schema>;

export interface Prices {
  /** The file the prices came from, for error messages. */
  file: string;
  api: ApiPriceRow[];
  gpu: GpuPriceRow[];
  original_2023: Original2023;
}

/** A user's change: an existing row (same model, or same gpu + provider + tier) takes the given fields; an unknown
 *  key adds a row. Missing `source` / `as_of` become "user override" / today's date. */
export interface PriceOverrides {
  api?: (Partial<ApiPriceRow> & { model: string })[];
  gpu?: (Partial<GpuPriceRow> & { gpu: string; provider: string; tier?: string })[];
}

export const defaultPricesFile = (): string => path.join(paths.dataDir, "prices.json");

/** Reads and validates the price file (data/prices.json by default), then applies `overrides`. Errors name the file,
 *  the row and the field. */
export function loadPrices(file: string = defaultPricesFile(), overrides?: PriceOverrides): Prices {
  const resolved = paths.resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(resolved, "utf8"));
  } catch (err) {
    throw new Error(`Cannot read prices from ${resolved}: ${(err as Error).message}`);
  }
  const parsed = PriceFileSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`Invalid price file ${resolved}:\n${describeIssues(parsed.error, raw)}`);
  const prices: Prices = { file: resolved, api: parsed.data.api, gpu: parsed.data.gpu, original_2023: parsed.data.original_2023 };
  checkUnique(prices);
  return overrides ? withOverrides(prices, overrides) : prices;
}

/** A copy of `prices` with the override rows merged in (see PriceOverrides). The merged rows are validated. */
export function withOverrides(prices: Prices, overrides: PriceOverrides): Prices {
  const today = new Date().toISOString().slice(0, 10);
  const stamp = { source: "user override", as_of: today };
  const api = [...prices.api];
  for (const [i, row] of (overrides.api ?? []).entries()) {
    const at = api.findIndex((r) => r.model === row.model);
    const base = at >= 0 ? api[at] : { cached_input_per_1m: null, batch_discount: null, fine_tuned: row.model.startsWith("ft:"), encoding: encodingForModel(row.model) };
    const merged = ApiPriceRowSchema.safeParse({ ...base, ...stamp, ...row });
    if (!merged.success) throw new Error(`Invalid API price override ${i} (model "${row.model}"):\n${describeIssues(merged.error)}`);
    if (at >= 0) api[at] = merged.data;
    else api.push(merged.data);
  }
  const gpu = [...prices.gpu];
  for (const [i, row] of (overrides.gpu ?? []).entries()) {
    const key = { tier: "on-demand", ...row };
    const at = gpu.findIndex((r) => r.gpu === key.gpu && r.provider === key.provider && r.tier === key.tier);
    const merged = GpuPriceRowSchema.safeParse({ ...(at >= 0 ? gpu[at] : {}), ...stamp, ...key });
    if (!merged.success) {
      throw new Error(`Invalid GPU price override ${i} (${row.gpu} at ${row.provider}):\n${describeIssues(merged.error)}`);
    }
    if (at >= 0) gpu[at] = merged.data;
    else gpu.push(merged.data);
  }
  return { ...prices, api, gpu };
}

function checkUnique(prices: Prices): void {
  const seen = new Map<string, number>();
  prices.api.forEach((r, i) => {
    if (seen.has(r.model)) throw new Error(`${prices.file}: api[${seen.get(r.model)}] and api[${i}] both price model "${r.model}"; keep one`);
    seen.set(r.model, i);
  });
  const seenGpu = new Map<string, number>();
  prices.gpu.forEach((r, i) => {
    const key = `${r.gpu} | ${r.provider} | ${r.tier}`;
    if (seenGpu.has(key)) throw new Error(`${prices.file}: gpu[${seenGpu.get(key)}] and gpu[${i}] are both "${key}"; keep one`);
    seenGpu.set(key, i);
  });
}

// "api[3] (model "gpt-4o"): input_per_1m: expected number, received string" — one line per problem.
function describeIssues(error: z.ZodError, raw?: unknown): string {
  return error.issues
    .map((issue) => {
      const p = issue.path;
      let where = p.length ? p.map(String).join(".") : "(top level)";
      if (raw && (p[0] === "api" || p[0] === "gpu") && typeof p[1] === "number") {
        const row = (raw as Record<string, unknown[]>)[p[0]]?.[p[1]] as Record<string, unknown> | undefined;
        const name = p[0] === "api" ? `model "${String(row?.model)}"` : `gpu "${String(row?.gpu)}" at ${String(row?.provider)}`;
        where = `${p[0]}[${p[1]}] (${name})${p.length > 2 ? ": " + p.slice(2).map(String).join(".") : ""}`;
      }
      return `  ${where}: ${issue.message}`;
    })
    .join("\n");
}

/** The price row of `model`. A fine-tuned id such as "ft:gpt-4o-mini-2024-07-18:org::abc" falls back to the row of
 *  its base ("ft:gpt-4o-mini-2024-07-18", then "ft:gpt-4o-mini"). Throws naming the model and the known ones. */
export function apiPrice(prices: Prices, model: string): ApiPriceRow {
  const candidates = [model];
  if (model.startsWith("ft:")) {
    const base = model.slice(3).split(":")[0];
    candidates.push(`ft:${base}`, `ft:${base.replace(/-\d{4}-\d{2}-\d{2}$|-\d{4}$/, "")}`);
  }
  for (const name of candidates) {
    const row = prices.api.find((r) => r.model === name);
    if (row) return row;
  }
  throw new Error(
    `No API price for model "${model}" in ${prices.file}. Known models: ${prices.api.map((r) => r.model).join(", ")}. ` +
      `Add it with cost.withOverrides(prices, { api: [{ model: "${model}", input_per_1m: ..., output_per_1m: ... }] }).`,
  );
}

/** The GPU row for `gpu` (exact name, e.g. "H100 SXM 80GB"), narrowed by provider and tier when several match. */
export function gpuPrice(prices: Prices, gpu: string, provider?: string, tier?: string): GpuPriceRow {
  const rows = prices.gpu.filter((r) => r.gpu === gpu && (provider === undefined || r.provider === provider) && (tier === undefined || r.tier === tier));
  const list = (rs: GpuPriceRow[]) => rs.map((r) => `${r.gpu} / ${r.provider} / ${r.tier}`).join("; ");
  if (rows.length === 1) return rows[0];
  if (rows.length === 0) {
    throw new Error(`No GPU price for "${[gpu, provider, tier].filter(Boolean).join(" / ")}" in ${prices.file}. Known: ${list(prices.gpu)}`);
  }
  throw new Error(`Several GPU prices match "${[gpu, provider, tier].filter(Boolean).join(" / ")}": ${list(rows)}. Name the provider and tier.`);
}

// ---------------------------------------------------------------- API cost

/** Tokens of one call, as the API reports them: cachedInputTokens is the part of inputTokens served from the prompt
 *  cache (OpenAI's usage.prompt_tokens_details.cached_tokens). Reasoning tokens belong in outputTokens. */
export interface Usage {
  inputTokens: number;
  cachedInputTokens?: number;
  outputTokens: number;
}

/** USD for one call (or for average token counts; fractions are fine). */
export function apiCallCost(prices: Prices, model: string, usage: Usage, opts: { batch?: boolean } = {}): number {
  const row = apiPrice(prices, model);
  const cached = usage.cachedInputTokens ?? 0;
  for (const [field, value] of [["inputTokens", usage.inputTokens], ["cachedInputTokens", cached], ["outputTokens", usage.outputTokens]] as const) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`apiCallCost(${model}): ${field} must be a number >= 0, got ${value}`);
  }
  if (cached > usage.inputTokens) {
    throw new Error(`apiCallCost(${model}): cachedInputTokens (${cached}) is part of inputTokens (${usage.inputTokens}) and cannot exceed it`);
  }
  const cachedRate = row.cached_input_per_1m ?? row.input_per_1m;
  const usd = ((usage.inputTokens - cached) * row.input_per_1m + cached * cachedRate + usage.outputTokens * row.output_per_1m) / 1e6;
  if (!opts.batch) return usd;
  if (row.batch_discount === null) throw new Error(`Model "${row.model}" has no Batch API price in ${prices.file} (batch_discount is null)`);
  return usd * (1 - row.batch_discount);
}

export interface AverageUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
}

export function apiCostPerRecord(prices: Prices, model: string, avg: AverageUsage, opts: { batch?: boolean } = {}): number {
  return apiCallCost(prices, model, avg, opts);
}

export function apiCorpusCost(prices: Prices, model: string, avg: AverageUsage, corpusSize: number, opts: { batch?: boolean } = {}): number {
  requirePositive("corpus size", corpusSize);
  return apiCostPerRecord(prices, model, avg, opts) * corpusSize;
}

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

function requirePositive(what: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new Error(`The ${what} must be a number above 0, got ${value}`);
  }
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
}

export interface TokenAverages {
  input: number;
  output: number;
  cachedInput?: number;
}

export interface StudentThroughput {
  recordsPerSecond: number;
  /** Where the throughput was measured, e.g. "NVIDIA H100 80GB HBM3". */
  hardware: string;
  /** The GPU rows to price it at: rows of prices.gpu, or your own. */
  gpuRates: (Pick<GpuPriceRow, "gpu" | "provider" | "usd_per_hour"> & Partial<GpuPriceRow>)[];
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
  const rowOf = (option: string, kind: CostRow["kind"], usdPerRecord: number, extra: Partial<CostRow> & { source: string; asOf: string }): CostRow => ({
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
    const meta = { source: price.source, asOf: price.as_of, ...(price.note ? { note: price.note } : {}) };
    rows.push(rowOf(model === opts.teacher ? `${model} (teacher)` : model, "api", apiCostPerRecord(prices, model, avg), meta));
    if (opts.batch !== false && price.batch_discount !== null) {
      rows.push(rowOf(`${model} batch`, "api-batch", apiCostPerRecord(prices, model, avg, { batch: true }), meta));
    }
  }
  if (opts.student) {
    const s = opts.student;
    for (const rate of s.gpuRates) {
      const g = gpuCost(rate.usd_per_hour, opts.corpusSize, s.recordsPerSecond);
      const chip = /[A-Z]+\d+/.exec(rate.gpu)?.[0]; // "H100" of "H100 SXM 80GB"
      const sameHardware = chip !== undefined && s.hardware.toUpperCase().includes(chip);
      rows.push(
        rowOf(`${s.name ?? "student"} on ${rate.gpu} (${rate.provider}${rate.tier ? ", " + rate.tier : ""})`, "student", g.usdPerRecord, {
          hours: g.hours,
          source: `${rate.source ?? "user rate"}; throughput ${s.recordsPerSecond.toFixed(1)} records/s measured on ${s.hardware}`,
          asOf: rate.as_of ?? "",
          ...(sameHardware ? {} : { note: `Throughput measured on ${s.hardware}, not on a ${rate.gpu}: the hours assume the same speed.` }),
        }),
      );
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
      ...(a.note ? { note: a.note } : {}),
    });
  }
  return rows;
}

// ---------------------------------------------------------------- break-even, MFU, measured throughput

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
