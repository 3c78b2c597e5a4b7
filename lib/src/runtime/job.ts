// The TypeScript side of the Python runtime (python-runtime/distill_runtime): run a job, stream its events, cancel it.
//
// Contract: `.venv/bin/python -m distill_runtime <job> --config <file.json>` writes one JSON event per stdout line
// (events.ts, mirroring python-runtime/distill_runtime/events.py) and logs on stderr. Stray non-JSON stdout text from a
// library is kept in the log, not treated as an event.
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
import type { z } from "zod";
import * as paths from "../paths";
import type { OnProgress } from "../progress";
import { parseEventLine, type DoneEvent, type ErrorEvent, type JobEvent, type JobName } from "./events";

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
      if (protocolError) return fail("protocol", protocolError, "the Python and TypeScript event shapes disagree: see events.py and runtime/events.ts");
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

/** A job config's validation problems in one line: every wrong field and every unknown one, by name. */
export function configProblems(error: z.ZodError): string {
  return error.issues
    .map((iss) => (iss.code === "unrecognized_keys" ? `unknown field(s) ${iss.keys.map((k) => `'${k}'`).join(", ")}` : `field '${iss.path.join(".")}': ${iss.message}`))
    .join("; ");
}

export interface JobOptions {
  onEvent?: (event: JobEvent) => void;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  env?: Record<string, string>;
}
