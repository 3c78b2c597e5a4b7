// What the llama.cpp engine could reach at most with these weights on this CPU: every record's tokens (its prompt, the
// JSON skeleton and the values; what the engine must read) evaluated in ONE llama_decode per sequence step, no value
// scored in between, on the engine's own setup (one context per thread, the same sequences, longest first, the
// prompt start reused, the F32 KV cache of llama.ts). The engine feeds the same tokens in 5 steps per record and scores each value: its records/s
// over this one's is its efficiency, and this one's over another engine's is the most any engine on the same GGUF
// could show against it. The token count per record, not the engine's code, then bounds the ratio.
import * as fs from "node:fs";

interface Encoded {
  records: { prompt_ids: number[] }[];
  skeleton: { pieces: number[][] };
  fields: { candidates: { ids: number[] }[] | null }[];
}

export interface Ceiling { seconds: number; records: number; tokens: number }

export async function llamaCeiling(modelPath: string, encodedFile: string, threads: number, sequences: number): Promise<Ceiling> {
  const lib = await import("node-llama-cpp");
  const enc = JSON.parse(fs.readFileSync(encodedFile, "utf8")) as Encoded;
  // The skeleton with each field's first candidate as its value (the tokens a record costs, whichever values it gets).
  const answer = enc.skeleton.pieces.flatMap((piece, k) => [...piece, ...(k < enc.fields.length - 1 ? (enc.fields[k].candidates?.[0].ids ?? []) : [])]);
  const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const longest = Math.max(...enc.records.map((r) => r.prompt_ids.length)) + answer.length + 8;
  const contextCount = Math.max(1, Math.min(threads, sequences));
  const contexts: import("node-llama-cpp").LlamaContext[] = [];
  for (let c = 0; c < contextCount; c++) contexts.push(await model.createContext({ sequences: Math.ceil(sequences / contextCount), contextSize: longest, batchSize: 512, threads: Math.max(1, Math.floor(threads / contextCount)), experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }));
  const order = enc.records.map((_, i) => i).sort((a, b) => enc.records[b].prompt_ids.length - enc.records[a].prompt_ids.length);
  let next = 0;
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.ceil(sequences / contextCount) * contextCount }, async (_, k) => {
      const seq = contexts[k % contextCount].getSequence();
      while (next < order.length) {
        const ids = enc.records[order[next++]].prompt_ids as import("node-llama-cpp").Token[];
        await seq.adaptStateToTokens(ids, false);
        const feed = [...ids.slice(seq.nextTokenIndex), ...answer] as import("node-llama-cpp").Token[];
        tokens += ids.length + answer.length;
        const last = feed.length - 1;
        await seq.controlledEvaluate(feed.map((t, i) => (i === last ? [t, { generateNext: { logits: { filter: { tokens: [t], includeMax: true } } } }] : t)));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const c of contexts) await c.dispose();
  await model.dispose();
  return { seconds, records: enc.records.length, tokens };
}
