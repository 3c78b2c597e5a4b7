// The student labels records: with the llama.cpp engine in this process (llama.ts), or through the `infer` job of the
// Python runtime (python-runtime/distill_runtime/jobs/infer.py: transformers, vLLM), run through runtime.runJob with
// progress from its events and its metrics from the done event. engines.ts picks the engine for engine "auto".
import { z } from "zod";
import { RuntimeJobError, runJob, type DoneEvent, type JobOptions } from "../runtime";
import { loadTask } from "../task";
import { InferConfigSchema, type InferConfig } from "./config";
import { detectHardware, quantizationLosesLabels, selectEngine, type EngineChoice } from "./engines";
import { llamaUnsupported, runLlama, type LlamaOptions } from "./llama";

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
  engine: z.enum(["llama.cpp", "transformers", "vllm"]),
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
  engine: "llama.cpp" | "transformers" | "vllm";
  device: string;
  max_new_tokens: number;
  batch_size: number;
  [extra: string]: unknown;
}

/** The options every job wrapper takes (runtime.train, runtime.merge), and the llama.cpp engine's own (threads). */
export type InferOptions = JobOptions & Omit<LlamaOptions, keyof JobOptions>;

export interface InferResult {
  outputFile: string;
  metrics: InferMetrics;
  done: DoneEvent;
  /** The engine that ran and why (engine "auto" says what it found). */
  choice: EngineChoice;
}

/**
 * Run the student over config.input_file; resolves when every prediction is written to config.output_file. Engine
 * "auto" on a CPU runs llama.cpp unless q8_0 would change the student's labels, else the transformers engine with the
 * adapter merged in memory (engines.ts); when making the student's GGUF fails (an architecture llama.cpp's converter
 * does not know), it falls back to the transformers engine and says so in result.choice.
 */
export async function infer(config: InferConfig, opts: InferOptions = {}): Promise<InferResult> {
  const valid = InferConfigSchema.parse(config);
  // auto avoids q8_0 where it changes this student's labels; llama.cpp asked for by name runs and its reason says so
  const quantization = valid.engine === "auto" || valid.engine === "llama.cpp" ? quantizationLosesLabels(valid.merged_dir ?? valid.adapter_dir, valid.gguf_type, valid.calibration) : null;
  const hardware = detectHardware(valid.device);
  let choice = selectEngine(valid.engine, valid.device, hardware, llamaUnsupported(loadTask(valid.task_file)), quantization);
  if (choice.engine === "llama.cpp") {
    try {
      const run = await runLlama(valid, opts);
      const metrics = InferMetricsSchema.parse(run.metrics);
      const done: DoneEvent = { event: "done", time: Date.now() / 1000, job: "infer", runtime_s: run.runtimeS, outputs: { output_file: run.outputFile, gguf_file: run.ggufFile }, metrics: run.metrics };
      return { outputFile: run.outputFile, metrics, done, choice };
    } catch (e) {
      const exportFailed = e instanceof RuntimeJobError && (e.job === "export" || e.job === "merge");
      if (valid.engine !== "auto" || !exportFailed) throw e;
      choice = { engine: "transformers", reason: `CPU; the student's GGUF could not be made (${e.message.split("\n")[0]})` };
    }
  }
  // Auto on a CPU merges a LoRA adapter into the float32 weights in memory: the labels stay (the infer bench: 320 of 320
  // against unmerged) and a LoRA on every layer stops costing a side path per layer (1.51 records/s unmerged, 1.6-2.1
  // merged on the bench's 64 recipes). On a GPU the weights are bf16, where merging rounds: merge: true asks for it.
  const mergeInMemory = valid.engine === "auto" && choice.engine === "transformers" && !valid.merge && valid.adapter_dir !== null && (valid.device === "cpu" || !hardware.cuda);
  if (mergeInMemory) choice = { ...choice, reason: `${choice.reason}; adapter merged in memory` };
  const done = await runJob("infer", { ...valid, engine: choice.engine, merge: valid.merge || mergeInMemory }, {
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
  return { outputFile, metrics: InferMetricsSchema.parse(done.metrics), done, choice };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
