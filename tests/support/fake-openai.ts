// A real HTTP server speaking OpenAI's POST /v1/chat/completions, for tests and benchmarks. It answers from a
// deterministic labeling function of the recipe text (so answers can be checked), and each request can be scripted
// to misbehave: delay, 429 with Retry-After, 5xx, malformed or wrongly typed arguments, a dropped connection.
// It counts requests by their store key (requestKey of the body), so tests can assert "never sent twice".
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { label } from "@distill/lib";

export type Behavior =
  /** A normal answer (tool call or JSON content, following the request), optionally with other labels or usage. */
  | { kind: "answer"; labels?: Record<string, unknown>; usage?: Partial<FakeUsage>; finishReason?: string }
  /** An answer whose tool arguments / content is exactly this text (malformed JSON, wrong types, ...). */
  | { kind: "raw"; text: string }
  /** An error status with an OpenAI-style error body. */
  | { kind: "status"; status: number; headers?: Record<string, string>; message?: string; code?: string }
  /** Close the socket without answering. */
  | { kind: "drop" };

export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
}

export interface SeenRequest {
  key: string;
  body: Record<string, unknown>;
  /** The first user message: the record's text. */
  text: string;
  /** 1 for the first request carrying this text, 2 for the next (a retry or a repair), ... */
  textCount: number;
  /** True when the conversation already holds an answer (a repair request). */
  repair: boolean;
  /** The Authorization header as received. */
  authorization?: string;
  at: number;
}

export interface FakeOpenAIOptions {
  /** Latency of every answer, ms (a number, or a function of the request, e.g. random). Default 0. */
  delayMs?: number | ((req: SeenRequest) => number);
  /** Decide the behaviour of a request; undefined means a normal answer. Runs after `queue` is empty. */
  script?: (req: SeenRequest) => Behavior | undefined;
  /** Labels for a record text; default recipeLabels, with fields the task schema has but it lacks filled by type. */
  label?: (text: string) => Record<string, unknown>;
  /** Usage to report; default: about one token per 4 characters of the request messages and of the answer. */
  usage?: (req: SeenRequest, answerText: string) => Partial<FakeUsage>;
}

export interface FakeOpenAI {
  /** Base URL for the SDK, e.g. http://127.0.0.1:40123/v1 */
  url: string;
  /** Behaviours consumed one per request before `script` is asked (tests push onto it). */
  queue: Behavior[];
  options: FakeOpenAIOptions;
  /** Every request received, in arrival order. */
  requests: SeenRequest[];
  /** Requests received per store key. */
  counts: Map<string, number>;
  /** What the server did the work for and would bill: every answer it produced, also when the client had gone
   *  (timed out, aborted) by the time it was ready. */
  billed: { key: string; usage: FakeUsage }[];
  inFlight: number;
  maxInFlight: number;
  reset(): void;
  stop(): Promise<void>;
}

/** The deterministic "teacher" the fake server plays: keyword rules over the recipe text. */
export function recipeLabels(text: string): Record<string, boolean> {
  const t = text.toLowerCase();
  const meat = /\b(beef|pork|chicken|bacon|ham|lamb|mutton|veal|lard|gelatin)\b/.test(t);
  return {
    has_non_fish_meat: meat,
    requires_oven: /\b(bake|baked|oven|roast)\b/.test(t),
    requires_stove: /\b(boil|fry|simmer|saucepan|stew)\b/.test(t),
    cook_time_over_30_mins: /\b(hours?|overnight)\b/.test(t),
    main_dish: meat || /\b(fish|stew|pie)\b/.test(t),
  };
}

interface SchemaProperty {
  type?: string;
  enum?: unknown[];
  minimum?: number;
}

function schemaOf(body: Record<string, unknown>): { properties?: Record<string, SchemaProperty> } | undefined {
  const tools = body.tools as { function?: { parameters?: unknown } }[] | undefined;
  if (tools?.[0]?.function?.parameters) return tools[0].function.parameters as { properties?: Record<string, SchemaProperty> };
  const rf = body.response_format as { json_schema?: { schema?: unknown } } | undefined;
  return rf?.json_schema?.schema as { properties?: Record<string, SchemaProperty> } | undefined;
}

function labelsFor(body: Record<string, unknown>, text: string, label: (text: string) => Record<string, unknown>): Record<string, unknown> {
  const known = label(text);
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schemaOf(body)?.properties ?? {})) {
    if (name in known) out[name] = known[name];
    else if (prop.enum) out[name] = prop.enum[0];
    else if (prop.type === "integer") out[name] = prop.minimum ?? 0;
    else if (prop.type === "string") out[name] = "";
    else out[name] = false;
  }
  return out;
}

function contentText(body: Record<string, unknown>): string {
  const messages = (body.messages as { content?: unknown }[] | undefined) ?? [];
  return messages.map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? ""))).join("\n");
}

function completion(body: Record<string, unknown>, argumentsText: string, usage: FakeUsage, n: number, finishReason?: string): Record<string, unknown> {
  const tool = Array.isArray(body.tools) && body.tools.length > 0;
  const fnName = (body.tools as { function: { name: string } }[] | undefined)?.[0]?.function.name ?? "classify";
  const message = tool
    ? { role: "assistant", content: null, refusal: null, tool_calls: [{ id: `call_${n}`, type: "function", function: { name: fnName, arguments: argumentsText } }] }
    : { role: "assistant", content: argumentsText, refusal: null };
  return {
    id: `chatcmpl-fake-${n}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: String(body.model),
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason ?? (tool ? "tool_calls" : "stop") }],
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: usage.cached_tokens },
    },
  };
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const textCounts = new Map<string, number>();
  const fake: FakeOpenAI = {
    url: "",
    queue: [],
    options,
    requests: [],
    counts: new Map(),
    billed: [],
    inFlight: 0,
    maxInFlight: 0,
    reset() {
      this.queue.length = 0;
      this.requests.length = 0;
      this.counts.clear();
      this.billed.length = 0;
      textCounts.clear();
      this.maxInFlight = this.inFlight;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `fake-openai: no route ${req.method} ${req.url}`, type: "invalid_request_error" } }));
        return;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "fake-openai: body is not JSON", type: "invalid_request_error" } }));
        return;
      }
      const messages = (body.messages as { role: string; content?: unknown }[]) ?? [];
      const text = String(messages.find((m) => m.role === "user")?.content ?? "");
      const textCount = (textCounts.get(text) ?? 0) + 1;
      textCounts.set(text, textCount);
      const key = label.requestKey(body);
      const seen: SeenRequest = { key, body, text, textCount, repair: messages.some((m) => m.role === "assistant"), authorization: req.headers.authorization, at: Date.now() };
      fake.requests.push(seen);
      fake.counts.set(key, (fake.counts.get(key) ?? 0) + 1);
      fake.inFlight += 1;
      fake.maxInFlight = Math.max(fake.maxInFlight, fake.inFlight);
      let finished = false;
      const finish = () => {
        if (!finished) fake.inFlight -= 1;
        finished = true;
      };
      res.on("close", finish);

      const behavior: Behavior = fake.queue.shift() ?? options.script?.(seen) ?? { kind: "answer" };
      const delay = typeof options.delayMs === "function" ? options.delayMs(seen) : (options.delayMs ?? 0);
      setTimeout(() => {
        if (behavior.kind === "drop") {
          req.socket.destroy();
          finish();
          return;
        }
        if (behavior.kind === "status") {
          const errorBody = { error: { message: behavior.message ?? `fake-openai: scripted ${behavior.status}`, type: "fake_error", code: behavior.code ?? null } };
          res.writeHead(behavior.status, { "content-type": "application/json", ...behavior.headers });
          res.end(JSON.stringify(errorBody));
          return;
        }
        const argumentsText =
          behavior.kind === "raw" ? behavior.text : JSON.stringify(behavior.labels ?? labelsFor(body, text, options.label ?? recipeLabels));
        const approx: FakeUsage = {
          prompt_tokens: Math.ceil(contentText(body).length / 4) + 20,
          completion_tokens: Math.ceil(argumentsText.length / 4) + 4,
          cached_tokens: 0,
        };
        const usage: FakeUsage = { ...approx, ...options.usage?.(seen, argumentsText), ...(behavior.kind === "answer" ? behavior.usage : {}) };
        fake.billed.push({ key, usage });
        if (res.destroyed) return; // the client gave up (timeout, abort): the work is done and billed all the same
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(completion(body, argumentsText, usage, fake.requests.length, behavior.kind === "answer" ? behavior.finishReason : undefined)));
      }, delay);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.maxConnections = 1024;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
