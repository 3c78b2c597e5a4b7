// The student labels records: the `infer` job of the Python runtime (python-runtime/distill_runtime/jobs/infer.py),
// run through runtime.runJob, with progress from its events and its metrics from the done event.
import { z } from "zod";
import { runJob, type DoneEvent, type JobOptions } from "../runtime";
import { InferConfigSchema, type InferConfig } from "./config";

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

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
