// The train and merge jobs of the Python runtime (python-runtime/distill_runtime/jobs/train.py, merge.py), run
// through runtime.runJob: progress from their events, typed results from their done event.
import { z } from "zod";
import { runJob, type DoneEvent, type JobEvent, type JobOptions } from "../runtime";
import { validateTrainConfig, type TrainConfig } from "./config";
import { recordMerge, startTraining } from "./student";

export interface TrainResult {
  adapterDir: string;
  checkpointDir: string;
  /** runtime_s: training seconds of every session of this run (a resume adds to it); session_runtime_s: this one's. */
  metrics: {
    train_loss: number | null; eval_loss: number | null; tokens_seen: number; steps: number; runtime_s: number; session_runtime_s: number; packing_efficiency: number;
    /** Texts cut to the task's student.max_input_tokens; per boolean field, the calibrated threshold (calibrate: true). */
    inputs_cut?: number; calibration_thresholds?: Record<string, number> | null;
    /** fit_readout: the readout fitted by logistic regression before any LoRA step (training/readout.py). */
    readout?: Readout | null;
  };
  done: DoneEvent;
  /** The training run (student.json) that made this adapter. */
  run: string;
}

const ReadoutSchema = z.object({
  examples: z.int(),
  fields: z.array(z.string()),
  train_accuracy_before: z.number(),
  train_accuracy_after: z.number(),
  direction_norm: z.number(),
});
/** What fit_readout did: on how many examples, for which fields, the training labels' accuracy before and after. */
export interface Readout { examples: number; fields: string[]; train_accuracy_before: number; train_accuracy_after: number; direction_norm: number }

const TrainOutputs = z.object({ adapter_dir: z.string(), checkpoint_dir: z.string() });
const TrainMetrics = z.object({
  train_loss: z.number().nullable(),
  eval_loss: z.number().nullable(),
  tokens_seen: z.number(),
  steps: z.number(),
  runtime_s: z.number(),
  session_runtime_s: z.number(),
  packing_efficiency: z.number(),
  inputs_cut: z.int().optional(),
  calibration_thresholds: z.record(z.string(), z.number()).nullable().optional(),
  readout: ReadoutSchema.nullable().optional(),
});

/** Fine-tune (LoRA) with a config from trainConfig(); progress is one update per logged step. */
export async function train(config: TrainConfig, opts: JobOptions = {}): Promise<TrainResult> {
  const valid = validateTrainConfig(config);
  // The student's record (student.ts): this attempt started; at each checkpoint, its seconds; then done or failed.
  const attempt = startTraining(valid);
  let done: DoneEvent;
  try {
    done = await runJob("train", valid, {
      signal: opts.signal,
      env: opts.env,
      onEvent: (event) => {
        if (event.event === "checkpoint") attempt.checkpoint();
        onTrainEvent(event, opts);
      },
    });
  } catch (e) {
    attempt.failed((e as Error).message.split("\n")[0]);
    throw e;
  }
  const outputs = TrainOutputs.parse(done.outputs);
  const metrics = TrainMetrics.parse(done.metrics);
  attempt.done(metrics.steps, metrics.runtime_s);
  return { adapterDir: outputs.adapter_dir, checkpointDir: outputs.checkpoint_dir, metrics, done, run: attempt.run };
}

function onTrainEvent(event: JobEvent, opts: JobOptions): void {
  opts.onEvent?.(event);
  if (event.event === "step") {
    opts.onProgress?.({
      label: "train",
      done: event.step,
      total: event.total_steps,
      extra: { loss: round(event.loss, 4), lr: event.lr, "tok/s": Math.round(event.tokens_per_s) },
    });
  } else if (event.event === "progress") {
    // fit_readout's pass over the training examples (training/readout.py): minutes on a CPU, before any step
    opts.onProgress?.({ label: "readout pass", done: event.done, total: event.total, extra: { "rec/s": round(event.records_per_s, 2) } });
  } else if (event.event === "eval") {
    opts.onProgress?.({ label: "train", done: event.step, total: event.step, extra: { eval_loss: round(event.eval_loss, 4) } });
  }
}

export interface MergeConfig {
  base_model: string;
  adapter_dir: string;
  output_dir: string;
  dtype?: "auto" | "float32" | "bfloat16" | "float16";
  device?: "auto" | "cpu" | "cuda";
}

/** Merge a LoRA adapter into its base: a plain transformers folder (safetensors + tokenizer) for vLLM or export. */
export async function merge(config: MergeConfig, opts: JobOptions = {}): Promise<{ mergedDir: string; done: DoneEvent }> {
  opts.onProgress?.({ label: "merge", done: 0, total: 1 });
  const done = await runJob("merge", config, { signal: opts.signal, env: opts.env, onEvent: opts.onEvent });
  opts.onProgress?.({ label: "merge", done: 1, total: 1 });
  const mergedDir = z.object({ merged_dir: z.string() }).parse(done.outputs).merged_dir;
  recordMerge(config.adapter_dir, mergedDir);
  return { mergedDir, done };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
