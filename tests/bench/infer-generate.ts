// Configuration (c) of the infer benchmark: llama.cpp as its users run it, greedy generation through node-llama-cpp
// (what llama-server does per slot): N sequences of one context generate side by side (node-llama-cpp batches their
// tokens into one llama_decode, as the server's continuous batching does), each keeps its prompt cache for the next
// record, the output optionally constrained by the task's JSON-schema grammar (llama-server's json_schema). The prompt
// ids are the encode job's (the training tokenizer's), as for every engine in the benchmark.
import * as fs from "node:fs";
import { task as taskLib } from "@distill/lib";

export interface GenerateSettings { gguf: "q8_0" | "f16"; threads: number; sequences: number; grammar: boolean }

interface Encoded { records: { prompt_ids: number[] }[]; skeleton: { eos: number } }

const MAX_NEW_TOKENS = 60;

export async function llamaGenerate(modelPath: string, encodedFile: string, task: taskLib.Task, s: GenerateSettings): Promise<{ seconds: number; promptTokens: number; labels: (taskLib.Labels | null)[] }> {
  const lib = await import("node-llama-cpp");
  const enc = JSON.parse(fs.readFileSync(encodedFile, "utf8")) as Encoded;
  const llama = await lib.getLlama({ gpu: false, build: "never", maxThreads: s.threads, logLevel: lib.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const longest = Math.max(...enc.records.map((r) => r.prompt_ids.length));
  const context = await model.createContext({ sequences: s.sequences, contextSize: longest + MAX_NEW_TOKENS + 8, batchSize: 512, threads: s.threads });
  const grammar = s.grammar ? await llama.createGrammarForJsonSchema(taskLib.jsonSchema(task) as never) : null;
  const order = enc.records.map((_, i) => i).sort((a, b) => enc.records[b].prompt_ids.length - enc.records[a].prompt_ids.length);
  const labels: (taskLib.Labels | null)[] = new Array(enc.records.length).fill(null);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: s.sequences }, async () => {
      const seq = context.getSequence();
      while (next < order.length) {
        const i = order[next++];
        const ids = enc.records[i].prompt_ids as import("node-llama-cpp").Token[];
        await seq.adaptStateToTokens(ids, false);
        const state = grammar ? new lib.LlamaGrammarEvaluationState({ model, grammar }) : undefined;
        const out: import("node-llama-cpp").Token[] = [];
        for await (const token of seq.evaluate(ids.slice(seq.nextTokenIndex), { temperature: 0, grammarEvaluationState: state, yieldEogToken: true })) {
          if (token === enc.skeleton.eos) break;
          out.push(token);
          if (out.length >= MAX_NEW_TOKENS || closed(model.detokenize(out))) break;
        }
        const parsed = taskLib.parseLabels(task, model.detokenize(out));
        labels[i] = parsed.ok ? parsed.labels : null;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await context.dispose();
  await model.dispose();
  return { seconds, promptTokens: enc.records.reduce((n, r) => n + r.prompt_ids.length, 0), labels };
}

/** The text holds a whole top-level JSON object (strings skipped). */
function closed(text: string): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"' && depth > 0) inString = true;
    else if (ch === "{") depth += 1;
    else if (ch === "}" && depth > 0 && --depth === 0) return true;
  }
  return false;
}
