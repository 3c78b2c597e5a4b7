// The student labels records: the `infer` job of the Python runtime (python-runtime/distill_runtime/infer.py), run
// through runtime.runJob, and its output file read back as typed predictions.
//
// Output JSONL (one line per input line, in input order):
//   {"index", "id"?, "completion", "labels" | null, "error" | null, "input_tokens", "output_tokens"}
// labels is null when the completion is not JSON or does not fit the task; error then says why.
import * as fs from "node:fs";
import { z } from "zod";
import * as paths from "./paths";
import { configProblems, loadTrainingFile, runJob, type DoneEvent, type JobOptions } from "./runtime";

// Mirrors InferConfig in infer.py (extra keys are errors on both sides); tests/lib/infer.test.ts checks the defaults
// against Python's.
export const InferConfigSchema = z
  .strictObject({
    /** Base model: "smollm2-135m-instruct", a transformers folder, or a .gguf file. Null when merged_dir is used. */
    model: z.string().min(1).nullable(),
    /** LoRA adapter folder (the train job's output_dir/adapter). */
    adapter_dir: z.string().min(1).nullable(),
    /** Merge the adapter into the weights in memory before decoding (transformers engine). */
    merge: z.boolean(),
    /** A merged model folder (the merge job's output), instead of model + adapter_dir. */
    merged_dir: z.string().min(1).nullable(),
    task_file: z.string().min(1),
    input_file: z.string().min(1),
    output_file: z.string().min(1),
    engine: z.enum(["auto", "transformers", "vllm"]),
    batch_size: z.int().min(1),
    /** Null: derived from the task schema (tokens of the longest possible target + a margin). */
    max_new_tokens: z.int().positive().nullable(),
    /** Only the first N records. */
    limit: z.int().positive().nullable(),
    dtype: z.enum(["auto", "float32", "bfloat16", "float16"]),
    device: z.enum(["auto", "cpu", "cuda"]),
    /** vLLM only: share of GPU memory for weights + KV cache. */
    gpu_memory_utilization: z.number().gt(0).max(1),
  })
  .superRefine((c, ctx) => {
    if ((c.model === null) === (c.merged_dir === null)) {
      ctx.addIssue({ code: "custom", path: ["model"], message: "give exactly one of model (optionally with adapter_dir) or merged_dir" });
    }
    if (c.merged_dir !== null && c.adapter_dir !== null) {
      ctx.addIssue({ code: "custom", path: ["adapter_dir"], message: "adapter_dir goes with model, not with merged_dir (a merged model already holds it)" });
    }
    if (c.merge && c.adapter_dir === null) ctx.addIssue({ code: "custom", path: ["merge"], message: "merge=true needs adapter_dir" });
  });
export type InferConfig = z.infer<typeof InferConfigSchema>;
export type InferOverrides = Partial<InferConfig> & { input_file: string; output_file: string };

/** Defaults shared with infer.py's InferConfig (model comes from data/training.json's default base_model). */
export const inferDefaults: Omit<InferConfig, "model" | "input_file" | "output_file"> = {
  adapter_dir: null,
  merge: false,
  merged_dir: null,
  task_file: "recipes",
  engine: "auto",
  batch_size: 16,
  max_new_tokens: null,
  limit: null,
  dtype: "auto",
  device: "auto",
  gpu_memory_utilization: 0.85,
};

/**
 * A complete, validated infer config. The model defaults to training's default base model unless merged_dir is
 * given. Errors name the field.
 */
export function inferConfig(overrides: InferOverrides): InferConfig {
  const model = overrides.merged_dir ? null : String(loadTrainingFile().defaults.base_model);
  const result = InferConfigSchema.safeParse({ ...inferDefaults, model, ...overrides });
  if (!result.success) throw new Error(`inferConfig: ${configProblems(result.error)}`);
  return result.data;
}

export const InferMetricsSchema = z.looseObject({
  records: z.int(),
  records_per_s: z.number(),
  tokens_per_s: z.number(),
  input_tokens: z.int(),
  output_tokens: z.int(),
  parse_failures: z.int(),
  parse_failure_rate: z.number(),
  /** Seconds spent generating (the rates use it); runtime_s adds model loading. */
  generation_s: z.number(),
  runtime_s: z.number(),
  engine: z.enum(["transformers", "vllm"]),
  device: z.string(),
  max_new_tokens: z.int(),
  batch_size: z.int(),
});
/** Spelled out instead of z.infer: tslab's TypeScript 5.0 cannot carry zod 4's looseObject type from one notebook
 *  cell to the next (it becomes "(Missing)"). The schema above validates; this names the shape. */
export interface InferMetrics {
  records: number;
  records_per_s: number;
  tokens_per_s: number;
  input_tokens: number;
  output_tokens: number;
  parse_failures: number;
  parse_failure_rate: number;
  generation_s: number;
  runtime_s: number;
  engine: "transformers" | "vllm";
  device: string;
  max_new_tokens: number;
  batch_size: number;
  [extra: string]: unknown;
}

/** The same options every job wrapper takes (runtime.train, runtime.merge). */
export type InferOptions = JobOptions;

export interface InferResult {
  outputFile: string;
  metrics: InferMetrics;
  done: DoneEvent;
}

/** Run the student over config.input_file; resolves when every prediction is written to config.output_file. */
export async function infer(config: InferConfig, opts: InferOptions = {}): Promise<InferResult> {
  const valid = InferConfigSchema.parse(config);
  const done = await runJob("infer", valid, {
    signal: opts.signal,
    env: opts.env,
    onEvent: (event) => {
      opts.onEvent?.(event);
      if (event.event === "start") opts.onProgress?.({ label: "infer", done: 0, total: Number(event.info.records ?? 0) });
      if (event.event === "progress") {
        opts.onProgress?.({
          label: "infer",
          done: event.done,
          total: event.total,
          extra: { "rec/s": round(event.records_per_s, 2), "tok/s": Math.round(event.tokens_per_s ?? 0) },
        });
      }
    },
  });
  const outputFile = z.object({ output_file: z.string() }).parse(done.outputs).output_file;
  return { outputFile, metrics: InferMetricsSchema.parse(done.metrics), done };
}

// ---------------------------------------------------------------------------------------------------------------
// Predictions

const PredictionLine = z.strictObject({
  index: z.int().min(0),
  id: z.string().optional(),
  completion: z.string(),
  labels: z.record(z.string(), z.union([z.boolean(), z.string(), z.number()])).nullable(),
  error: z.string().nullable(),
  input_tokens: z.int().min(0),
  output_tokens: z.int().min(0),
});

export interface Prediction {
  index: number;
  id?: string;
  completion: string;
  labels: Record<string, boolean | string | number> | null;
  error: string | null;
  inputTokens: number;
  outputTokens: number;
}

/** Read an infer output file. A malformed line is an error naming the file and line. */
export function readPredictions(file: string): Prediction[] {
  const resolved = paths.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(resolved, "utf8");
  } catch (e) {
    throw new Error(`cannot read predictions ${resolved}: ${(e as Error).message}`);
  }
  const predictions: Prediction[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${resolved}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const parsed = PredictionLine.safeParse(value);
    if (!parsed.success) throw new Error(`${resolved}:${i + 1}: not a prediction: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
    const p = parsed.data;
    predictions.push({
      index: p.index,
      ...(p.id !== undefined ? { id: p.id } : {}),
      completion: p.completion,
      labels: p.labels,
      error: p.error,
      inputTokens: p.input_tokens,
      outputTokens: p.output_tokens,
    });
  });
  return predictions;
}

/**
 * Predictions as evaluate.evaluateAgreement's student rows. The id is ids[index] when ids are given (test.jsonl has
 * no ids: its lines are in the order of the test rows), else the prediction's own id, else its index as a string.
 */
export function studentRows(
  predictions: readonly Prediction[],
  ids?: readonly string[],
): { id: string; labels: Prediction["labels"]; error: string | null }[] {
  if (ids && ids.length !== predictions.length) {
    throw new Error(`studentRows: ${predictions.length} predictions but ${ids.length} ids; pass the ids of the rows in the infer input, in order`);
  }
  return predictions.map((p) => {
    const id = ids ? ids[p.index] : (p.id ?? String(p.index));
    if (id === undefined) throw new Error(`studentRows: prediction index ${p.index} has no id (${ids!.length} ids given)`);
    return { id, labels: p.labels, error: p.error };
  });
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
