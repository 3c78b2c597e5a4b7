// The OpenAI provider: any OpenAI-compatible chat completions API through the openai SDK, with our own retries
// (Retry-After honoured, attempts counted per record, the reason kept), a forced function call or structured output,
// and the token estimate the budget and the dry run use (the model's real tokenizer, OpenAI's counting rules).
import OpenAI from "openai";
import pRetry, { AbortError } from "p-retry";
import { apiCallCost, apiPrice, type Prices } from "../prices";
import { redactUrls, splitCredentials } from "../redact";
import { responseFormat, teacherMessages, toolChoice, toolDefinition, type Task } from "../task";
import { countTokens, estimateChatTokens, type ChatMessage } from "../tokens";
import type { StoreUsage } from "./store";
import { RequestFailure, typicalLabels, type Answer, type Message, type Provider, type Settings } from "./teacher";

/** The request body for one record (also what the Batch API input file holds). */
export function openAiRequest(task: Task, messages: Message[], s: Settings): Record<string, unknown> {
  return {
    model: s.model,
    messages,
    ...(s.mode === "tool" ? { tools: [toolDefinition(task)], tool_choice: toolChoice(task) } : { response_format: responseFormat(task) }),
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    [outputLimitParameter(s)]: maxOutputTokens(task, s),
  };
}

// Reasoning models spend hidden reasoning tokens out of the same allowance as the answer (and bill them as output).
const reasoningModel = /^(ft:)?(o\d|gpt-5)/;

/** The most output tokens one answer may have: the config's, else 4x a typical answer (at least 256), or 8192 for a
 *  reasoning model. It bounds what one request can cost, which the budget reserves before sending it. */
export function maxOutputTokens(task: Task, s: Settings): number {
  if (s.maxOutputTokens !== undefined) return s.maxOutputTokens;
  if (reasoningModel.test(s.model)) return 8192;
  return Math.max(256, 4 * (countTokens(s.model, JSON.stringify(typicalLabels(task))) + toolCallFramingTokens));
}

/** api.openai.com (and Azure OpenAI) take max_completion_tokens, and reasoning models refuse max_tokens; the
 *  OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LM Studio) all read max_tokens, not all the newer name. */
function outputLimitParameter(s: Settings): "max_completion_tokens" | "max_tokens" {
  const baseURL = s.baseURL ?? process.env.OPENAI_BASE_URL;
  if (!baseURL) return "max_completion_tokens";
  let host = "";
  try {
    host = new URL(baseURL).hostname;
  } catch {
    return "max_tokens";
  }
  return host === "api.openai.com" || host.endsWith(".openai.azure.com") ? "max_completion_tokens" : "max_tokens";
}

// A prompt counted by OpenAI's rules can come out a little longer at the server (tool schemas are counted by a
// formula); the worst case allows for that.
const inputMargin = 1.25;

class RetryableError extends Error {
  constructor(
    message: string,
    readonly waitMs?: number,
  ) {
    super(message);
  }
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

// Connection errors that mean the request never reached a server (so nothing can have been billed).
const neverSent = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string") codes.push(e.code);
  }
  return codes;
}

/** Retry what can succeed later (429 except an exhausted quota, 408, 409, 5xx, timeouts, dropped connections); fail at
 *  once on the rest (400, 401, 403, 404, 422: sending again would give the same answer). `unanswered`: the attempt got
 *  no answer but the server may have done (and billed) the work: a timeout, or a connection lost once it was made. */
function classify(err: unknown, timeoutMs: number): { retry: boolean; reason: string; waitMs?: number; unanswered?: boolean } {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return { retry: true, reason: `timed out after ${timeoutMs} ms`, unanswered: true };
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err as { cause?: Error }).cause?.message;
    const unanswered = !causeCodes(err).some((c) => neverSent.has(c));
    return { retry: true, reason: `connection failed: ${err.message}${cause ? ` (${cause})` : ""}`, unanswered };
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
  const configured = s.baseURL ?? process.env.OPENAI_BASE_URL ?? undefined;
  // An OpenAI-compatible local server takes any key; api.openai.com needs a real one.
  const apiKey = process.env.OPENAI_API_KEY || (configured ? "not-needed" : undefined);
  if (!apiKey) {
    throw new Error(
      `The OpenAI teacher needs OPENAI_API_KEY (for api.openai.com) or OPENAI_BASE_URL (for an OpenAI-compatible server); ` +
        `neither is set. Set one of them, or use the offline teacher: teacherFromEnv({ provider: "local" }).`,
    );
  }
  // user:password@ in the base URL is sent as HTTP Basic authorization (in place of the bearer key), from a URL
  // without it: Node's fetch refuses a URL with credentials, and its error would carry the password into the store.
  const { url: baseURL, authorization } = configured ? splitCredentials(configured) : { url: undefined, authorization: undefined };
  // The SDK's own retries are off: ours honour Retry-After, count attempts per record and record the reason.
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: s.timeoutMs, ...(authorization ? { defaultHeaders: { Authorization: authorization } } : {}) });
}

/** The labels text of a ChatCompletion: the forced tool call's arguments, or the content in json_schema mode. */
export function completionAnswer(completion: OpenAI.Chat.Completions.ChatCompletion, request: Record<string, unknown>, task: Task): Answer {
  const choice = completion.choices?.[0];
  const u = completion.usage;
  const usage: StoreUsage = {
    inputTokens: u?.prompt_tokens ?? 0,
    cachedInputTokens: u?.prompt_tokens_details?.cached_tokens ?? 0,
    outputTokens: u?.completion_tokens ?? 0,
  };
  const finish = choice?.finish_reason ?? "none";
  if (finish === "length") {
    const limit = request.max_completion_tokens ?? request.max_tokens;
    return { response: completion, text: null, problem: `the answer was cut off at the output limit of ${String(limit)} tokens (finish_reason length): raise TeacherConfig.maxOutputTokens`, usage };
  }
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

export function openAiProvider(task: Task, s: Settings, prices: Prices | undefined): Provider {
  if (!prices) throw new Error(`labelRecords with provider "openai" needs opts.prices (cost.loadPrices()) to count the money spent`);
  apiPrice(prices, s.model); // fail now, naming the model, rather than after the first paid answer
  const client = openAiClient(s);
  const outputLimit = maxOutputTokens(task, s);
  return {
    model: s.model,
    request: (text) => openAiRequest(task, teacherMessages(task, text), s),
    cost: (usage) => apiCallCost(prices, s.model, usage, { batch: s.batchPricing }),
    costBounds: (text) => {
      const e = openAiTokenEstimate(task, text, s);
      const price = (inputTokens: number, outputTokens: number) => apiCallCost(prices, s.model, { inputTokens, outputTokens }, { batch: s.batchPricing });
      return { expectedUsd: price(e.inputTokens, e.outputTokens), worstUsd: price(Math.ceil(e.inputTokens * inputMargin), outputLimit) };
    },
    async send(request, signal, hooks) {
      let attempts = 0;
      let unanswered = 0;
      try {
        const completion = await pRetry(
          async () => {
            attempts += 1;
            try {
              return await client.chat.completions.create(request as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming, { signal });
            } catch (err) {
              if (signal?.aborted) throw new AbortError(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
              const verdict = classify(err, s.timeoutMs);
              verdict.reason = redactUrls(verdict.reason); // an error may quote the URL it was sent to
              if (verdict.unanswered) {
                unanswered += 1;
                const willRetry = attempts <= s.maxRetries;
                if (hooks?.unanswered?.(willRetry) === false && willRetry) {
                  throw new AbortError(new RequestFailure(`${verdict.reason} (not retried: the budget is reached)`, attempts, unanswered));
                }
              }
              if (!verdict.retry) throw new AbortError(new RequestFailure(verdict.reason, attempts, unanswered));
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
        return { answer: completionAnswer(completion, request, task), attempts, unanswered };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof RequestFailure) throw err;
        const reason = err instanceof RetryableError ? `${err.message} (gave up after ${attempts} attempts)` : (err as Error).message;
        throw new RequestFailure(reason, attempts, unanswered);
      }
    },
  };
}

// Compact JSON arguments plus the call's framing. For the recipe task this gives 42 output tokens, the average the
// 2023 original measured with gpt-4 function calls.
const toolCallFramingTokens = 4;

export function openAiTokenEstimate(task: Task, text: string, s: Settings): { inputTokens: number; outputTokens: number } {
  const messages = teacherMessages(task, text) as ChatMessage[];
  const answer = JSON.stringify(typicalLabels(task));
  if (s.mode === "tool") {
    return { inputTokens: estimateChatTokens(s.model, messages, [toolDefinition(task)]), outputTokens: countTokens(s.model, answer) + toolCallFramingTokens };
  }
  // tokens.ts has no formula for response_format; the schema's JSON is a fair stand-in for what the API adds.
  const schemaTokens = countTokens(s.model, JSON.stringify(responseFormat(task).json_schema));
  return { inputTokens: estimateChatTokens(s.model, messages) + schemaTokens, outputTokens: countTokens(s.model, answer) + 1 };
}
