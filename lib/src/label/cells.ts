// What notebook 1 (label) calls besides labelRecords: notebook parameters -> teacher config, a teacher's name, and
// which teachers get scored against the reference labels (the teacher of record, and the live local check).
import * as path from "node:path";
import type { CorpusRecord } from "../corpus";
import type { Labels, Task } from "../task";
import { displayPath } from "./file";
import { localTeacherFile } from "./local-models";
import { teacherQuality, type Reference, type TeacherQuality } from "./quality";
import { teacherFromEnv, type TeacherConfig, type TeacherMode } from "./teacher";

export interface TeacherParameters {
  provider: string;
  model: string;
  mode: string;
  concurrency: number;
  budgetUsd: number;
  /** The labels file for provider "labels" (and for "auto" without an API key). */
  labelsFile?: string;
  /** The local teacher (provider "local", and the live check): "smollm2" (default, ships with setup), "qwen"
   *  (`npm run install-teacher -- qwen` first) or the path of a .gguf file. */
  localTeacher?: string;
}

const choices = ["auto", "openai", "local", "labels"];

/**
 * Notebook parameters -> teacher config. provider "auto": OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, else
 * the labels file (`labelsFile`, by default the reference labels: the offline default teaches from human labels, as
 * the original taught from GPT-4's). "local" is a local GGUF model (`localTeacher`: SmolLM2-135M by default, or
 * Qwen2.5-Coder-1.5B once installed); "labels" always the file. `model` names the OpenAI model.
 */
export function teacherConfig(p: TeacherParameters): TeacherConfig {
  if (!choices.includes(p.provider)) throw new Error(`teacherProvider must be ${choices.map((c) => `"${c}"`).join(", ")}, got "${p.provider}"`);
  const keySet = Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
  const provider = p.provider === "auto" ? (keySet ? "openai" : "labels") : (p.provider as TeacherConfig["provider"]);
  if (provider === "labels") {
    if (!p.labelsFile) throw new Error(`teacherProvider "labels" needs labelsFile: a JSONL, CSV or Parquet file of {id, labels}`);
    return { provider: "labels", model: p.labelsFile, concurrency: p.concurrency };
  }
  const base = teacherFromEnv({ provider, ...(provider === "local" ? { model: localTeacherFile(p.localTeacher || "smollm2") } : {}) });
  return {
    ...base,
    ...(base.provider === "openai" ? { model: p.model } : {}),
    mode: p.mode as TeacherMode,
    concurrency: base.provider === "local" ? 1 : p.concurrency,
    ...(p.budgetUsd > 0 ? { budgetUsd: p.budgetUsd } : {}),
  };
}

/** A short name for a teacher (the GGUF file name for the local model, the file's project path for a labels file,
 *  never a machine path). */
export function teacherName(config: TeacherConfig): string {
  if (config.provider === "labels") return `labels:${displayPath(config.model)}`;
  return config.provider === "local" ? `local:${path.basename(config.model, ".gguf")}` : config.model;
}

/**
 * The records the live local teacher labels as a check beside the teacher of record: the first `n` of the sample
 * that have a reference label (so its quality can be measured). None when n is 0, or when the teacher of record is
 * the local model already (it is scored as the teacher then).
 */
export function liveCheckRecords(records: CorpusRecord[], reference: Reference | null, teacher: TeacherConfig, n: number): CorpusRecord[] {
  if (n <= 0 || teacher.provider === "local") return [];
  return records.filter((r) => !reference || reference.labels.has(r.id)).slice(0, n);
}

/** The teacher of record and the live check scored against the reference. A teacher of record that is the reference
 *  file itself is not scored against itself (a note says so). */
export function scoreTeachers(
  task: Task,
  reference: Reference,
  teacher: { config: TeacherConfig; rows: readonly { id: string; labels: Labels | null }[] },
  live: { config: TeacherConfig; results: readonly { id: string; labels?: Labels }[] } | null,
): TeacherQuality {
  const isReference = teacher.config.provider === "labels" && displayPath(teacher.config.model) === reference.file;
  const q = teacherQuality(task, reference, [
    ...(isReference ? [] : [{ name: teacherName(teacher.config), role: "teacher" as const, rows: teacher.rows }]),
    ...(live ? [{ name: teacherName(live.config), role: "live check" as const, rows: live.results.map((r) => ({ id: r.id, labels: r.labels ?? null })) }] : []),
  ]);
  if (isReference) q.notes.unshift(`The teacher of record is the reference itself (${reference.file}): it is not scored against itself.`);
  return q;
}
