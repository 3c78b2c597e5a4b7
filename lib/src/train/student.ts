// The student's record: <student>/student.json says which training run made the adapter (and the merged model), from
// which data and config, and how the last training went. train() and merge() (jobs.ts) keep it; notebook 3 reads it
// (studentModel in ../infer/cells.ts) and refuses a student that is not the one the last training was asked to make:
// after a failed or unfinished training the adapter on disk is the previous run's (the final adapter is only ever
// replaced by a finished run), and after notebook 1 relabels, the student was trained on other data.
//
// A training run is one attempt, or several when resumed: `resume` continues the run (same id) and its seconds add up.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import type { TrainConfig } from "./config";

export type TrainingStatus = "started" | "failed" | "done";

export interface TrainingAttempt {
  started: string;
  ended: string | null;
  /** "interrupted": found still "started" by a later attempt (its process was killed). */
  status: TrainingStatus | "interrupted";
  /** Wall seconds (up to its last checkpoint while it runs). */
  seconds: number;
  pid: number;
  resumedFromStep: number | null;
  error: string | null;
}

export interface TrainingRun {
  id: string;
  status: TrainingStatus;
  started: string;
  updated: string;
  baseModel: string;
  trainFile: string;
  trainDataHash: string;
  configHash: string;
  /** Wall seconds of every attempt of this run. */
  seconds: number;
  error: string | null;
  attempts: TrainingAttempt[];
}

export interface StudentRecord {
  /** The last training asked for (possibly failed or unfinished). */
  last: TrainingRun | null;
  /** What made the adapter on disk: the last finished run. */
  adapter: { run: string; finished: string; baseModel: string; trainFile: string; trainDataHash: string; configHash: string; steps: number; trainSeconds: number } | null;
  /** What the merged model was merged from. */
  merged: { run: string; dir: string; finished: string } | null;
}

export const STUDENT_RECORD = "student.json";

export const recordFile = (studentDir: string): string => path.join(studentDir, STUDENT_RECORD);

export function readStudentRecord(studentDir: string): StudentRecord | null {
  const file = recordFile(studentDir);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as StudentRecord;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}): rerun notebook 2 to train the student again`);
  }
}

function writeStudentRecord(studentDir: string, record: StudentRecord): void {
  fs.mkdirSync(studentDir, { recursive: true });
  const file = recordFile(studentDir);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(record, null, 2) + "\n");
  fs.renameSync(`${file}.tmp`, file);
}

/** sha256 of a file's bytes ("missing" when there is none). */
export function fileHash(file: string): string {
  if (!fs.existsSync(file)) return "missing";
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** The config's hash without `resume` (a resumed run is the same training). */
export function configHash(config: TrainConfig): string {
  const { resume: _resume, ...rest } = config;
  return createHash("sha256").update(JSON.stringify(rest, Object.keys(rest).sort())).digest("hex").slice(0, 16);
}

/**
 * Record that a training attempt starts: a new run, or with `resume` the continuation of the last one (same data).
 * Returns the attempt's handle: `checkpoint` (seconds so far, for an attempt that gets killed), `done`, `failed`.
 */
export function startTraining(config: TrainConfig): { run: string; checkpoint(): void; done(steps: number, trainSeconds: number): void; failed(error: string): void } {
  const dir = config.output_dir;
  const record: StudentRecord = readStudentRecord(dir) ?? { last: null, adapter: null, merged: null };
  const now = new Date();
  const dataHash = fileHash(config.train_file);
  const previous = record.last;
  const continues = config.resume && previous !== null && previous.trainDataHash === dataHash;
  const run: TrainingRun = continues
    ? previous
    : { id: `train-${now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${process.pid}`, status: "started", started: now.toISOString(), updated: now.toISOString(), baseModel: config.base_model, trainFile: config.train_file, trainDataHash: dataHash, configHash: configHash(config), seconds: 0, error: null, attempts: [] };
  for (const a of run.attempts) if (a.status === "started") a.status = "interrupted";
  const attempt: TrainingAttempt = { started: now.toISOString(), ended: null, status: "started", seconds: 0, pid: process.pid, resumedFromStep: null, error: null };
  run.attempts.push(attempt);
  run.status = "started";
  run.error = null;
  run.configHash = configHash(config);
  const earlier = run.attempts.slice(0, -1).reduce((s, a) => s + a.seconds, 0);
  const save = (status?: TrainingStatus) => {
    const t = new Date();
    attempt.seconds = (t.getTime() - now.getTime()) / 1000;
    if (status) {
      attempt.status = status;
      attempt.ended = t.toISOString();
      run.status = status;
    }
    run.seconds = earlier + attempt.seconds;
    run.updated = t.toISOString();
    record.last = run;
    writeStudentRecord(dir, record);
  };
  save();
  return {
    run: run.id,
    checkpoint: () => save(),
    done: (steps, trainSeconds) => {
      record.adapter = { run: run.id, finished: new Date().toISOString(), baseModel: config.base_model, trainFile: config.train_file, trainDataHash: dataHash, configHash: run.configHash, steps, trainSeconds };
      save("done");
    },
    failed: (error) => {
      attempt.error = error;
      run.error = error;
      save("failed");
    },
  };
}

/** Record that `mergedDir` was merged from the adapter in `adapterDir` (when that adapter has a record). */
export function recordMerge(adapterDir: string, mergedDir: string): void {
  const dir = path.dirname(adapterDir);
  const record = readStudentRecord(dir);
  if (!record?.adapter) return;
  record.merged = { run: record.adapter.run, dir: path.resolve(mergedDir), finished: new Date().toISOString() };
  writeStudentRecord(dir, record);
}

/**
 * The student notebook 3 may use, or an error that says why not and what to do: the last training must have
 * finished, the adapter must be that training's, and its train file must be unchanged since. The merged model is
 * used only when it was merged from that same adapter (an older merged folder is passed over for the adapter).
 */
export function checkStudent(studentDir: string, o: { mergedDir: string; adapterDir: string; baseModel: string }): { useMerged: boolean; run: string } {
  const record = readStudentRecord(studentDir);
  const rerun = "rerun notebook 2-fine-tune (same workDir)";
  if (!record) {
    if (!fs.existsSync(o.adapterDir) && !fs.existsSync(path.join(o.mergedDir, "config.json"))) throw new Error(`no fine-tuned student in ${studentDir}: run notebook 2-fine-tune first (same workDir)`);
    throw new Error(`the student in ${studentDir} has no record of the training that made it (${STUDENT_RECORD} is missing: made by an older version, or copied in): ${rerun}`);
  }
  const last = record.last;
  const made = record.adapter;
  const what = made ? `the student on disk is still run ${made.run}'s, finished ${made.finished}` : "there is no finished student";
  if (last && last.status !== "done") {
    const how = last.status === "failed" ? `failed: ${last.error ?? "(no message)"}` : "did not finish (it was interrupted, or it is still running)";
    throw new Error(`the last training in ${studentDir} (run ${last.id}, started ${last.started}) ${how}\n${what}, not the one you asked for: ${rerun}, with -p resume=true to continue from its last checkpoint`);
  }
  if (!made || !fs.existsSync(o.adapterDir)) throw new Error(`no fine-tuned student in ${studentDir}: ${rerun}`);
  if (fileHash(made.trainFile) !== made.trainDataHash) {
    throw new Error(`the training data changed since the student was trained (run ${made.run}, finished ${made.finished}): ${made.trainFile} is ${fs.existsSync(made.trainFile) ? "different now (notebook 1 ran again?)" : "gone"}; ${rerun} to train on it`);
  }
  const useMerged = record.merged !== null && record.merged.run === made.run && path.resolve(record.merged.dir) === path.resolve(o.mergedDir) && fs.existsSync(path.join(o.mergedDir, "config.json"));
  const sameModel = (a: string, b: string) => a === b || (fs.existsSync(paths.resolve(a)) && paths.resolve(a) === paths.resolve(b));
  if (!useMerged && !sameModel(made.baseModel, o.baseModel)) {
    throw new Error(`the adapter in ${o.adapterDir} was trained on ${made.baseModel}, but baseModel is ${o.baseModel}: set baseModel to ${made.baseModel}`);
  }
  return { useMerged, run: made.run };
}
