// What notebook 1 (label) calls besides labelRecords: notebook parameters -> teacher config, and a teacher's name.
import * as path from "node:path";
import { teacherFromEnv, type TeacherConfig, type TeacherMode } from "./teacher";

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
