// The label-corpus job's config: mirrors LabelCorpusConfig in python-runtime/distill_runtime/corpus_job/config.py
// (extra keys are errors on both sides); tests/lib/infer/corpus-job.test.ts checks the defaults against Python's.
import { z } from "zod";
import { configProblems } from "../runtime";
import { loadTrainingFile } from "../train";
import { checkModelSource } from "./config";

const columnKeys = ["id", "text", "group", "title", "ingredients", "directions", "body"] as const;

export const LabelCorpusConfigSchema = z
  .strictObject({
    // the student, as in the infer job
    model: z.string().min(1).nullable(),
    adapter_dir: z.string().min(1).nullable(),
    merge: z.boolean(),
    merged_dir: z.string().min(1).nullable(),
    task_file: z.string().min(1),
    // the corpus, as lib/src/corpus reads it: files or folders (every supported file in a folder)
    corpus: z.array(z.string().min(1)).min(1),
    columns: z.partialRecord(z.enum(columnKeys), z.string()),
    format: z.enum(["jsonl", "csv", "parquet", "arrow"]).nullable(),
    /** Only the first N rows of the corpus. */
    limit: z.int().positive().nullable(),
    /** Texts are cut to this many characters (null: the task's student.max_input_tokens * 4). */
    max_chars: z.int().positive().nullable(),
    /** A longer text is not labeled: recorded with status too_long. */
    max_record_chars: z.int().positive(),
    /** manifest.json, input/ parts and labels/ shards. A rerun into the same folder resumes. */
    output_dir: z.string().min(1),
    records_per_shard: z.int().positive(),
    engine: z.enum(["auto", "transformers", "vllm"]),
    batch_size: z.int().positive(),
    max_new_tokens: z.int().positive().nullable(),
    dtype: z.enum(["auto", "float32", "bfloat16", "float16"]),
    device: z.enum(["auto", "cpu", "cuda"]),
    gpu_memory_utilization: z.number().gt(0).max(1),
    /** Run as a Ray Data pipeline: a local ray.init(), or ray_address's (else RAY_ADDRESS's) cluster. */
    ray: z.boolean(),
    ray_address: z.string().min(1).nullable(),
    /** Engine replicas (Ray actors): one per GPU, or per CPU slot. */
    workers: z.int().positive(),
    cpus_per_worker: z.number().positive(),
    /** > 0 on GPU clusters: ray.data.llm's vLLM processor. */
    gpus_per_worker: z.number().min(0),
    /** Per worker: the projected cost's rate (gpuRate() reads it from data/prices.json). */
    gpu_usd_per_hour: z.number().min(0).nullable(),
    progress_every_s: z.number().positive(),
  })
  .superRefine(checkModelSource);
export type LabelCorpusConfig = z.infer<typeof LabelCorpusConfigSchema>;
export type LabelCorpusOverrides = Partial<LabelCorpusConfig> & { corpus: string[]; output_dir: string };

/** Defaults shared with corpus_job/config.py (model comes from data/training.json's default base_model). */
export const labelCorpusDefaults: Omit<LabelCorpusConfig, "model" | "corpus" | "output_dir"> = {
  adapter_dir: null,
  merge: false,
  merged_dir: null,
  task_file: "recipes",
  columns: {},
  format: null,
  limit: null,
  max_chars: null,
  max_record_chars: 200_000,
  records_per_shard: 1000,
  engine: "auto",
  batch_size: 16,
  max_new_tokens: null,
  dtype: "auto",
  device: "auto",
  gpu_memory_utilization: 0.85,
  ray: false,
  ray_address: null,
  workers: 1,
  cpus_per_worker: 1,
  gpus_per_worker: 0,
  gpu_usd_per_hour: null,
  progress_every_s: 2,
};

/** A complete, validated label-corpus config; errors name the field. */
export function labelCorpusConfig(overrides: LabelCorpusOverrides): LabelCorpusConfig {
  const model = overrides.merged_dir ? null : String(loadTrainingFile().defaults.base_model);
  const result = LabelCorpusConfigSchema.safeParse({ ...labelCorpusDefaults, model, ...overrides });
  if (!result.success) throw new Error(`labelCorpusConfig: ${configProblems(result.error)}`);
  return result.data;
}
