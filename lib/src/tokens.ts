// Token counts for OpenAI models (js-tiktoken) and streaming token statistics over a corpus.
// Used by the teacher's dry-run estimate and by the cost step. The student's tokenizer lives in Python; any
// `(text) => number` works with corpusTokenStats.
import { createHash } from "node:crypto";
import { Tiktoken, type TiktokenBPE } from "js-tiktoken/lite";
import type { OnProgress } from "./progress";

export type Encoding = "cl100k_base" | "o200k_base";

/** gpt-4 / gpt-4-turbo / gpt-3.5 (and their fine-tunes) use cl100k_base; gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series and
 *  anything unknown use o200k_base (the encoding of every model OpenAI released since May 2024). */
export function encodingForModel(model: string): Encoding {
  // Fine-tuned ids look like "ft:gpt-4o-mini-2024-07-18:org:name:id": the base model decides.
  const base = model.startsWith("ft:") ? model.slice(3).split(":")[0] : model;
  if (/^gpt-3\.5|^gpt-35/.test(base)) return "cl100k_base";
  if (/^gpt-4(-|$)/.test(base)) return "cl100k_base"; // gpt-4, gpt-4-0613, gpt-4-turbo, gpt-4-32k; not gpt-4o / gpt-4.1
  if (/^text-embedding-(ada-002|3-)|^(davinci|babbage)-002$/.test(base)) return "cl100k_base";
  return "o200k_base";
}

// The rank files are 1-2 MB of JS each and take about a second to parse: load each on first use, then keep it.
const encoders = new Map<Encoding, Tiktoken>();

export function encoder(encoding: Encoding): Tiktoken {
  let enc = encoders.get(encoding);
  if (!enc) {
    const ranks: TiktokenBPE =
      encoding === "cl100k_base" ? require("js-tiktoken/ranks/cl100k_base") : require("js-tiktoken/ranks/o200k_base");
    enc = new Tiktoken(ranks);
    encoders.set(encoding, enc);
  }
  return enc;
}

/** Exact token count of `text` in the model's encoding. Special-token strings such as "<|endoftext|>" count as plain
 *  text, as the API treats them inside message content. */
export function countTokens(model: string, text: string): number {
  return encoder(encodingForModel(model)).encode(text, [], []).length;
}

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

/** Prompt tokens of a chat request, following OpenAI's cookbook ("How to count tokens with tiktoken"): 3 tokens per
 *  message, 1 more for a `name`, 3 priming the reply. Tools follow the cookbook's function-definition formula, which
 *  matched the API on its examples; the forced `tool_choice` may add a few tokens more. An estimate, not a bill. */
export function estimateChatTokens(model: string, messages: ChatMessage[], tools?: unknown[]): number {
  const enc = encoder(encodingForModel(model));
  const count = (text: string) => enc.encode(text, [], []).length;
  let total = 3; // every reply is primed with <|start|>assistant<|message|>
  for (const m of messages) {
    total += 3 + count(m.role) + count(m.content ?? "");
    if (m.name !== undefined) total += 1 + count(m.name);
  }
  if (tools && tools.length > 0) total += toolTokens(tools, count, encodingForModel(model) === "o200k_base" ? 7 : 10);
  return total;
}

interface JsonSchemaProperty {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  properties?: unknown;
  items?: unknown;
}

// The cookbook's constants: a function costs `perFunction` (7 on o200k models, 10 on cl100k) + its "name:description"
// line; its properties 3 + per property 3 + "name:type:description"; an enum -3 + per item 3 + the item; 12 to close.
function toolTokens(tools: unknown[], count: (text: string) => number, perFunction: number): number {
  let total = 0;
  for (const tool of tools) {
    // Accept both { type: "function", function: {...} } (tools) and the bare {...} (legacy `functions`).
    const fn = ((tool as { function?: unknown }).function ?? tool) as {
      name?: string;
      description?: string;
      parameters?: { properties?: Record<string, JsonSchemaProperty> };
    };
    total += perFunction + count(`${fn.name ?? ""}:${stripPeriod(fn.description ?? "")}`);
    const properties = Object.entries(fn.parameters?.properties ?? {});
    if (properties.length > 0) {
      total += 3;
      for (const [key, prop] of properties) {
        total += 3 + count(`${key}:${String(prop.type ?? "")}:${stripPeriod(prop.description ?? "")}`);
        if (prop.enum) {
          total += -3;
          for (const item of prop.enum) total += 3 + count(String(item));
        }
        // Nested objects/arrays are outside the cookbook's formula: count their schema JSON as an approximation.
        if (prop.properties !== undefined || prop.items !== undefined) {
          total += count(JSON.stringify({ properties: prop.properties, items: prop.items }));
        }
      }
    }
  }
  return total + 12;
}

function stripPeriod(s: string): string {
  return s.endsWith(".") ? s.slice(0, -1) : s;
}

/** Wraps a counter so that each distinct text is tokenized once (keyed by its SHA-1, at most `maxEntries` kept;
 *  when full, the cache is cleared and refilled). Exact: the same text always has the same count. Worth it when a
 *  corpus repeats texts; it costs a hash per call otherwise. */
export function cachedCounter(count: (text: string) => number, maxEntries = 200_000): (text: string) => number {
  const cache = new Map<string, number>();
  return (text: string) => {
    const key = createHash("sha1").update(text).digest("base64");
    let n = cache.get(key);
    if (n === undefined) {
      n = count(text);
      if (cache.size >= maxEntries) cache.clear();
      cache.set(key, n);
    }
    return n;
  };
}

export interface TokenStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Equal-width bins from 0: counts[i] records have a token count in [bins[i], bins[i] + width), where width is
   *  bins[1] - bins[0] (1 when there is a single bin); the last bin holds `max`. */
  histogram: { bins: number[]; counts: number[] };
}

/** Token statistics over a stream of records, in one pass. Holds no texts: only how many records had each token
 *  count (a map bounded by the longest record), so the quantiles are exact (nearest rank: the p-quantile is the
 *  smallest count with at least p of the records at or below it). */
export async function corpusTokenStats(
  records: AsyncIterable<{ text: string }> | Iterable<{ text: string }>,
  count: (text: string) => number,
  opts: { limit?: number; total?: number; onProgress?: OnProgress; progressEvery?: number } = {},
): Promise<TokenStats> {
  const { limit, onProgress, progressEvery = 10_000 } = opts;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new Error(`corpusTokenStats: limit must be a positive integer, got ${limit}`);
  }
  const total = opts.total ?? limit ?? 0; // 0 = unknown
  const frequency = new Map<number, number>(); // token count -> records with that count
  let n = 0;
  let sum = 0;
  for await (const record of records) {
    if (typeof record?.text !== "string") {
      throw new Error(`corpusTokenStats: record ${n} has no string field "text" (got ${JSON.stringify(record)?.slice(0, 120)})`);
    }
    const tokens = count(record.text);
    if (!Number.isInteger(tokens) || tokens < 0) {
      throw new Error(`corpusTokenStats: the count function returned ${tokens} for record ${n}; expected an integer >= 0`);
    }
    frequency.set(tokens, (frequency.get(tokens) ?? 0) + 1);
    sum += tokens;
    n += 1;
    if (onProgress && n % progressEvery === 0) onProgress({ label: "token stats", done: n, total });
    if (n === limit) break; // before pulling another record from the stream
  }
  if (n === 0) throw new Error("corpusTokenStats: the record stream was empty; there is nothing to measure");
  onProgress?.({ label: "token stats", done: n, total: total || n });

  const values = [...frequency.keys()].sort((a, b) => a - b);
  const quantile = (p: number): number => {
    const rank = Math.max(1, Math.ceil(p * n - 1e-9)); // the epsilon keeps 0.9 * 10 at rank 9 despite float error
    let seen = 0;
    for (const v of values) {
      seen += frequency.get(v)!;
      if (seen >= rank) return v;
    }
    return values[values.length - 1];
  };
  const max = values[values.length - 1];
  return { count: n, mean: sum / n, p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max, histogram: histogram(frequency, max) };
}

// At most ~40 bins of a round width (1, 2, 5 x 10^k), starting at 0.
function histogram(frequency: Map<number, number>, max: number): TokenStats["histogram"] {
  const raw = Math.max(1, max / 40);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const width = [1, 2, 5, 10].map((m) => m * magnitude).find((w) => w >= raw)!;
  const binCount = Math.floor(max / width) + 1;
  const bins = Array.from({ length: binCount }, (_, i) => i * width);
  const counts = new Array<number>(binCount).fill(0);
  for (const [value, freq] of frequency) counts[Math.floor(value / width)] += freq;
  return { bins, counts };
}
