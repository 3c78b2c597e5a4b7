// The teacher: its config, and the one small interface every teacher provider implements. A provider builds the
// exact request for a record (its hash is the answer store's key), sends it, and prices the answer; everything
// else (the store, the budget, concurrency, one repair round, progress) is labelRecords' (label.ts), the same for
// every provider. A new provider: a file beside openai.ts, local.ts and file.ts that implements Provider, its name in
// providerNames, and one line in providers.ts.
import * as os from "node:os";
import type OpenAI from "openai";
import { checkUniqueIds, type CorpusRecord } from "../corpus";
import * as paths from "../paths";
import type { Labels, Task } from "../task";
import { localPrompts, type LocalPrompt } from "./local-models";
import type { StoreUsage } from "./store";

/** One provider behind labelRecords: OpenAI (and compatible servers), the local GGUF model, or a file of labels. */
export interface Provider {
  /** The model's name as results report it. */
  model: string;
  /** The exact request for one record: what is sent, or everything that determines the answer. A model answers the
   *  text (the same text under two ids is one request); a labels file answers the id. */
  request(text: string, id: string): Record<string, unknown>;
  /** Send one request (with retries where the provider has them). Throws RequestFailure. `unanswered`: attempts
   *  that got no answer but may have been done and billed (timed out, connection lost once sent). */
  send(request: Record<string, unknown>, signal?: AbortSignal, hooks?: SendHooks): Promise<{ answer: Answer; attempts: number; unanswered: number }>;
  cost(usage: StoreUsage): number;
  /** USD of one record's request (0 for a free provider): expected (the dry run, the refusal to start), and the worst
   *  case (a prompt a little longer than counted, and every output token the request allows), which the budget
   *  reserves before it is sent. */
  costBounds(text: string): { expectedUsd: number; worstUsd: number };
  /** True when asking again cannot change the answer (a file): an invalid answer then gets no repair round. */
  answersAreFinal?: boolean;
  /** What the run should tell the user at the end (e.g. records a labels file has no label for). */
  notes?(): string[];
}

export interface SendHooks {
  /** Called after each attempt that got no answer but may have been billed (retry: whether another attempt would
   *  follow); false: do not retry (the budget is spent). */
  unanswered?: (retry: boolean) => boolean;
}

export interface Answer {
  /** The raw response to keep in the store. */
  response: unknown;
  /** The text to parse as labels (tool arguments or content); null when the model gave none. */
  text: string | null;
  /** Why there is no text (no tool call, a refusal). */
  problem?: string;
  usage: StoreUsage;
}

/** A record's request failed for good: a non-retryable status, or the last attempt failed. */
export class RequestFailure extends Error {
  constructor(
    message: string,
    readonly attempts: number,
    /** Of the attempts: those that got no answer but may have been billed (see Provider.send). */
    readonly unanswered = 0,
  ) {
    super(message);
  }
}

export const providerNames = ["openai", "local", "labels"] as const;
export type ProviderName = (typeof providerNames)[number];

export type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

export type TeacherMode = "tool" | "json_schema";

export interface TeacherConfig {
  provider: ProviderName;
  /** OpenAI model name; for provider "local", the path of a .gguf file; for "labels", the labels file (JSONL, CSV or
   *  Parquet of {id, labels}). Relative paths are from the project root. */
  model: string;
  /** "tool": a forced function call (the original's way); "json_schema": structured output. OpenAI only. Default tool. */
  mode?: TeacherMode;
  /** Requests in flight at once. Default 8 for OpenAI, 1 for local (one sequence per request on the CPU). */
  concurrency?: number;
  /** Retries after the first attempt for 429, 5xx, timeouts and dropped connections. Default 5. */
  maxRetries?: number;
  /** Per-request timeout (OpenAI). Default 60 000 ms. */
  timeoutMs?: number;
  /** An OpenAI-compatible server; default OPENAI_BASE_URL, else api.openai.com. */
  baseURL?: string;
  /** Sampling temperature. OpenAI: the API default when unset; local: 0. */
  temperature?: number;
  /** USD labeling these records may cost in all (what earlier runs into the same store spent on them counts): refuse
   *  to start when the estimate is higher than what is left; reserve each request's worst case before it is sent, so
   *  that the money spent stays within it. */
  budgetUsd?: number;
  /** The most output tokens one answer may have (OpenAI: sent as max_completion_tokens to api.openai.com, max_tokens
   *  to other servers), which bounds a request's worst-case cost. Default: 4x a typical answer, at least 256; 8192
   *  for reasoning models (o-series, gpt-5), whose hidden reasoning counts as output. */
  maxOutputTokens?: number;
  /** Price live answers at the Batch API rate (e.g. for a Flex-tier endpoint). */
  batchPricing?: boolean;
  /** First backoff before a retry, doubled each time, with jitter (a 429's Retry-After wins). Default 1000 ms. */
  retryBaseMs?: number;
  /** CPU threads for the local model. Default: half the logical cores (at least 1): on a busy 2-core machine 2
   *  threads were 2-9x slower than 1 (llama.cpp's threads spin-wait for each other). */
  threads?: number;
  /** The local model's prompt: "short" (teacher.system_prompt and teacher.examples) or "guide" (teacher.guide). Default:
   *  the model's own (local-models.ts: SmolLM2 short, Qwen guide), else the guide when the task has one. */
  prompt?: LocalPrompt;
}

const defaultOpenAiModel = "gpt-4.1-mini";

/** OPENAI_API_KEY or OPENAI_BASE_URL set: the OpenAI provider (model DISTILL_TEACHER_MODEL, default gpt-4.1-mini);
 *  neither: the local SmolLM2 model, so everything runs offline. `overrides` win over both. */
export function teacherFromEnv(overrides: Partial<TeacherConfig> = {}): TeacherConfig {
  const env = process.env;
  const provider = overrides.provider ?? (env.OPENAI_API_KEY || env.OPENAI_BASE_URL ? "openai" : "local");
  const model = overrides.model ?? (provider === "openai" ? env.DISTILL_TEACHER_MODEL || defaultOpenAiModel : paths.smollm2Gguf());
  return {
    ...overrides,
    provider,
    model,
    ...(provider === "openai" && !overrides.baseURL && env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}),
  };
}

export interface Settings {
  provider: ProviderName;
  model: string;
  mode: TeacherMode;
  concurrency: number;
  maxRetries: number;
  timeoutMs: number;
  baseURL?: string;
  temperature?: number;
  budgetUsd?: number;
  maxOutputTokens?: number;
  batchPricing: boolean;
  retryBaseMs: number;
  threads: number;
  prompt?: LocalPrompt;
}

export function settings(config: TeacherConfig): Settings {
  if (!providerNames.includes(config.provider)) {
    throw new Error(`TeacherConfig.provider must be ${providerNames.map((n) => `"${n}"`).join(" or ")}, got ${JSON.stringify(config.provider)}`);
  }
  if (!config.model) throw new Error(`TeacherConfig.model is required (an OpenAI model name, a .gguf path for provider "local", a labels file for "labels")`);
  const mode = config.mode ?? "tool";
  if (mode !== "tool" && mode !== "json_schema") throw new Error(`TeacherConfig.mode must be "tool" or "json_schema", got ${JSON.stringify(mode)}`);
  const positive = (name: string, v: number | undefined, dflt: number, min = 1): number => {
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || v < min) throw new Error(`TeacherConfig.${name} must be a number >= ${min}, got ${v}`);
    return v;
  };
  if (config.prompt !== undefined && !localPrompts.includes(config.prompt)) throw new Error(`TeacherConfig.prompt must be ${localPrompts.map((p) => `"${p}"`).join(" or ")}, got ${JSON.stringify(config.prompt)}`);
  if (config.budgetUsd !== undefined && !(config.budgetUsd >= 0)) throw new Error(`TeacherConfig.budgetUsd must be >= 0 USD, got ${config.budgetUsd}`);
  return {
    provider: config.provider,
    model: config.model,
    mode,
    concurrency: Math.floor(positive("concurrency", config.concurrency, config.provider === "local" ? 1 : 8)),
    maxRetries: Math.floor(positive("maxRetries", config.maxRetries, 5, 0)),
    timeoutMs: positive("timeoutMs", config.timeoutMs, 60_000),
    baseURL: config.baseURL,
    temperature: config.temperature,
    budgetUsd: config.budgetUsd,
    ...(config.maxOutputTokens !== undefined ? { maxOutputTokens: Math.floor(positive("maxOutputTokens", config.maxOutputTokens, 1)) } : {}),
    batchPricing: config.batchPricing ?? false,
    retryBaseMs: positive("retryBaseMs", config.retryBaseMs, 1000, 0),
    threads: Math.floor(positive("threads", config.threads, Math.max(1, Math.floor(os.availableParallelism() / 2)))),
    ...(config.prompt !== undefined ? { prompt: config.prompt } : {}),
  };
}

/** Every record has a string id and text, and no two share an id (answers are joined back to records by id). */
export function checkRecords(records: CorpusRecord[]): void {
  records.forEach((r, i) => {
    if (typeof r?.id !== "string" || r.id === "") throw new Error(`records[${i}] has no string "id"`);
    if (typeof r.text !== "string") throw new Error(`records[${i}] (id ${r.id}) has no string "text"`);
  });
  checkUniqueIds(records, "records");
}

// What an answer looks like, for counting its tokens: every field at a typical (longest) value.
export function typicalLabels(task: Task): Labels {
  const labels: Labels = {};
  for (const f of task.fields) {
    if (f.type === "boolean") labels[f.name] = false;
    else if (f.type === "enum") labels[f.name] = [...f.values!].sort((a, b) => b.length - a.length)[0];
    else if (f.type === "integer") labels[f.name] = f.maximum ?? 100;
    else labels[f.name] = "a short answer of about ten words for this field".slice(0, f.maxLength ?? 60);
  }
  return labels;
}
