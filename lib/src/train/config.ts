// The train config: data/training.json is the one source of hyperparameter defaults and presets (Python reads it
// too: python-runtime/distill_runtime/config.py, the same merge rule).
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import * as paths from "../paths";
import { configProblems } from "../runtime";

export const TrainConfigSchema = z.strictObject({
  base_model: z.string().min(1),
  task_file: z.string().min(1),
  train_file: z.string().min(1),
  eval_file: z.string().min(1).nullable(),
  output_dir: z.string().min(1),
  preset: z.string().nullable(),
  lora_r: z.int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1),
  target_modules: z.union([z.literal("all-linear"), z.array(z.string().min(1)).min(1)]),
  /** LoRA of this rank on the output layer (lm_head) too (null: none): the value tokens' readout learns from step 1. */
  lm_head_lora_r: z.int().positive().nullable(),
  load_in_4bit: z.boolean(),
  load_in_8bit: z.boolean(),
  bf16: z.union([z.boolean(), z.literal("auto")]),
  gradient_checkpointing: z.boolean(),
  device: z.enum(["auto", "cpu", "cuda"]),
  attn_implementation: z.enum(["auto", "sdpa", "eager", "flash_attention_2"]),
  optimizer: z.enum(["adamw", "adamw_8bit"]),
  learning_rate: z.number().positive(),
  weight_decay: z.number().min(0),
  max_grad_norm: z.number().positive().nullable(),
  lr_scheduler: z.enum(["cosine", "linear", "constant"]),
  warmup_steps: z.int().min(0),
  /** 0 with fit_readout: the fitted readout is the whole training. */
  num_epochs: z.number().min(0),
  max_steps: z.int().positive().nullable(),
  micro_batch_size: z.int().min(1),
  grad_accum_steps: z.int().min(1),
  max_seq_len: z.int().min(16),
  packing: z.boolean(),
  /** What the loss covers: every target token, or only the values' tokens (the constrained decoder forces the rest). */
  loss_on: z.enum(["target", "values"]),
  /** LoRA on the top N decoder layers only (null: all of them). */
  train_layers: z.int().positive().nullable(),
  /** With train_layers: compute the frozen bottom layers once per example instead of at every epoch. */
  cache_frozen_layers: z.boolean(),
  /** Write calibration.json beside the adapter: per boolean field, a margin threshold fitted on the train examples. */
  calibrate: z.boolean(),
  /** Before any LoRA step, fit the boolean fields' readout by logistic regression (stored in the lm_head LoRA). */
  fit_readout: z.boolean(),
  /** The readout's L2 penalty. */
  readout_l2: z.number().min(0),
  eval_fraction: z.number().min(0).max(0.5),
  max_eval_examples: z.int().min(1),
  eval_steps: z.int().positive().nullable(),
  save_steps: z.int().min(1),
  logging_steps: z.int().min(1),
  seed: z.int(),
  resume: z.boolean(),
  /** For tests only: force a NaN loss at this step. */
  debug_nan_at_step: z.int().positive().nullable().optional(),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type TrainOverrides = Partial<TrainConfig> & { train_file: string; output_dir: string };

interface TrainingFile {
  default_preset: string;
  defaults: Record<string, unknown>;
  presets: Record<string, Record<string, unknown>>;
}

export const trainingFile = path.join(paths.dataDir, "training.json");

export function loadTrainingFile(file: string = trainingFile): TrainingFile {
  let data: TrainingFile;
  try {
    data = JSON.parse(fs.readFileSync(file, "utf8")) as TrainingFile;
  } catch (e) {
    throw new Error(`cannot read the training defaults ${file}: ${(e as Error).message}`);
  }
  return data;
}

/** Names of the presets in data/training.json. */
export function presets(): string[] {
  return Object.keys(loadTrainingFile().presets);
}

const withoutComments = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith("$")));

/**
 * A complete, validated train config: explicit overrides win, then the preset (data/training.json's default_preset
 * when none is named; "none" for no preset), then the defaults. Same rule as python-runtime/distill_runtime/config.py.
 */
export function trainConfig(overrides: TrainOverrides): TrainConfig {
  const file = loadTrainingFile();
  const preset = overrides.preset === undefined ? file.default_preset : overrides.preset;
  const values: Record<string, unknown> = withoutComments(file.defaults);
  if (preset !== null && preset !== "none") {
    const chosen = file.presets[preset];
    if (!chosen) throw new Error(`trainConfig: unknown preset "${preset}"; use one of ${Object.keys(file.presets).join(", ")} (in ${trainingFile}), or "none"`);
    Object.assign(values, withoutComments(chosen));
  }
  Object.assign(values, overrides, { preset });
  return validateTrainConfig(values);
}

/** Check a complete train config; the error lists every wrong or unknown field. */
export function validateTrainConfig(values: unknown): TrainConfig {
  const result = TrainConfigSchema.safeParse(values);
  if (!result.success) throw new Error(`train config: ${configProblems(result.error)}`);
  const c = result.data; // the checks across fields, as config.py's TrainConfig makes them
  if (c.fit_readout && !c.lm_head_lora_r) throw new Error("train config: fit_readout stores the readout in a LoRA on lm_head: set lm_head_lora_r (e.g. 8)");
  if (c.num_epochs === 0 && c.max_steps === null && !c.fit_readout) throw new Error("train config: num_epochs is 0 and nothing else trains: set num_epochs > 0, max_steps, or fit_readout");
  return c;
}
