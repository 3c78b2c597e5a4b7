// What the four notebooks share: the layout of a pipeline's work folder (each notebook reads what the one before
// wrote) and the translation of notebook parameters into library configs. Notebook cells stay one-liners.
import * as path from "node:path";
import * as paths from "./paths";
import { teacherFromEnv, type TeacherConfig, type TeacherMode } from "./teacher";

export interface Workspace {
  dir: string;
  /** Every teacher answer, fsynced before use: paid work is never lost, and reruns are free. */
  store: string;
  labeled: string;
  train: string;
  test: string;
  batchInput: string;
  student: string;
  adapter: string;
  merged: string;
  predictions: string;
  throughput: string;
}

export function workspace(workDir: string): Workspace {
  const dir = paths.ensureDir(paths.resolve(workDir));
  const student = path.join(dir, "student");
  return {
    dir,
    store: path.join(dir, "teacher-store.jsonl"),
    labeled: path.join(dir, "labeled.arrow"),
    train: path.join(dir, "train.jsonl"),
    test: path.join(dir, "test.jsonl"),
    batchInput: path.join(dir, "batch-input.jsonl"),
    student,
    adapter: path.join(student, "adapter"),
    merged: path.join(student, "merged"),
    predictions: path.join(dir, "predictions.jsonl"),
    throughput: path.join(dir, "throughput"),
  };
}

export interface TeacherParameters { provider: string; model: string; mode: string; concurrency: number; budgetUsd: number }

/**
 * Notebook parameters -> teacher config. provider "auto": OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set,
 * else the local SmolLM2 model. `model` names the OpenAI model (the local model is the packaged GGUF).
 */
export function teacherConfig(p: TeacherParameters): TeacherConfig {
  if (!["auto", "openai", "local"].includes(p.provider)) throw new Error(`teacherProvider must be "auto", "openai" or "local", got "${p.provider}"`);
  const provider = p.provider === "auto" ? undefined : (p.provider as "openai" | "local");
  const base = teacherFromEnv(provider ? { provider } : {});
  return {
    ...base,
    ...(base.provider === "openai" ? { model: p.model } : {}),
    mode: p.mode as TeacherMode,
    concurrency: base.provider === "local" ? 1 : p.concurrency,
    ...(p.budgetUsd > 0 ? { budgetUsd: p.budgetUsd } : {}),
  };
}

/** A short name for a teacher (the GGUF file name for the local model, never a machine path). */
export function teacherName(config: TeacherConfig): string {
  return config.provider === "local" ? `local:${path.basename(config.model, ".gguf")}` : config.model;
}
