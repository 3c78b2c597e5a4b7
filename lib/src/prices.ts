// Prices: what API models charge per token and GPUs per hour, from data/prices.json (with their dates and sources),
// and what one API call costs. Shared: the teacher counts the money it spends with these (label/), the cost step
// prices whole corpora (cost/). All money is USD. Prices live in the data file only; users override rows, never
// numbers in code.
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
export function describeIssues(error: z.ZodError, raw?: unknown): string {
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

export function requirePositive(what: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new Error(`The ${what} must be a number above 0, got ${value}`);
  }
}
