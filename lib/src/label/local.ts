// The local provider: a GGUF model through node-llama-cpp on the CPU, its output constrained by a grammar made from
// the task's JSON schema; free, offline. One model load per process; one context per (model, sequence count), whose
// sequences are reused.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import { jsonSchema, studentTarget, type Task } from "../task";
import { RequestFailure, typicalLabels, type Message, type Provider, type Settings } from "./teacher";

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

export function localRequest(task: Task, text: string, s: Settings): Record<string, unknown> {
  return {
    provider: "local",
    model: path.basename(s.model),
    messages: localMessages(task, text),
    json_schema: jsonSchema(task),
    temperature: s.temperature ?? 0,
    max_tokens: localMaxTokens(task),
  };
}

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

export async function localProvider(task: Task, s: Settings): Promise<Provider> {
  const modelPath = localModelPath(s.model);
  const rt = await localRuntime(modelPath);
  const pool = await localSequences(rt, s.concurrency, s.threads);
  const grammar = await localGrammar(rt, jsonSchema(task));
  return {
    model: path.basename(modelPath),
    request: (text) => localRequest(task, text, s),
    cost: () => 0,
    costBounds: () => ({ expectedUsd: 0, worstUsd: 0 }),
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
        return { answer: { response: { text: r.response, stopReason: r.metadata.stopReason }, text: r.response, usage }, attempts: 1, unanswered: 0 };
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

/** Prompt tokens (the model's own tokenizer and chat template) and expected answer tokens, for the dry run. */
export async function localTokenEstimate(task: Task, s: Settings, texts: string[]): Promise<{ inputTokens: number; outputTokens: number }> {
  const rt = await localRuntime(localModelPath(s.model));
  const pool = await localSequences(rt, s.concurrency, s.threads);
  const answerTokens = rt.model.tokenize(JSON.stringify(typicalLabels(task))).length;
  let inputTokens = 0;
  let outputTokens = 0;
  for (const text of texts) {
    inputTokens += promptTokens(pool, rt, chatHistory(localMessages(task, text)));
    outputTokens += answerTokens;
  }
  return { inputTokens, outputTokens };
}
