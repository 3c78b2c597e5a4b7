// The TypeScript side of the Python runtime (python-runtime/distill_runtime): run a job, stream its events, cancel it.
//
// Contract: `.venv/bin/python -m distill_runtime <job> --config <file.json>` writes one JSON event per stdout line
// (python-runtime/distill_runtime/events.py) and logs on stderr. Every line is validated here against the same
// shapes; an unknown event type or a malformed event is an error. Stray non-JSON stdout text from a library is kept
// in the log, not treated as an event.
//
// Processes: each job runs in its own process group (detached), so cancelling kills the job and anything it started.
// Cancel = SIGTERM to the group (Python turns it into a `cancelled` error event and exits; checkpoints stay), then
// SIGKILL after a grace period. No orphans:
// - tslab delivers a notebook "interrupt" as SIGINT to the kernel process (Jupyter signals the kernel's process
//   group; the kernel's own SIGINT handler only abandons the cell's pending promise, it does not stop our work).
//   The job is in its own group, so it never sees that SIGINT: we listen for SIGINT/SIGTERM/SIGHUP in this process
//   while jobs run and cancel them. (Where nobody else handles the signal, e.g. a plain `node` script, we then
//   re-raise it so the process still exits as it would have.)
// - if this process dies hard (kernel restart = SIGKILL), the job gets SIGTERM from the kernel through
//   PR_SET_PDEATHSIG, which Python sets when DISTILL_EXIT_WITH_PARENT names our pid.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { z } from "zod";
import * as paths from "./paths";
import type { OnProgress } from "./progress";

// ---------------------------------------------------------------------------------------------------------------
// Events (mirror of events.py: extra keys are errors there too)

const base = { event: z.string(), time: z.number() };
const nullableNumber = z.number().nullable().optional();

export const StartEventSchema = z.strictObject({
  ...base,
  event: z.literal("start"),
  job: z.string(),
  config: z.record(z.string(), z.unknown()),
  device: z.string(),
  params_total: z.int().nullable().optional(),
  params_trainable: z.int().nullable().optional(),
  info: z.record(z.string(), z.unknown()).default({}),
});
export const StepEventSchema = z.strictObject({
  ...base,
  event: z.literal("step"),
  step: z.int(),
  total_steps: z.int(),
  epoch: z.number(),
  loss: z.number(),
  lr: z.number(),
  grad_norm: nullableNumber,
  tokens_per_s: z.number(),
  samples_per_s: z.number(),
  memory_mb: nullableNumber,
});
export const EvalEventSchema = z.strictObject({ ...base, event: z.literal("eval"), step: z.int(), eval_loss: z.number() });
export const CheckpointEventSchema = z.strictObject({ ...base, event: z.literal("checkpoint"), step: z.int(), path: z.string() });
export const ProgressEventSchema = z.strictObject({
  ...base,
  event: z.literal("progress"),
  done: z.int(),
  total: z.int(),
  records_per_s: z.number(),
  tokens_per_s: nullableNumber,
});
export const DoneEventSchema = z.strictObject({
  ...base,
  event: z.literal("done"),
  job: z.string(),
  runtime_s: z.number(),
  outputs: z.record(z.string(), z.unknown()).default({}),
  metrics: z.record(z.string(), z.unknown()).default({}),
});
export const errorKinds = ["config", "data", "oom", "nan", "missing_package", "cancelled", "runtime"] as const;
export const ErrorEventSchema = z.strictObject({
  ...base,
  event: z.literal("error"),
  kind: z.enum(errorKinds),
  message: z.string(),
  hint: z.string().nullable().optional(),
});
export const JobEventSchema = z.discriminatedUnion("event", [
  StartEventSchema,
  StepEventSchema,
  EvalEventSchema,
  CheckpointEventSchema,
  ProgressEventSchema,
  DoneEventSchema,
  ErrorEventSchema,
]);

export type StartEvent = z.infer<typeof StartEventSchema>;
export type StepEvent = z.infer<typeof StepEventSchema>;
export type EvalEvent = z.infer<typeof EvalEventSchema>;
export type CheckpointEvent = z.infer<typeof CheckpointEventSchema>;
export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
export type DoneEvent = z.infer<typeof DoneEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;
export type JobEvent = z.infer<typeof JobEventSchema>;
export type JobName = "train" | "merge" | "infer" | "export" | "tokens";

/** Parse and validate one stdout line. Throws an Error that quotes the line and says what is wrong. */
export function parseEventLine(line: string): JobEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new Error(`invalid event line (not JSON: ${(e as Error).message}): ${clip(line)}`);
  }
  const type = (value as { event?: unknown } | null)?.event;
  const known = JobEventSchema.options.map((o) => o.shape.event.value as string);
  if (typeof type !== "string" || !known.includes(type)) {
    throw new Error(`unknown event type ${JSON.stringify(type)} (expected one of ${known.join(", ")}): ${clip(line)}`);
  }
  const result = JobEventSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid ${type} event: ${z.prettifyError(result.error).replace(/\n/g, "; ")}: ${clip(line)}`);
  return result.data;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

export type RuntimeErrorKind = ErrorEvent["kind"] | "protocol";

export class RuntimeJobError extends Error {
  override name = "RuntimeJobError";
  constructor(
    readonly job: JobName,
    readonly kind: RuntimeErrorKind,
    message: string,
    readonly hint: string | null,
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(`${job} job failed (${kind}): ${message}${hint ? `\nhint: ${hint}` : ""}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running a job

export interface RunJobOptions {
  onEvent?: (event: JobEvent) => void;
  signal?: AbortSignal;
  /** Working directory of the Python process (default: the project root). */
  cwd?: string;
  /** Extra environment variables for the job. */
  env?: Record<string, string>;
  /** Where stderr goes (appended). Default: <output_dir>/<job>.log, else <output_file>.log, else work/logs/. */
  logFile?: string;
  /** Milliseconds between SIGTERM and SIGKILL on cancel (default 10 s: time to leave a checkpoint alone). */
  killGraceMs?: number;
  /** The Python interpreter (default: paths.python, the project's .venv). */
  python?: string;
}

const STDERR_TAIL_LINES = 50;
const running = new Set<ChildProcess>();

/** Run `python -m distill_runtime <job>` with this config; resolves with its done event. */
export function runJob(job: JobName, config: object, opts: RunJobOptions = {}): Promise<DoneEvent> {
  if (opts.signal?.aborted) {
    return Promise.reject(new RuntimeJobError(job, "cancelled", "cancelled before it started", null, null, ""));
  }
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), `distill-${job}-`));
  const configFile = path.join(configDir, "config.json");
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = opts.logFile ?? defaultLogFile(job, config);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.createWriteStream(logFile, { flags: "a" });
  log.write(`\n=== ${new Date().toISOString()} ${job} --config ${configFile}\n`);

  const python = opts.python ?? paths.python;
  const child = spawn(python, ["-m", "distill_runtime", job, "--config", configFile], {
    cwd: opts.cwd ?? paths.root,
    detached: true, // its own process group: cancel kills the job and whatever it started
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      // OpenMP's default spin-waiting made every op ~20x slower when cores are shared (measured on 2 cores).
      OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "PASSIVE",
      DISTILL_EXIT_WITH_PARENT: String(process.pid),
      ...opts.env,
    },
  });
  track(child);

  return new Promise<DoneEvent>((resolve, reject) => {
    let done: DoneEvent | undefined;
    let errorEvent: ErrorEvent | undefined;
    let protocolError: string | undefined;
    let cancelled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stderrTail: string[] = [];
    const remember = (line: string) => {
      stderrTail.push(line);
      if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    };

    const stop = () => {
      killGroup(child, "SIGTERM");
      killTimer ??= setTimeout(() => killGroup(child, "SIGKILL"), opts.killGraceMs ?? 10_000);
      killTimer.unref();
    };
    const onAbort = () => {
      cancelled = true;
      stop();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    readline.createInterface({ input: child.stdout! }).on("line", (raw) => {
      const line = raw.trim();
      if (!line) return;
      if (!line.startsWith("{")) {
        // Not an event: text some library printed to stdout. Keep it with the logs.
        log.write(`[stdout] ${raw}\n`);
        remember(`[stdout] ${raw}`);
        return;
      }
      let event: JobEvent;
      try {
        event = parseEventLine(line);
      } catch (e) {
        protocolError ??= (e as Error).message;
        stop();
        return;
      }
      if (event.event === "done") done = event;
      if (event.event === "error") errorEvent = event;
      try {
        opts.onEvent?.(event);
      } catch (e) {
        log.write(`onEvent threw: ${(e as Error).stack ?? e}\n`);
      }
    });
    readline.createInterface({ input: child.stderr! }).on("line", (line) => {
      log.write(line + "\n");
      remember(line);
    });

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      clearTimeout(killTimer);
      opts.signal?.removeEventListener("abort", onAbort);
      killGroup(child, "SIGKILL"); // anything the job left behind in its group
      untrack(child);
      fs.rmSync(configDir, { recursive: true, force: true });
      // Settle only once the log is on disk: a caller that reads it right after (an error message points there)
      // must find every line.
      log.end(() => settle(exitCode, signal, spawnError));
    };
    const settle = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      const tail = stderrTail.join("\n");
      const fail = (kind: RuntimeErrorKind, message: string, hint: string | null = null) =>
        reject(new RuntimeJobError(job, kind, message, hint, exitCode, tail));
      if (spawnError) return fail("runtime", `could not start ${python}: ${spawnError.message}`, "run `npm run setup` to create .venv");
      if (protocolError) return fail("protocol", protocolError, "the Python and TypeScript event shapes disagree: see events.py and runtime.ts");
      if (errorEvent) return fail(errorEvent.kind, errorEvent.message, errorEvent.hint ?? null);
      if (cancelled) return fail("cancelled", `cancelled (the process ended by ${signal ?? `exit code ${exitCode}`})`, "rerun with resume to continue from the last checkpoint");
      if (exitCode === 0 && done) return resolve(done);
      const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
      const hint = signal === "SIGKILL" ? "it may have run out of memory: lower micro_batch_size or max_seq_len" : `see ${logFile}`;
      fail("runtime", `the ${job} process ${how} without ${done ? "exiting cleanly" : "a done event"}${tail ? `; last stderr lines:\n${tail}` : ""}`, hint);
    };
    child.on("error", (e) => finish(null, null, e));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function defaultLogFile(job: JobName, config: object): string {
  const c = config as { output_dir?: unknown; output_file?: unknown };
  if (typeof c.output_dir === "string" && c.output_dir) return path.join(paths.resolve(c.output_dir), `${job}.log`);
  if (typeof c.output_file === "string" && c.output_file) return `${paths.resolve(c.output_file)}.log`;
  return path.join(paths.workDir, "logs", `${job}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // negative pid: the whole process group
  } catch {
    // ESRCH: the group is already gone
  }
}

// Process-level cleanup: while jobs run, a signal to this process cancels them (see the top of the file).
const exitSignals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const onProcessSignal = (signal: NodeJS.Signals) => {
  for (const child of running) killGroup(child, "SIGTERM");
  if (process.listenerCount(signal) === 1) {
    // Nobody else handles it (a plain node script): behave as without us, after the jobs got their SIGTERM.
    for (const s of exitSignals) process.removeListener(s, onProcessSignal);
    process.removeListener("exit", onProcessExit);
    process.kill(process.pid, signal);
  }
};
const onProcessExit = () => {
  for (const child of running) killGroup(child, "SIGKILL");
};

function track(child: ChildProcess): void {
  if (running.size === 0) {
    for (const s of exitSignals) process.on(s, onProcessSignal);
    process.on("exit", onProcessExit);
  }
  running.add(child);
}

function untrack(child: ChildProcess): void {
  if (!running.delete(child) || running.size > 0) return;
  for (const s of exitSignals) process.removeListener(s, onProcessSignal);
  process.removeListener("exit", onProcessExit);
}

/** Process ids of the jobs running now (for tests and for a notebook's "what is running"). */
export function runningJobPids(): number[] {
  return [...running].map((c) => c.pid).filter((p): p is number => p !== undefined);
}

function clip(s: string, n = 200): string {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Train config: data/training.json is the one source of hyperparameter defaults and presets (Python reads it too)

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
  num_epochs: z.number().positive(),
  max_steps: z.int().positive().nullable(),
  micro_batch_size: z.int().min(1),
  grad_accum_steps: z.int().min(1),
  max_seq_len: z.int().min(16),
  packing: z.boolean(),
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

/** A job config's validation problems in one line: every wrong field and every unknown one, by name. */
export function configProblems(error: z.ZodError): string {
  return error.issues
    .map((iss) => (iss.code === "unrecognized_keys" ? `unknown field(s) ${iss.keys.map((k) => `'${k}'`).join(", ")}` : `field '${iss.path.join(".")}': ${iss.message}`))
    .join("; ");
}

/** Check a complete train config; the error lists every wrong or unknown field. */
export function validateTrainConfig(values: unknown): TrainConfig {
  const result = TrainConfigSchema.safeParse(values);
  if (!result.success) throw new Error(`train config: ${configProblems(result.error)}`);
  return result.data;
}

// ---------------------------------------------------------------------------------------------------------------
// Job wrappers

export interface JobOptions {
  onEvent?: (event: JobEvent) => void;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  env?: Record<string, string>;
}

export interface TrainResult {
  adapterDir: string;
  checkpointDir: string;
  metrics: { train_loss: number | null; eval_loss: number | null; tokens_seen: number; steps: number; runtime_s: number; packing_efficiency: number };
  done: DoneEvent;
}

const TrainOutputs = z.object({ adapter_dir: z.string(), checkpoint_dir: z.string() });
const TrainMetrics = z.object({
  train_loss: z.number().nullable(),
  eval_loss: z.number().nullable(),
  tokens_seen: z.number(),
  steps: z.number(),
  runtime_s: z.number(),
  packing_efficiency: z.number(),
});

/** Fine-tune (LoRA) with a config from trainConfig(); progress is one update per logged step. */
export async function train(config: TrainConfig, opts: JobOptions = {}): Promise<TrainResult> {
  const valid = validateTrainConfig(config);
  const done = await runJob("train", valid, {
    signal: opts.signal,
    env: opts.env,
    onEvent: (event) => {
      opts.onEvent?.(event);
      if (event.event === "step") {
        opts.onProgress?.({
          label: "train",
          done: event.step,
          total: event.total_steps,
          extra: { loss: round(event.loss, 4), lr: event.lr, "tok/s": Math.round(event.tokens_per_s) },
        });
      } else if (event.event === "eval") {
        opts.onProgress?.({ label: "train", done: event.step, total: event.step, extra: { eval_loss: round(event.eval_loss, 4) } });
      }
    },
  });
  const outputs = TrainOutputs.parse(done.outputs);
  return { adapterDir: outputs.adapter_dir, checkpointDir: outputs.checkpoint_dir, metrics: TrainMetrics.parse(done.metrics), done };
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
  return { mergedDir: z.object({ merged_dir: z.string() }).parse(done.outputs).merged_dir, done };
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
