// The llama.cpp engine (CPU): the student as a GGUF file through node-llama-cpp, in this process. It writes the same
// predictions file as the Python engines (predictions.ts), so evaluation does not care which engine ran.
//
// A classification answer is mostly fixed: the JSON skeleton ('{"f1":' V1 ',"f2":' V2 ... '}') is the same for every
// record, only the values are free. So nothing is generated: each record's prompt ids and the first skeleton piece
// are evaluated, the field's possible values are scored from the logits at the end of the piece (a boolean's true and
// false are one token each: one logit each; a multi-token value is fed, scored and erased), the chosen value and the
// next piece are evaluated, and so on: 5 small evaluations per record for the recipes task instead of ~45 decode
// steps. A boolean is true iff logprob(true) - logprob(false) (its margin, written to the row) exceeds the field's
// calibrated threshold (calibration.json beside the adapter or in the merged folder, fitted by the train job; 0
// without it), the rule the transformers engine's constrained decoder applies.
// Records run on `batch_size` sequences of one context (node-llama-cpp batches the pending tokens of all sequences
// into one llama_decode), longest first from one queue; each sequence keeps its KV cache and reuses the prefix the
// next prompt shares with what it holds (the template's opening words).
// The ids come from the Python side (the encode job: the training tokenizer's ids, not llama.cpp's own tokenization),
// the GGUF from the merge + export jobs (gguf.ts), made once and reused while the student is unchanged.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import * as paths from "../paths";
import { runJob, type JobOptions } from "../runtime";
import { loadTask, studentTarget, type Labels, type Task } from "../task";
import type { InferConfig } from "./config";
import { studentGguf } from "./gguf";

const Encoded = z.object({
  records: z.array(z.object({ index: z.int(), id: z.string().optional(), prompt_ids: z.array(z.int()) })),
  skeleton: z.object({ pieces: z.array(z.array(z.int())), closing: z.array(z.int()), eos: z.int() }),
  fields: z.array(
    z.object({
      name: z.string(),
      type: z.string(),
      candidates: z.array(z.object({ value: z.union([z.boolean(), z.string(), z.number()]), ids: z.array(z.int()).min(1) })).nullable(),
    }),
  ),
});
type Encoded = z.infer<typeof Encoded>;
type EncodedField = Encoded["fields"][number];

export interface LlamaOptions extends JobOptions {
  /** CPU threads for llama.cpp (default: every core the OS gives this process). */
  threads?: number;
  /** llama.cpp contexts evaluated side by side, the threads and sequences shared among them (default: one context per
   * thread). A small model's matrices are too small for several threads to share one evaluation well. */
  contexts?: number;
  /** Tokens per llama_decode batch (default 512). */
  batchSize?: number;
  flashAttention?: boolean;
  /** The KV cache's element type (default F32). Against a transformers fp32 forward, a q8_0 student's margins moved
   * less with F32 keys and values than with llama.cpp's usual F16 (313 recipes: 185 labels flipped instead of 200, mean
   * kappa 0.509 instead of 0.482; 64 recipes of another student: 5 instead of 7) at the same speed on this CPU; it
   * doubles the cache (~20 MB per sequence for SmolLM2 at 434 tokens). */
  kvCacheType?: "F16" | "F32";
}

export interface LlamaRun {
  outputFile: string;
  ggufFile: string;
  runtimeS: number;
  /** The infer job's metrics, with the same names (InferMetrics). */
  metrics: Record<string, unknown> & { records: number; generation_s: number };
}

/** Why the llama.cpp engine cannot run this task (free-form integer or string fields), or null when it can. */
export function llamaUnsupported(task: Task): string | null {
  const free = task.fields.filter((f) => f.type !== "boolean" && f.type !== "enum").map((f) => `${f.name} (${f.type})`);
  return free.length ? `the llama.cpp engine scores finite values only (booleans, enums); free-form fields: ${free.join(", ")}` : null;
}

/** Per boolean field, the decision threshold on its margin from the model's calibration.json ({} without one). */
export function calibrationThresholds(folder: string | null): Record<string, number> {
  const file = folder === null ? null : path.join(paths.resolve(folder), "calibration.json");
  if (file === null || !fs.existsSync(file)) return {};
  const parsed = z.object({ fields: z.record(z.string(), z.object({ threshold: z.number() })) }).safeParse(JSON.parse(fs.readFileSync(file, "utf8")));
  if (!parsed.success) throw new Error(`${file}: not a calibration file (${z.prettifyError(parsed.error)}); delete it or retrain with calibrate`);
  return Object.fromEntries(Object.entries(parsed.data.fields).map(([name, v]) => [name, v.threshold]));
}

type LlamaModule = typeof import("node-llama-cpp");
type Sequence = import("node-llama-cpp").LlamaContextSequence;
type Item = import("node-llama-cpp").ControlledEvaluateInputItem;
type Token = import("node-llama-cpp").Token;
// The encode job's ids are llama.cpp token ids too (the GGUF carries the same vocabulary); node-llama-cpp brands them.
const tokens = (ids: readonly number[]) => ids as Token[];

/** Evaluate tokens; return the next-token logits of `wanted` (and log-sum-exp of all logits) after the last one. */
async function evaluateScoring(seq: Sequence, ids: number[], wanted: number[]): Promise<{ logits: Map<number, number>; logSumExp: number }> {
  const last = ids.length - 1;
  const input: Item[] = tokens(ids).map((t, i): Item => (i === last ? [t, { generateNext: { logits: { filter: { tokens: tokens(wanted), includeMax: true } }, totalLogitWeight: true } }] : t));
  const out = await seq.controlledEvaluate(input);
  const next = out[last]?.next;
  if (!next?.logits || next.totalLogitWeight === undefined) throw new Error("node-llama-cpp returned no logits for the scored position");
  const logits = next.logits as Map<number, number>;
  const max = Math.max(...logits.values());
  return { logits, logSumExp: max + Math.log(next.totalLogitWeight) };
}

/** Each candidate's log-probability (the sum over its tokens) at the sequence's current end; longer candidates are
 *  fed after the first token's score and erased again, so the sequence ends where it started. */
async function scoreCandidates(seq: Sequence, first: { logits: Map<number, number>; logSumExp: number }, field: EncodedField): Promise<number[]> {
  const scores: number[] = [];
  for (const c of field.candidates!) {
    let score = first.logits.get(c.ids[0])! - first.logSumExp;
    if (c.ids.length > 1) {
      const start = seq.nextTokenIndex;
      for (let k = 1; k < c.ids.length; k++) {
        const step = await evaluateScoring(seq, [c.ids[k - 1]], [c.ids[k]]);
        score += step.logits.get(c.ids[k])! - step.logSumExp;
      }
      await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]);
    }
    scores.push(score);
  }
  return scores;
}

interface Decoded {
  labels: Labels;
  margins: Record<string, number>;
  outputTokens: number;
}

async function decodeRecord(seq: Sequence, ids: number[], enc: Encoded, thresholds: Record<string, number>): Promise<Decoded> {
  await seq.adaptStateToTokens(tokens(ids), false); // keeps the prefix this sequence already holds
  let feed = [...ids.slice(seq.nextTokenIndex), ...enc.skeleton.pieces[0]];
  const labels: Labels = {};
  const margins: Record<string, number> = {};
  let outputTokens = enc.skeleton.closing.length;
  for (const [k, field] of enc.fields.entries()) {
    const candidates = field.candidates!;
    const first = await evaluateScoring(seq, feed, candidates.map((c) => c.ids[0]));
    const scores = await scoreCandidates(seq, first, field);
    let pick = scores.indexOf(Math.max(...scores)); // the first best, as torch's argmax
    if (field.type === "boolean") {
      const margin = scores[0] - scores[1]; // candidates are [true, false]
      margins[field.name] = Math.round(margin * 1e4) / 1e4;
      pick = margin > (thresholds[field.name] ?? 0) ? 0 : 1;
    }
    labels[field.name] = candidates[pick].value;
    outputTokens += enc.skeleton.pieces[k].length + candidates[pick].ids.length;
    feed = [...candidates[pick].ids, ...(enc.skeleton.pieces[k + 1] ?? [])];
  }
  return { labels, margins, outputTokens };
}

let llamaPromise: Promise<Awaited<ReturnType<LlamaModule["getLlama"]>>> | null = null;

/** Label config.input_file with the llama.cpp engine; the predictions go to config.output_file. */
export async function runLlama(config: InferConfig, opts: LlamaOptions = {}): Promise<LlamaRun> {
  const started = performance.now();
  const task = loadTask(config.task_file);
  const unsupported = llamaUnsupported(task);
  if (unsupported) throw new Error(`${unsupported}: use engine "transformers"`);
  const output = paths.resolve(config.output_file);
  fs.mkdirSync(path.dirname(output), { recursive: true });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "distill-encode-")); // the ids and the job's log
  const encodedFile = path.join(scratch, "encoded.json");
  const tokenizerModel = config.merged_dir ?? config.model!;
  let enc: Encoded;
  try {
    await runJob("encode", { model: tokenizerModel, task_file: config.task_file, input_file: config.input_file, output_file: encodedFile, ...(config.limit ? { limit: config.limit } : {}) }, { signal: opts.signal, env: opts.env, onEvent: opts.onEvent });
    enc = Encoded.parse(JSON.parse(fs.readFileSync(encodedFile, "utf8")));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const thresholds = config.calibration ? calibrationThresholds(config.adapter_dir ?? config.merged_dir) : {};
  const ggufFile = await studentGguf(config, opts); // after the input is read: a bad input fails before the export

  const threads = opts.threads ?? os.availableParallelism();
  const lib = await import("node-llama-cpp"); // loaded on first use: nothing else needs the native addon
  llamaPromise ??= lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
  const llama = await llamaPromise;
  const model = await llama.loadModel({ modelPath: ggufFile });
  const longestTarget = enc.skeleton.pieces.flat().length + enc.skeleton.closing.length + enc.fields.reduce((s, f) => s + Math.max(...f.candidates!.map((c) => c.ids.length)), 0);
  const longestPrompt = Math.max(1, ...enc.records.map((r) => r.prompt_ids.length));
  const sequences = Math.max(1, Math.min(config.batch_size, enc.records.length));
  const contextCount = Math.max(1, Math.min(opts.contexts ?? threads, threads, sequences));
  const contextThreads = Math.max(1, Math.floor(threads / contextCount));
  const contextSequences = Math.ceil(sequences / contextCount);
  const kvCacheType = opts.kvCacheType ?? "F32";
  const contexts: Awaited<ReturnType<typeof model.createContext>>[] = [];
  try {
    for (let c = 0; c < contextCount; c++) {
      contexts.push(await model.createContext({ sequences: contextSequences, contextSize: longestPrompt + longestTarget + 8, batchSize: opts.batchSize ?? 512, threads: contextThreads, flashAttention: opts.flashAttention ?? false, experimentalKvCacheKeyType: kvCacheType, experimentalKvCacheValueType: kvCacheType }));
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    opts.onProgress?.({ label: "infer", done: 0, total: enc.records.length });
    // Longest first: similar lengths run side by side, and the tail of the run is short records.
    const order = enc.records.map((_, i) => i).sort((a, b) => enc.records[b].prompt_ids.length - enc.records[a].prompt_ids.length);
    const decoded: Decoded[] = new Array(enc.records.length);
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: contextSequences * contextCount }, async (_, k) => {
        const seq = contexts[k % contextCount].getSequence();
        while (next < order.length) {
          if (opts.signal?.aborted) throw new Error("cancelled");
          const i = order[next++];
          decoded[i] = await decodeRecord(seq, enc.records[i].prompt_ids, enc, thresholds);
          done += 1;
          const s = (performance.now() - t0) / 1000;
          opts.onProgress?.({ label: "infer", done, total: enc.records.length, extra: { "rec/s": Math.round((done / s) * 100) / 100 } });
        }
      }),
    );
    const generationS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rows = enc.records.map((r, i) => ({
      index: r.index,
      ...(r.id !== undefined ? { id: r.id } : {}),
      completion: studentTarget(task, decoded[i].labels),
      labels: decoded[i].labels,
      error: null,
      input_tokens: r.prompt_ids.length,
      output_tokens: decoded[i].outputTokens,
      margins: decoded[i].margins,
    }));
    const partial = `${output}.partial`;
    fs.writeFileSync(partial, rows.map((r) => JSON.stringify(r) + "\n").join(""));
    fs.renameSync(partial, output);
    const inputTokens = rows.reduce((s, r) => s + r.input_tokens, 0);
    const outputTokens = rows.reduce((s, r) => s + r.output_tokens, 0);
    const gen = Math.max(generationS, 1e-9);
    const runtimeS = (performance.now() - started) / 1000;
    const metrics = {
      records: rows.length,
      records_per_s: round(rows.length / gen, 3),
      tokens_per_s: round(outputTokens / gen, 2),
      prompt_tokens_per_s: round(inputTokens / gen, 1),
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      parse_failures: 0,
      parse_failure_rate: 0,
      generation_s: round(generationS, 3),
      runtime_s: round(runtimeS, 3),
      engine: "llama.cpp",
      device: "cpu",
      max_new_tokens: longestTarget,
      batch_size: contextSequences * contextCount,
      threads,
      contexts: contextCount,
      kv_cache_type: kvCacheType,
      cpu_s: round((cpu.user + cpu.system) / 1e6, 3),
      gguf_file: ggufFile,
      gguf_type: config.gguf_type,
      calibrated_fields: Object.keys(thresholds).length,
    };
    return { outputFile: output, ggufFile, runtimeS, metrics };
  } finally {
    for (const context of contexts) await context.dispose();
    await model.dispose();
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
