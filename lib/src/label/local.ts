// The local provider: a GGUF model through node-llama-cpp on the CPU, its output constrained by a grammar made from
// the task's JSON schema; free, offline. One model load per process; per request slot a context of its own.
//
// A record is labeled the same way whatever was labeled before it in the process. Every prompt starts with the same
// tokens (system prompt, examples, the opening of the user turn): the fixed prefix. Each slot evaluates it once, on
// its own, and before each record cuts its sequence back to exactly that prefix, so every record is evaluated from
// the same state in the same batches. Without the cut, LlamaChat kept the longest common prefix with the previous
// record, which can run into the record's own text (near-duplicates, titles that start alike): the rest was then
// evaluated in other batches, and llama.cpp's CPU kernels are not batch-invariant (logits move by up to ~0.3,
// measured), enough to flip a close call. For the same reason each slot has a context of its own: sequences of one
// context are evaluated in shared batches, so one record's logits would depend on what another was evaluating.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import { jsonSchema, studentTarget, type Task } from "../task";
import { localPromptFor, type LocalPrompt } from "./local-models";
import { RequestFailure, typicalLabels, type Message, type Provider, type Settings } from "./teacher";

// A small local model sees no tool schema, so the system prompt spells out the fields; the grammar enforces the shape.
// `prompt` picks the task's short prompt or its guide (local-models.ts says which model gets which).
function localMessages(task: Task, text: string, prompt: LocalPrompt): Message[] {
  const chosen = prompt === "guide" ? task.teacher.guide : task.teacher;
  if (!chosen) throw new Error(`The local teacher's prompt "guide" needs teacher.guide in the task file ${task.file}; it has none (use prompt "short")`);
  const fields = task.fields.map((f) => `- ${f.name} (${f.type === "enum" ? `one of ${f.values!.join(", ")}` : f.type}): ${f.description}`);
  return [
    { role: "system", content: `${chosen.systemPrompt}\n\nAnswer with a JSON object with these fields:\n${fields.join("\n")}` },
    // A 135M model answers `true` to everything from instructions alone (measured: every field, every recipe);
    // worked examples with contrasting answers (data/tasks/<task>.json teacher.examples) make its labels vary.
    ...chosen.examples.flatMap((ex): Message[] => [
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
    messages: localMessages(task, text, localPromptFor(task, s.model, s.prompt)),
    json_schema: jsonSchema(task),
    temperature: s.temperature ?? 0,
    max_tokens: localMaxTokens(task),
  };
}

type LlamaModule = typeof import("node-llama-cpp");
type LlamaChatT = InstanceType<LlamaModule["LlamaChat"]>;
type ChatHistoryItem = import("node-llama-cpp").ChatHistoryItem;
type Token = import("node-llama-cpp").Token;

/** One request at a time: a context of its own, its one sequence, a chat over it, and which fixed prefix (by key) the
 *  sequence holds now (null: none, or unknown after a failure). */
interface Slot {
  chat: LlamaChatT;
  prefixKey: string | null;
}

interface LocalPool {
  contextSize: number;
  /** Slots that no request is using now. */
  free: Slot[];
  chatWrapper: LlamaChatT["chatWrapper"];
}

interface LocalRuntime {
  lib: LlamaModule;
  llama: Awaited<ReturnType<LlamaModule["getLlama"]>>;
  model: Awaited<ReturnType<Awaited<ReturnType<LlamaModule["getLlama"]>>["loadModel"]>>;
  contexts: Map<string, Promise<LocalPool>>;
  grammars: Map<string, Promise<import("node-llama-cpp").LlamaGrammar>>;
  /** Fixed prefixes by the JSON of the messages before the record. */
  prefixes: Map<string, Token[]>;
}

const localRuntimes = new Map<string, Promise<LocalRuntime>>();
let llamaPromise: Promise<LocalRuntime["llama"]> | null = null;

function localModelPath(model: string): string {
  const file = paths.resolve(model);
  if (!fs.existsSync(file)) throw new Error(`Local teacher model not found: ${file}. Give TeacherConfig.model a .gguf path (default: paths.smollm2Gguf(); \`npm run install-teacher -- qwen\` installs Qwen2.5-Coder-1.5B).`);
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
      return { lib, llama, model, contexts: new Map(), grammars: new Map(), prefixes: new Map() };
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

async function localSlots(rt: LocalRuntime, slots: number, threads: number): Promise<LocalPool> {
  const id = `${slots}/${threads}`;
  let pool = rt.contexts.get(id);
  if (!pool) {
    pool = (async () => {
      const contextSize = Math.min(4096, rt.model.trainContextSize);
      const free: Slot[] = [];
      for (let i = 0; i < slots; i++) {
        const context = await rt.model.createContext({ sequences: 1, contextSize, threads });
        free.push({ chat: new rt.lib.LlamaChat({ contextSequence: context.getSequence() }), prefixKey: null });
      }
      return { contextSize: free[0].chat.context.contextSize, free, chatWrapper: free[0].chat.chatWrapper };
    })();
    rt.contexts.set(id, pool);
  }
  return pool;
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

function tokenize(pool: LocalPool, rt: LocalRuntime, history: ChatHistoryItem[]): Token[] {
  return pool.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(rt.model.tokenizer);
}

/** The fixed prefix of requests whose messages before the record are `before`: where the prompts of two different
 *  records part (the system prompt, the examples, the opening of the user turn). */
function fixedPrefix(pool: LocalPool, rt: LocalRuntime, before: Message[]): { key: string; tokens: Token[] } {
  const key = JSON.stringify(before);
  let tokens = rt.prefixes.get(key);
  if (!tokens) {
    const a = tokenize(pool, rt, chatHistory([...before, { role: "user", content: "A" }]));
    const b = tokenize(pool, rt, chatHistory([...before, { role: "user", content: "B" }]));
    let n = 0;
    while (n < a.length && a[n] === b[n]) n++;
    tokens = a.slice(0, n);
    rt.prefixes.set(key, tokens);
  }
  return { key, tokens };
}

/** Put the slot's sequence in the state every record starts from: exactly the fixed prefix, evaluated on its own. A
 *  prompt that does not start with the prefix (its text merged with the prefix's last token) starts from an empty
 *  sequence instead: also the same whatever came before. */
async function resetToPrefix(slot: Slot, prefix: { key: string; tokens: Token[] }, tokens: Token[]): Promise<void> {
  const sequence = slot.chat.sequence;
  const startsWithPrefix = prefix.tokens.length > 0 && prefix.tokens.every((t, i) => tokens[i] === t);
  if (!startsWithPrefix) {
    slot.prefixKey = null;
    await sequence.clearHistory();
  } else if (slot.prefixKey !== prefix.key) {
    slot.prefixKey = null;
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(prefix.tokens);
    slot.prefixKey = prefix.key;
  } else if (sequence.nextTokenIndex > prefix.tokens.length) {
    await sequence.eraseContextTokenRanges([{ start: prefix.tokens.length, end: sequence.nextTokenIndex }]);
  }
}

export async function localProvider(task: Task, s: Settings): Promise<Provider> {
  const modelPath = localModelPath(s.model);
  const rt = await localRuntime(modelPath);
  const pool = await localSlots(rt, s.concurrency, s.threads);
  const grammar = await localGrammar(rt, jsonSchema(task));
  return {
    model: path.basename(modelPath),
    request: (text) => localRequest(task, text, s),
    cost: () => 0,
    costBounds: () => ({ expectedUsd: 0, worstUsd: 0 }),
    async send(request, signal) {
      // p-limit runs at most `concurrency` sends at once, and there are that many slots.
      const slot = pool.free.pop()!;
      try {
        const messages = request.messages as Message[];
        const history = chatHistory(messages);
        const maxTokens = request.max_tokens as number;
        const tokens = tokenize(pool, rt, history);
        if (tokens.length + maxTokens > pool.contextSize) {
          throw new RequestFailure(`the prompt has ${tokens.length} tokens; with ${maxTokens} for the answer it does not fit the local model's context of ${pool.contextSize}`, 1);
        }
        await resetToPrefix(slot, fixedPrefix(pool, rt, messages.slice(0, -1)), tokens);
        const before = slot.chat.sequence.tokenMeter.getState();
        const r = await slot.chat.generateResponse(history, { grammar, temperature: request.temperature as number, maxTokens, signal });
        const used = slot.chat.sequence.tokenMeter.diff(before);
        const usage = { inputTokens: tokens.length, cachedInputTokens: Math.max(0, tokens.length - used.usedInputTokens), outputTokens: used.usedOutputTokens };
        return { answer: { response: { text: r.response, stopReason: r.metadata.stopReason }, text: r.response, usage }, attempts: 1, unanswered: 0 };
      } catch (err) {
        slot.prefixKey = null; // the sequence's state is unknown now: the next request starts it again
        if (signal?.aborted) throw signal.reason;
        if (err instanceof RequestFailure) throw err;
        throw new RequestFailure(`local model error: ${(err as Error).message}`, 1);
      } finally {
        pool.free.push(slot);
      }
    },
  };
}

/** Prompt tokens (the model's own tokenizer and chat template) and expected answer tokens, for the dry run. */
export async function localTokenEstimate(task: Task, s: Settings, texts: string[]): Promise<{ inputTokens: number; outputTokens: number }> {
  const rt = await localRuntime(localModelPath(s.model));
  const pool = await localSlots(rt, 1, s.threads);
  const prompt = localPromptFor(task, s.model, s.prompt);
  const answerTokens = rt.model.tokenize(JSON.stringify(typicalLabels(task))).length;
  let inputTokens = 0;
  let outputTokens = 0;
  for (const text of texts) {
    inputTokens += tokenize(pool, rt, chatHistory(localMessages(task, text, prompt))).length;
    outputTokens += answerTokens;
  }
  return { inputTokens, outputTokens };
}
