// The infer job's config: mirrors InferConfig in python-runtime/distill_runtime/inference/config.py (extra keys are
// errors on both sides); tests/lib/infer/infer.test.ts checks the defaults against Python's.
import { z } from "zod";
import { configProblems } from "../runtime";
import { loadTrainingFile } from "../train";

/** The student is a base model (with or without an adapter) or a merged folder: the rule of every job that reads one
 * (infer, label-corpus; python-runtime inference/config.py check_model_source says the same). */
export function checkModelSource(c: { model: string | null; adapter_dir: string | null; merge: boolean; merged_dir: string | null }, ctx: z.RefinementCtx): void {
  if ((c.model === null) === (c.merged_dir === null)) {
    ctx.addIssue({ code: "custom", path: ["model"], message: "give exactly one of model (optionally with adapter_dir) or merged_dir" });
  }
  if (c.merged_dir !== null && c.adapter_dir !== null) {
    ctx.addIssue({ code: "custom", path: ["adapter_dir"], message: "adapter_dir goes with model, not with merged_dir (a merged model already holds it)" });
  }
  if (c.merge && c.adapter_dir === null) ctx.addIssue({ code: "custom", path: ["merge"], message: "merge=true needs adapter_dir" });
}

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
    /** "auto": the fastest engine this machine has (engines.ts: vLLM or transformers on CUDA, llama.cpp or transformers on CPU). */
    engine: z.enum(["auto", "llama.cpp", "transformers", "vllm"]),
    /** llama.cpp engine: the GGUF weight type the student is exported to (q8_0: fastest; f16, f32: exact). */
    gguf_type: z.enum(["q8_0", "f16", "f32"]),
    /** transformers: force the task's JSON skeleton and choose only the values (always valid), or generate freely. */
    decoding: z.enum(["constrained", "free"]),
    /** Constrained decoding: apply the model's calibration.json (boolean thresholds) when it has one. */
    calibration: z.boolean(),
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
  .superRefine(checkModelSource);
export type InferConfig = z.infer<typeof InferConfigSchema>;
export type InferOverrides = Partial<InferConfig> & { input_file: string; output_file: string };

/** Defaults shared with inference/config.py's InferConfig (model comes from data/training.json's default base_model). */
export const inferDefaults: Omit<InferConfig, "model" | "input_file" | "output_file"> = {
  adapter_dir: null,
  merge: false,
  merged_dir: null,
  task_file: "recipes",
  engine: "auto",
  decoding: "constrained",
  calibration: true,
  gguf_type: "q8_0",
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
