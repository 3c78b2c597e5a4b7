// The teacher: label records with an expensive model (any OpenAI-compatible API) or, offline, a small local GGUF
// model, without ever paying twice for an answer. Each request is built exactly, hashed (store.requestKey) and
// looked up in the answer store first; a bought answer is fsynced to the store before it is used. Retries, timeouts,
// concurrency, a budget and progress are handled here so a notebook only calls labelRecords().
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import OpenAI from "openai";
import pLimit from "p-limit";
import pRetry, { AbortError } from "p-retry";
import { apiCallCost, apiPrice, loadPrices, type Prices } from "./cost";
import type { CorpusRecord } from "./data";
import * as paths from "./paths";
import type { OnProgress } from "./progress";
import { AnswerStore, requestKey, type StoreEntry, type StoreUsage } from "./store";
import { jsonSchema, parseLabels, responseFormat, studentTarget, teacherMessages, toolChoice, toolDefinition, type Labels, type Task } from "./task";
import { countTokens, estimateChatTokens, type ChatMessage } from "./tokens";

export type TeacherMode = "tool" | "json_schema";

export interface TeacherConfig {
  provider: "openai" | "local";
  /** OpenAI model name; for provider "local", the path of a .gguf file (relative paths are from the project root). */
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
  /** Refuse to start when the estimate is higher, stop sending when the money spent reaches it (USD). */
  budgetUsd?: number;
  /** Price live answers at the Batch API rate (e.g. for a Flex-tier endpoint). */
  batchPricing?: boolean;
  /** First backoff before a retry, doubled each time, with jitter (a 429's Retry-After wins). Default 1000 ms. */
  retryBaseMs?: number;
  /** CPU threads for the local model. Default: half the logical cores (at least 1). */
  threads?: number;
}

export interface LabelResult {
  id: string;
  /** "failed" also covers records not sent because the budget was reached (error says so, attempts 0). */
  status: "ok" | "failed";
  labels?: Labels;
  error?: string;
  /** Requests sent for this record in this run (0 when served from the store). */
  attempts: number;
  /** True when no new answer was bought for it in this run. */
  cached: boolean;
  /** Tokens of the answer(s) this record's labels come from, also when they came from the store. */
  usage: StoreUsage;
  /** USD paid in this run for this record (0 when cached, 0 for a local model). */
  costUsd: number;
  model: string;
}

export interface LabelRun {
  results: LabelResult[];
  totals: {
    ok: number;
    failed: number;
    cached: number;
    /** Of the failed: never sent because the budget was reached. */
    skipped: number;
    costUsd: number;
    inputTokens: number;
    outputTokens: number;
    seconds: number;
  };
  stoppedByBudget: boolean;
}

export interface LabelingEstimate {
  model: string;
  /** Records the estimate is for (the ones not already answered in the store, when a store is given). */
  records: number;
  alreadyStored: number;
  inputTokens: number;
  outputTokens: number;
  /** USD at the standard price, and with the Batch API (null when the model has no batch price). 0 for local. */
  usd: number;
  usdBatch: number | null;
  perRecord: { inputTokens: number; outputTokens: number; usd: number };
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

interface Settings {
  provider: "openai" | "local";
  model: string;
  mode: TeacherMode;
  concurrency: number;
  maxRetries: number;
  timeoutMs: number;
  baseURL?: string;
  temperature?: number;
  budgetUsd?: number;
  batchPricing: boolean;
  retryBaseMs: number;
  threads: number;
}

function settings(config: TeacherConfig): Settings {
  if (config.provider !== "openai" && config.provider !== "local") {
    throw new Error(`TeacherConfig.provider must be "openai" or "local", got ${JSON.stringify(config.provider)}`);
  }
  if (!config.model) throw new Error(`TeacherConfig.model is required (an OpenAI model name, or a .gguf path for provider "local")`);
  const mode = config.mode ?? "tool";
  if (mode !== "tool" && mode !== "json_schema") throw new Error(`TeacherConfig.mode must be "tool" or "json_schema", got ${JSON.stringify(mode)}`);
  const positive = (name: string, v: number | undefined, dflt: number, min = 1): number => {
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || v < min) throw new Error(`TeacherConfig.${name} must be a number >= ${min}, got ${v}`);
    return v;
  };
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
    batchPricing: config.batchPricing ?? false,
    retryBaseMs: positive("retryBaseMs", config.retryBaseMs, 1000, 0),
    threads: Math.floor(positive("threads", config.threads, Math.max(1, Math.floor(os.availableParallelism() / 2)))),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Requests. The request object is exactly what is sent (OpenAI body) or what determines the answer (local), and its
// hash is the store key.

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

/** The exact request for one record text (its requestKey is the store key). */
export function teacherRequest(task: Task, text: string, config: TeacherConfig): Record<string, unknown> {
  const s = settings(config);
  return s.provider === "openai" ? openAiRequest(task, teacherMessages(task, text), s) : localRequest(task, text, s);
}

function openAiRequest(task: Task, messages: Message[], s: Settings): Record<string, unknown> {
  return {
    model: s.model,
    messages,
    ...(s.mode === "tool" ? { tools: [toolDefinition(task)], tool_choice: toolChoice(task) } : { response_format: responseFormat(task) }),
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
  };
}

// A small local model sees no tool schema, so the system prompt spells out the fields; the grammar enforces the shape.
function localMessages(task: Task, text: string): Message[] {
  const fields = task.fields.map((f) => `- ${f.name} (${f.type === "enum" ? `one of ${f.values!.join(", ")}` : f.type}): ${f.description}`);
  return [
    { role: "system", content: `${task.teacher.systemPrompt}\n\nAnswer with a JSON object with these fields:\n${fields.join("\n")}` },
    // A 135M model answers `true` to everything from instructions alone (measured: every field, every recipe);
    // worked examples with contrasting answers (data/tasks/<task>.json teacher.examples) make its labels vary.
    ...task.teacher.examples.flatMap((ex): Message[] => [
      { role: "user", content: ex.text },
      { role: "assistant", content: studentTarget(task, ex.labels) },
    ]),
    { role: "user", content: text },
  ];
}

function localMaxTokens(task: Task): number {
  return 48 + 32 * task.fields.length;
}

function localRequest(task: Task, text: string, s: Settings): Record<string, unknown> {
  return {
    provider: "local",
    model: path.basename(s.model),
    messages: localMessages(task, text),
    json_schema: jsonSchema(task),
    temperature: s.temperature ?? 0,
    max_tokens: localMaxTokens(task),
  };
}

// The one retry for an invalid answer is a new request: the conversation so far, the model's answer, and what was
// wrong with it. It differs from the first request, so it has its own key, and the bad answer stays a failure.
function repairRequest(request: Record<string, unknown>, answer: Answer, error: string, task: Task): Record<string, unknown> {
  const messages = [...(request.messages as Message[])];
  const completion = answer.response as OpenAI.Chat.Completions.ChatCompletion | undefined;
  const toolCall = completion?.choices?.[0]?.message?.tool_calls?.[0];
  if (request.tools && toolCall) {
    messages.push(
      { role: "assistant", content: null, tool_calls: [toolCall] },
      { role: "tool", tool_call_id: toolCall.id, content: `Invalid arguments: ${error}. Call ${task.teacher.functionName} again with every field filled correctly.` },
    );
  } else {
    messages.push(
      { role: "assistant", content: answer.text ?? "" },
      { role: "user", content: `That answer is invalid: ${error}. Answer again with a JSON object that has every field filled correctly.` },
    );
  }
  return { ...request, messages };
}

// ---------------------------------------------------------------------------------------------------------------
// Sending.

interface Answer {
  /** The raw response to keep in the store. */
  response: unknown;
  /** The text to parse as labels (tool arguments or content); null when the model gave none. */
  text: string | null;
  /** Why there is no text (no tool call, a refusal). */
  problem?: string;
  usage: StoreUsage;
}

/** A record's request failed for good: a non-retryable status, or the last attempt failed. */
class RequestFailure extends Error {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

class RetryableError extends Error {
  constructor(
    message: string,
    readonly waitMs?: number,
  ) {
    super(message);
  }
}

interface Backend {
  model: string;
  request(text: string): Record<string, unknown>;
  /** Send one request (with retries for OpenAI). Throws RequestFailure. */
  send(request: Record<string, unknown>, signal?: AbortSignal): Promise<{ answer: Answer; attempts: number }>;
  cost(usage: StoreUsage): number;
  /** Estimated USD of one record's request, for the budget (0 for local). */
  estimateUsd(text: string): number;
}

const maxRetryAfterMs = 120_000;
const maxBackoffMs = 60_000;

/** How long a 429/503 asks us to wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date. Capped at
 *  two minutes so a bad header cannot stall a run. */
export function retryAfterMs(headers: Headers | undefined | null, now: number = Date.now()): number | undefined {
  const ms = headers?.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Math.min(Number(ms), maxRetryAfterMs);
  const value = headers?.get("retry-after");
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, maxRetryAfterMs);
  const date = Date.parse(value);
  if (!Number.isNaN(date)) return Math.min(Math.max(0, date - now), maxRetryAfterMs);
  return undefined;
}

/** Exponential backoff with jitter: half fixed, half random, so many clients retrying at once spread out. */
function backoffMs(attempt: number, baseMs: number): number {
  const exp = Math.min(maxBackoffMs, baseMs * 2 ** (attempt - 1));
  return exp / 2 + (Math.random() * exp) / 2;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Retry what can succeed later (429 except an exhausted quota, 408, 409, 5xx, timeouts, dropped connections); fail at
 *  once on the rest (400, 401, 403, 404, 422: sending again would give the same answer). */
function classify(err: unknown, timeoutMs: number): { retry: boolean; reason: string; waitMs?: number } {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return { retry: true, reason: `timed out after ${timeoutMs} ms` };
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err as { cause?: Error }).cause?.message;
    return { retry: true, reason: `connection failed: ${err.message}${cause ? ` (${cause})` : ""}` };
  }
  if (err instanceof OpenAI.APIError && typeof err.status === "number") {
    const status = err.status;
    const reason = `HTTP ${status}: ${err.message}`;
    if (status === 429 && err.code === "insufficient_quota") return { retry: false, reason: `${reason} (add credit to the OpenAI account)` };
    if (status === 429 || status === 408 || status === 409 || status >= 500) return { retry: true, reason, waitMs: retryAfterMs(err.headers) };
    return { retry: false, reason };
  }
  return { retry: false, reason: (err as Error)?.message ?? String(err) };
}

function openAiClient(s: Settings): OpenAI {
  const baseURL = s.baseURL ?? process.env.OPENAI_BASE_URL ?? undefined;
  // An OpenAI-compatible local server takes any key; api.openai.com needs a real one.
  const apiKey = process.env.OPENAI_API_KEY || (baseURL ? "not-needed" : undefined);
  if (!apiKey) {
    throw new Error(
      `The OpenAI teacher needs OPENAI_API_KEY (for api.openai.com) or OPENAI_BASE_URL (for an OpenAI-compatible server); ` +
        `neither is set. Set one of them, or use the offline teacher: teacherFromEnv({ provider: "local" }).`,
    );
  }
  // The SDK's own retries are off: ours honour Retry-After, count attempts per record and record the reason.
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: s.timeoutMs });
}

/** The labels text of a ChatCompletion: the forced tool call's arguments, or the content in json_schema mode. */
function completionAnswer(completion: OpenAI.Chat.Completions.ChatCompletion, request: Record<string, unknown>, task: Task): Answer {
  const choice = completion.choices?.[0];
  const u = completion.usage;
  const usage: StoreUsage = {
    inputTokens: u?.prompt_tokens ?? 0,
    cachedInputTokens: u?.prompt_tokens_details?.cached_tokens ?? 0,
    outputTokens: u?.completion_tokens ?? 0,
  };
  const finish = choice?.finish_reason ?? "none";
  if (request.tools) {
    const call = choice?.message?.tool_calls?.find((c) => c.type === "function");
    if (call?.type === "function") return { response: completion, text: call.function.arguments, usage };
    const said = choice?.message?.content ? `; it said ${JSON.stringify(choice.message.content.slice(0, 80))}` : "";
    return { response: completion, text: null, problem: `the model did not call ${task.teacher.functionName} (finish_reason ${finish}${said})`, usage };
  }
  if (choice?.message?.refusal) return { response: completion, text: null, problem: `the model refused: ${choice.message.refusal}`, usage };
  if (typeof choice?.message?.content !== "string") return { response: completion, text: null, problem: `no content in the answer (finish_reason ${finish})`, usage };
  return { response: completion, text: choice.message.content, usage };
}

function openAiBackend(task: Task, s: Settings, prices: Prices | undefined): Backend {
  if (!prices) throw new Error(`labelRecords with provider "openai" needs opts.prices (cost.loadPrices()) to count the money spent`);
  apiPrice(prices, s.model); // fail now, naming the model, rather than after the first paid answer
  const client = openAiClient(s);
  return {
    model: s.model,
    request: (text) => openAiRequest(task, teacherMessages(task, text), s),
    cost: (usage) => apiCallCost(prices, s.model, usage, { batch: s.batchPricing }),
    estimateUsd: (text) => {
      const e = estimateRecord(task, text, s);
      return apiCallCost(prices, s.model, { inputTokens: e.inputTokens, outputTokens: e.outputTokens }, { batch: s.batchPricing });
    },
    async send(request, signal) {
      let attempts = 0;
      try {
        const completion = await pRetry(
          async () => {
            attempts += 1;
            try {
              return await client.chat.completions.create(request as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming, { signal });
            } catch (err) {
              if (signal?.aborted) throw new AbortError(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
              const verdict = classify(err, s.timeoutMs);
              if (!verdict.retry) throw new AbortError(new RequestFailure(verdict.reason, attempts));
              throw new RetryableError(verdict.reason, verdict.waitMs);
            }
          },
          {
            retries: s.maxRetries,
            minTimeout: 0, // the wait happens in onFailedAttempt, where Retry-After is known
            signal,
            onFailedAttempt: async ({ error, retriesLeft, attemptNumber }) => {
              if (retriesLeft > 0) await sleep((error as RetryableError).waitMs ?? backoffMs(attemptNumber, s.retryBaseMs), signal);
            },
          },
        );
        return { answer: completionAnswer(completion, request, task), attempts };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof RequestFailure) throw err;
        const reason = err instanceof RetryableError ? `${err.message} (gave up after ${attempts} attempts)` : (err as Error).message;
        throw new RequestFailure(reason, attempts);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The local teacher: node-llama-cpp on the CPU, output constrained by a grammar from the task's JSON schema.
// One model load per process; one context per (model, sequence count), whose sequences are reused.

type LlamaModule = typeof import("node-llama-cpp");
type LlamaChatT = InstanceType<LlamaModule["LlamaChat"]>;
type ChatHistoryItem = import("node-llama-cpp").ChatHistoryItem;

interface LocalPool {
  contextSize: number;
  /** Chats over the context's sequences that no request is using now. */
  free: LlamaChatT[];
  chatWrapper: LlamaChatT["chatWrapper"];
}

interface LocalRuntime {
  lib: LlamaModule;
  llama: Awaited<ReturnType<LlamaModule["getLlama"]>>;
  model: Awaited<ReturnType<Awaited<ReturnType<LlamaModule["getLlama"]>>["loadModel"]>>;
  contexts: Map<string, Promise<LocalPool>>;
  grammars: Map<string, Promise<import("node-llama-cpp").LlamaGrammar>>;
}

const localRuntimes = new Map<string, Promise<LocalRuntime>>();
let llamaPromise: Promise<LocalRuntime["llama"]> | null = null;

function localModelPath(model: string): string {
  const file = paths.resolve(model);
  if (!fs.existsSync(file)) throw new Error(`Local teacher model not found: ${file}. Give TeacherConfig.model a .gguf path (default: paths.smollm2Gguf()).`);
  return file;
}

function localRuntime(modelPath: string): Promise<LocalRuntime> {
  let rt = localRuntimes.get(modelPath);
  if (!rt) {
    rt = (async () => {
      const lib = await import("node-llama-cpp"); // loaded on first use: nothing else needs the native addon
      llamaPromise ??= lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
      const llama = await llamaPromise;
      const model = await llama.loadModel({ modelPath });
      return { lib, llama, model, contexts: new Map(), grammars: new Map() };
    })();
    rt.catch(() => localRuntimes.delete(modelPath));
    localRuntimes.set(modelPath, rt);
  }
  return rt;
}

/** Free the local model(s) this process loaded (tests and scripts call it so the process can exit promptly). */
export async function disposeLocalTeacher(): Promise<void> {
  const runtimes = [...localRuntimes.values()];
  localRuntimes.clear();
  for (const rt of runtimes) await (await rt.catch(() => null))?.model.dispose();
}

async function localSequences(rt: LocalRuntime, sequences: number, threads: number): Promise<LocalPool> {
  const id = `${sequences}/${threads}`;
  let ctx = rt.contexts.get(id);
  if (!ctx) {
    ctx = (async () => {
      const contextSize = Math.min(4096, rt.model.trainContextSize);
      const context = await rt.model.createContext({ sequences, contextSize, threads });
      const free = Array.from({ length: sequences }, () => new rt.lib.LlamaChat({ contextSequence: context.getSequence() }));
      return { contextSize: context.contextSize, free, chatWrapper: free[0].chatWrapper };
    })();
    rt.contexts.set(id, ctx);
  }
  return ctx;
}

function localGrammar(rt: LocalRuntime, schema: Record<string, unknown>) {
  const id = JSON.stringify(schema);
  let g = rt.grammars.get(id);
  if (!g) {
    g = rt.llama.createGrammarForJsonSchema(schema as never) as Promise<import("node-llama-cpp").LlamaGrammar>;
    rt.grammars.set(id, g);
  }
  return g;
}

function chatHistory(messages: Message[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) => {
    const text = typeof m.content === "string" ? m.content : "";
    if (m.role === "system") return { type: "system", text };
    if (m.role === "assistant") return { type: "model", response: [text] };
    return { type: "user", text };
  });
  history.push({ type: "model", response: [] });
  return history;
}

function promptTokens(pool: LocalPool, rt: LocalRuntime, history: ChatHistoryItem[]): number {
  return pool.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(rt.model.tokenizer).length;
}

async function localBackend(task: Task, s: Settings): Promise<Backend> {
  const modelPath = localModelPath(s.model);
  const rt = await localRuntime(modelPath);
  const pool = await localSequences(rt, s.concurrency, s.threads);
  const grammar = await localGrammar(rt, jsonSchema(task));
  return {
    model: path.basename(modelPath),
    request: (text) => localRequest(task, text, s),
    cost: () => 0,
    estimateUsd: () => 0,
    async send(request, signal) {
      // p-limit runs at most `concurrency` sends at once, and there are that many sequences.
      const chat = pool.free.pop()!;
      try {
        const history = chatHistory(request.messages as Message[]);
        const maxTokens = request.max_tokens as number;
        const inputTokens = promptTokens(pool, rt, history);
        if (inputTokens + maxTokens > pool.contextSize) {
          throw new RequestFailure(`the prompt has ${inputTokens} tokens; with ${maxTokens} for the answer it does not fit the local model's context of ${pool.contextSize}`, 1);
        }
        const before = chat.sequence.tokenMeter.getState();
        const r = await chat.generateResponse(history, { grammar, temperature: request.temperature as number, maxTokens, signal });
        const used = chat.sequence.tokenMeter.diff(before);
        const usage = { inputTokens, cachedInputTokens: Math.max(0, inputTokens - used.usedInputTokens), outputTokens: used.usedOutputTokens };
        return { answer: { response: { text: r.response, stopReason: r.metadata.stopReason }, text: r.response, usage }, attempts: 1 };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof RequestFailure) throw err;
        throw new RequestFailure(`local model error: ${(err as Error).message}`, 1);
      } finally {
        pool.free.push(chat);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Estimates (dry run).

// What an answer looks like, for counting its tokens: every field at a typical (longest) value.
function typicalLabels(task: Task): Labels {
  const labels: Labels = {};
  for (const f of task.fields) {
    if (f.type === "boolean") labels[f.name] = false;
    else if (f.type === "enum") labels[f.name] = [...f.values!].sort((a, b) => b.length - a.length)[0];
    else if (f.type === "integer") labels[f.name] = f.maximum ?? 100;
    else labels[f.name] = "a short answer of about ten words for this field".slice(0, f.maxLength ?? 60);
  }
  return labels;
}

// Compact JSON arguments plus the call's framing. For the recipe task this gives 42 output tokens, the average the
// 2023 original measured with gpt-4 function calls.
const toolCallFramingTokens = 4;

function estimateRecord(task: Task, text: string, s: Settings): { inputTokens: number; outputTokens: number } {
  const messages = teacherMessages(task, text) as ChatMessage[];
  const answer = JSON.stringify(typicalLabels(task));
  if (s.mode === "tool") {
    return { inputTokens: estimateChatTokens(s.model, messages, [toolDefinition(task)]), outputTokens: countTokens(s.model, answer) + toolCallFramingTokens };
  }
  // tokens.ts has no formula for response_format; the schema's JSON is a fair stand-in for what the API adds.
  const schemaTokens = countTokens(s.model, JSON.stringify(responseFormat(task).json_schema));
  return { inputTokens: estimateChatTokens(s.model, messages) + schemaTokens, outputTokens: countTokens(s.model, answer) + 1 };
}

/** Dry run: tokens in (real tokenizer), expected tokens out, dollars at the standard and batch price. With a store,
 *  records whose answer is already stored are left out (they cost nothing). The local model costs 0 and is counted
 *  with its own tokenizer. */
export async function estimateLabelingCost(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  prices?: Prices,
  opts: { store?: AnswerStore } = {},
): Promise<LabelingEstimate> {
  const s = settings(config);
  const todo = records.filter((r) => !opts.store?.has(requestKey(teacherRequest(task, r.text, config))));
  let inputTokens = 0;
  let outputTokens = 0;
  let usd = 0;
  let usdBatch: number | null = 0;
  if (s.provider === "openai") {
    if (!prices) throw new Error(`estimateLabelingCost for provider "openai" needs prices (cost.loadPrices())`);
    for (const r of todo) {
      const e = estimateRecord(task, r.text, s);
      inputTokens += e.inputTokens;
      outputTokens += e.outputTokens;
    }
    const total = { inputTokens, outputTokens };
    usd = apiCallCost(prices, s.model, total);
    usdBatch = apiPrice(prices, s.model).batch_discount === null ? null : apiCallCost(prices, s.model, total, { batch: true });
  } else {
    const rt = await localRuntime(localModelPath(s.model));
    const pool = await localSequences(rt, s.concurrency, s.threads);
    const answerTokens = rt.model.tokenize(JSON.stringify(typicalLabels(task))).length;
    for (const r of todo) {
      inputTokens += promptTokens(pool, rt, chatHistory(localMessages(task, r.text)));
      outputTokens += answerTokens;
    }
  }
  const n = Math.max(1, todo.length);
  return {
    model: s.provider === "local" ? path.basename(s.model) : s.model,
    records: todo.length,
    alreadyStored: records.length - todo.length,
    inputTokens,
    outputTokens,
    usd,
    usdBatch,
    perRecord: { inputTokens: inputTokens / n, outputTokens: outputTokens / n, usd: usd / n },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Labeling.

function checkRecords(records: CorpusRecord[]): void {
  records.forEach((r, i) => {
    if (typeof r?.id !== "string" || r.id === "") throw new Error(`records[${i}] has no string "id"`);
    if (typeof r.text !== "string") throw new Error(`records[${i}] (id ${r.id}) has no string "text"`);
  });
}

/** Label every record, in order. Answers already in the store are served from it at no cost; new ones are fsynced to
 *  the store before they are used. A failed record does not stop the run. Throws the signal's reason when aborted
 *  (answers stored so far are kept), and refuses to start when the estimate is over config.budgetUsd. */
export async function labelRecords(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  opts: { store: AnswerStore; prices?: Prices; onProgress?: OnProgress; signal?: AbortSignal },
): Promise<LabelRun> {
  const s = settings(config);
  checkRecords(records);
  const { store, signal, onProgress } = opts;
  signal?.throwIfAborted();
  const started = performance.now();
  const backend = s.provider === "openai" ? openAiBackend(task, s, opts.prices) : await localBackend(task, s);
  // A record's request and key are built when its turn comes, so the first requests go out at once instead of after
  // all of them are hashed (~50 µs each); a budget check needs them all up front.
  const requests: Record<string, unknown>[] = new Array(records.length);
  const keys: string[] = new Array(records.length);
  const prepare = (i: number) => {
    if (keys[i] === undefined) {
      requests[i] = backend.request(records[i].text);
      keys[i] = requestKey(requests[i]);
    }
  };
  if (s.budgetUsd !== undefined) records.forEach((_, i) => prepare(i));

  // Per-record estimates only matter for the budget (and loading the tokenizer takes a second), so only with one.
  const estimates = records.map((r, i) => (s.budgetUsd === undefined || store.has(keys[i]) ? 0 : backend.estimateUsd(r.text)));
  if (s.budgetUsd !== undefined) {
    const estimate = estimates.reduce((a, b) => a + b, 0);
    if (estimate > s.budgetUsd) {
      const todo = estimates.filter((e) => e > 0).length;
      throw new Error(
        `Estimated cost $${estimate.toFixed(4)} for ${todo} records not yet in the store exceeds budgetUsd $${s.budgetUsd}. ` +
          `Raise budgetUsd to at least ${Math.ceil(estimate * 100) / 100} in the teacher config, or label fewer records.`,
      );
    }
  }

  let spent = 0;
  let reserved = 0; // estimates of requests in flight, so concurrent sends cannot overshoot the budget together
  let stoppedByBudget = false;
  let done = 0;
  let failed = 0;
  let cachedCount = 0;
  let skipped = 0;
  // `answer` is set when the answer was bought in this run (the repair step needs the raw answer).
  type Obtained = { entry: StoreEntry; attempts: number; answer?: Answer };
  const inflight = new Map<string, Promise<Obtained | null>>();

  let crashed: { error: unknown } | null = null; // e.g. the store cannot be written: start nothing more
  // At most `concurrency` requests in flight. A request holds its slot while it is sent (and retried) and gives it
  // back as soon as its answer is in hand, before the answer is written and fsynced: the next request need not wait
  // for the disk (at concurrency 64 that wait cost about a tenth of the throughput).
  const sending = pLimit(s.concurrency);

  // One answer for a request: from the store, from a request already in flight in this run (same text twice), or
  // bought now and stored before it is returned.
  async function obtain(key: string, request: Record<string, unknown>, estimateUsd: number): Promise<(Obtained & { fresh: boolean }) | null> {
    const stored = store.get(key);
    if (stored) return { entry: stored, attempts: 0, fresh: false };
    const shared = inflight.get(key);
    if (shared) {
      const got = await shared;
      return got && { ...got, attempts: 0, fresh: false };
    }
    const buying = (async (): Promise<Obtained | null> => {
      const sent = await sending(async () => {
        signal?.throwIfAborted();
        if (crashed) throw crashed.error;
        // Once the budget stops the run, nothing more is bought, even a request that would still fit.
        if (stoppedByBudget || (s.budgetUsd !== undefined && spent + reserved + estimateUsd > s.budgetUsd)) {
          stoppedByBudget = true;
          return null;
        }
        reserved += estimateUsd;
        try {
          const { answer, attempts } = await backend.send(request, signal);
          const costUsd = backend.cost(answer.usage);
          spent += costUsd; // paid once the answer is here, so the next budget check counts it
          return { answer, attempts, costUsd };
        } catch (err) {
          if (err instanceof RequestFailure) return err;
          throw err;
        } finally {
          reserved -= estimateUsd;
        }
      });
      if (sent === null) return null;
      if (sent instanceof RequestFailure) {
        const entry = await store.put({ key, request, error: sent.message, costUsd: 0 });
        return { entry, attempts: sent.attempts };
      }
      const { answer, attempts, costUsd } = sent;
      const parsed = answer.text === null ? { ok: false as const, error: answer.problem! } : parseLabels(task, answer.text);
      const entry = await store.put({
        key,
        request,
        response: answer.response,
        usage: answer.usage,
        ...(parsed.ok ? { labels: parsed.labels } : { error: parsed.error }),
        costUsd,
        ...(s.batchPricing ? { batch: true } : {}),
      });
      return { entry, attempts, answer };
    })();
    inflight.set(key, buying);
    try {
      const got = await buying;
      return got && { ...got, fresh: true };
    } finally {
      inflight.delete(key);
    }
  }

  async function labelOne(i: number): Promise<LabelResult> {
    const record = records[i];
    const usage: StoreUsage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 };
    let costUsd = 0;
    let attempts = 0;
    let cached = true;
    prepare(i);
    let request = requests[i];
    let key = keys[i];
    const result = (fields: Pick<LabelResult, "status" | "labels" | "error">): LabelResult => ({
      id: record.id,
      ...fields,
      attempts,
      cached,
      usage,
      costUsd,
      model: backend.model,
    });
    for (let round = 1; ; round++) {
      const got = await obtain(key, request, estimates[i]);
      if (!got) {
        skipped += 1;
        return result({ status: "failed", error: `not sent: the budget of $${s.budgetUsd} was reached` });
      }
      attempts += got.attempts;
      const u = got.entry.usage;
      if (u) {
        usage.inputTokens += u.inputTokens;
        usage.cachedInputTokens += u.cachedInputTokens;
        usage.outputTokens += u.outputTokens;
      }
      if (got.fresh) {
        cached = false;
        costUsd += got.entry.costUsd ?? 0;
      }
      if (got.entry.labels && got.entry.error === undefined) return result({ status: "ok", labels: got.entry.labels });
      // An answer that came back but did not fit the schema gets one more chance, as a new request naming the error.
      // (Only answers bought in this run can be invalid here: the store serves valid ones only.)
      if (round === 1 && got.answer) {
        request = repairRequest(request, got.answer, got.entry.error!, task);
        key = requestKey(request);
        continue;
      }
      return result({ status: "failed", error: got.entry.error });
    }
  }

  // Records in progress: those whose requests are out, and as many again being stored or waiting for a slot.
  const limit = pLimit(2 * s.concurrency);
  const results: LabelResult[] = new Array(records.length);
  const settled = await Promise.allSettled(
    records.map((_, i) =>
      limit(async () => {
        signal?.throwIfAborted();
        if (crashed) throw crashed.error;
        const r = await labelOne(i).catch((error: unknown) => {
          crashed ??= { error };
          throw error;
        });
        results[i] = r;
        done += 1;
        if (r.status === "failed") failed += 1;
        if (r.cached && r.status === "ok") cachedCount += 1;
        const seconds = (performance.now() - started) / 1000;
        onProgress?.({ label: `teacher ${backend.model}`, done, total: records.length, failed, costUsd: spent, extra: { cached: cachedCount, "rate/s": Math.round((done / Math.max(seconds, 1e-3)) * 10) / 10 } });
      }),
    ),
  );
  if (signal?.aborted) throw signal.reason;
  const crash = settled.find((p) => p.status === "rejected");
  if (crash) throw (crash as PromiseRejectedResult).reason;

  const totals = { ok: 0, failed: 0, cached: 0, skipped, costUsd: 0, inputTokens: 0, outputTokens: 0, seconds: (performance.now() - started) / 1000 };
  for (const r of results) {
    if (r.status === "ok") totals.ok += 1;
    else totals.failed += 1;
    if (r.status === "ok" && r.cached) totals.cached += 1;
    totals.costUsd += r.costUsd;
    totals.inputTokens += r.usage.inputTokens;
    totals.outputTokens += r.usage.outputTokens;
  }
  return { results, totals, stoppedByBudget };
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAI Batch API: half price, answers within 24 h. The input file holds the same bodies labelRecords would send,
// so importing the output fills the store under the same keys and labelRecords then serves them at no cost.

const batchUrl = "/v1/chat/completions";

/** Write the Batch API input JSONL ({custom_id, method, url, body} per record; custom_id = record id). */
export function writeBatchInput(task: Task, records: CorpusRecord[], config: TeacherConfig, file: string): { file: string; requests: number } {
  const s = settings(config);
  if (s.provider !== "openai") throw new Error(`writeBatchInput: the Batch API is OpenAI's; use a teacher config with provider "openai"`);
  checkRecords(records);
  const seen = new Set<string>();
  const lines = records.map((r) => {
    if (seen.has(r.id)) throw new Error(`writeBatchInput: record id "${r.id}" appears twice; custom_id must be unique in a batch`);
    seen.add(r.id);
    return JSON.stringify({ custom_id: r.id, method: "POST", url: batchUrl, body: openAiRequest(task, teacherMessages(task, r.text), s) });
  });
  const out = paths.resolve(file);
  paths.ensureDir(path.dirname(out));
  fs.writeFileSync(out, lines.join("\n") + (lines.length ? "\n" : ""));
  return { file: out, requests: lines.length };
}

export interface BatchImport {
  /** Answers stored with labels. */
  imported: number;
  /** Lines stored as failures (error status, or an answer that did not fit the schema: labelRecords retries those). */
  failed: number;
  /** Lines whose answer was already in the store (nothing written). */
  alreadyStored: number;
  /** custom_ids that match none of the given records. */
  unmatched: string[];
  /** What the imported answers cost at the batch price. */
  costUsd: number;
}

interface BatchOutputLine {
  custom_id?: string;
  response?: { status_code?: number; body?: unknown } | null;
  error?: { code?: string; message?: string } | null;
}

/** Read a Batch API output JSONL into the store, under the keys live requests for the same records would have. */
export async function importBatchOutput(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  file: string,
  store: AnswerStore,
  prices: Prices = loadPrices(),
): Promise<BatchImport> {
  const s = settings(config);
  if (s.provider !== "openai") throw new Error(`importBatchOutput: the Batch API is OpenAI's; use a teacher config with provider "openai"`);
  checkRecords(records);
  const byId = new Map(records.map((r) => [r.id, r]));
  const source = paths.resolve(file);
  const lines = fs.readFileSync(source, "utf8").split("\n");
  const summary: BatchImport = { imported: 0, failed: 0, alreadyStored: 0, unmatched: [], costUsd: 0 };
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let out: BatchOutputLine;
    try {
      out = JSON.parse(line) as BatchOutputLine;
    } catch (err) {
      throw new Error(`${source}, line ${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof out.custom_id !== "string") throw new Error(`${source}, line ${i + 1}: no "custom_id"; is this a Batch API output file?`);
    const record = byId.get(out.custom_id);
    if (!record) {
      summary.unmatched.push(out.custom_id);
      continue;
    }
    const request = openAiRequest(task, teacherMessages(task, record.text), s);
    const key = requestKey(request);
    if (store.has(key)) {
      summary.alreadyStored += 1;
      continue;
    }
    const status = out.response?.status_code;
    if (out.error || status !== 200 || !out.response?.body) {
      const message = out.error
        ? `${out.error.code ?? "error"}: ${out.error.message ?? ""}`
        : `HTTP ${status}: ${(out.response?.body as { error?: { message?: string } } | undefined)?.error?.message ?? "no body"}`;
      await store.put({ key, request, response: out.response ?? undefined, error: `batch: ${message}`, costUsd: 0, batch: true });
      summary.failed += 1;
      continue;
    }
    const answer = completionAnswer(out.response.body as OpenAI.Chat.Completions.ChatCompletion, request, task);
    const costUsd = apiCallCost(prices, s.model, answer.usage, { batch: true });
    const parsed = answer.text === null ? { ok: false as const, error: answer.problem! } : parseLabels(task, answer.text);
    await store.put({ key, request, response: answer.response, usage: answer.usage, ...(parsed.ok ? { labels: parsed.labels } : { error: parsed.error }), costUsd, batch: true });
    summary.costUsd += costUsd;
    if (parsed.ok) summary.imported += 1;
    else summary.failed += 1;
  }
  return summary;
}
