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
//   re-raise it so the process still exits as it would have.) The tracking lives in ../processes.ts, shared with the
//   notebook runner.
// - if this process dies hard (kernel restart = SIGKILL), the job gets SIGTERM from the kernel through
//   PR_SET_PDEATHSIG, which Python sets when DISTILL_EXIT_WITH_PARENT names our pid.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import type { z } from "zod";
import { addLockMember, removeLockMember } from "../lock";
import * as paths from "../paths";
import { EXIT_WITH_PARENT, killGroup as killGroupOf, oomKillCount, trackGroup, untrackGroup } from "../processes";
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
const killGroup = (child: ChildProcess, signal: NodeJS.Signals): void => killGroupOf(child.pid, signal);
// A job keeps the work folders this process locked (lock.ts) locked while it runs, even if this process dies first.
const track = (child: ChildProcess): void => {
  running.add(child);
  trackGroup(child);
  if (child.pid !== undefined) addLockMember(child.pid);
};
const untrack = (child: ChildProcess): void => {
  if (!running.delete(child)) return;
  untrackGroup(child);
  if (child.pid !== undefined) removeLockMember(child.pid);
};

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
  const oomKillsBefore = oomKillCount();
  const child = spawn(python, ["-m", "distill_runtime", job, "--config", configFile], {
    cwd: opts.cwd ?? paths.root,
    detached: true, // its own process group: cancel kills the job and whatever it started
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      // OpenMP's default spin-waiting made every op ~20x slower when cores are shared (measured on 2 cores).
      OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? "PASSIVE",
      [EXIT_WITH_PARENT]: String(process.pid),
      ...opts.env,
    },
  });
  track(child);

  return new Promise<DoneEvent>((resolve, reject) => {
    let done: DoneEvent | undefined;
    let errorEvent: ErrorEvent | undefined;
    let protocolError: string | undefined;
    let cancelled = false;
    let peakMemoryMb: number | null = null;
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
      if (event.event === "step" && event.memory_mb !== null && event.memory_mb !== undefined) peakMemoryMb = Math.max(peakMemoryMb ?? 0, event.memory_mb);
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
      const ended = describeEnd({ signal, exitCode, oomKillsBefore, oomKillsAfter: signal === "SIGKILL" ? oomKillCount() : oomKillsBefore, memoryMb: peakMemoryMb, logFile });
      fail(ended.kind, `the ${job} process ${how} without ${done ? "exiting cleanly" : "a done event"}${tail ? `; last stderr lines:\n${tail}` : ""}`, ended.hint);
    };
    child.on("error", (e) => finish(null, null, e));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

/**
 * What is known about a job that ended without a result, as an error kind and a hint: who sent the signal, whether
 * the out-of-memory killer acted (the cgroup's oom_kill count went up while it ran), its last reported memory use.
 * A SIGKILL is not always memory: a cancel from here starts with SIGTERM and is reported as cancelled, so a SIGKILL
 * here came from outside, and only the OOM count says whether it was the kernel's OOM killer.
 */
export function describeEnd(o: { signal: NodeJS.Signals | null; exitCode: number | null; oomKillsBefore: number | null; oomKillsAfter: number | null; memoryMb?: number | null; logFile: string }): { kind: RuntimeErrorKind; hint: string } {
  const memory = o.memoryMb ? ` Its last reported memory use was ${Math.round(o.memoryMb)} MB.` : "";
  const shrink = "lower micro_batch_size or max_seq_len (or enable gradient_checkpointing, or QLoRA on a GPU)";
  const log = ` Its log: ${o.logFile}.`;
  if (o.signal === "SIGKILL") {
    if (o.oomKillsBefore !== null && o.oomKillsAfter !== null && o.oomKillsAfter > o.oomKillsBefore) {
      return { kind: "oom", hint: `out of memory: the kernel's OOM killer ended a process of this machine's memory group while the job ran (oom_kill count ${o.oomKillsBefore} -> ${o.oomKillsAfter}).${memory} To fit, ${shrink}.${log}` };
    }
    if (o.oomKillsBefore !== null && o.oomKillsAfter !== null) {
      return { kind: "runtime", hint: `SIGKILL came from outside this process (a cancel from here starts with SIGTERM), and the out-of-memory killer recorded no kill (oom_kill count still ${o.oomKillsAfter}): something or someone ran \`kill -9\` on it, or its parent was killed.${memory}${log}` };
    }
    return { kind: "runtime", hint: `SIGKILL came from outside this process (a cancel from here starts with SIGTERM). That is often the out-of-memory killer, but this machine does not let us check (no cgroup oom_kill count): if memory was short, ${shrink}.${memory}${log}` };
  }
  if (o.signal === "SIGTERM" || o.signal === "SIGINT" || o.signal === "SIGHUP") {
    return { kind: "runtime", hint: `it was sent ${o.signal} from outside before it could report (a shutdown, a \`kill\`, or the terminal closing); rerun it (training continues from its last checkpoint with resume).${log}` };
  }
  if (o.signal === "SIGSEGV" || o.signal === "SIGBUS" || o.signal === "SIGABRT" || o.signal === "SIGILL" || o.signal === "SIGFPE") {
    return { kind: "runtime", hint: `it crashed in native code (${o.signal}): a bug or a broken install of torch or another compiled package; \`npm run setup\` checks and repairs .venv.${log}` };
  }
  if (o.signal) return { kind: "runtime", hint: `it ended on signal ${o.signal}.${log}` };
  return { kind: "runtime", hint: `it ${o.exitCode === 0 ? "exited without reporting a result" : `exited with code ${o.exitCode}`}: see its log, ${o.logFile}` };
}

function defaultLogFile(job: JobName, config: object): string {
  const c = config as { output_dir?: unknown; output_file?: unknown };
  if (typeof c.output_dir === "string" && c.output_dir) return path.join(paths.resolve(c.output_dir), `${job}.log`);
  if (typeof c.output_file === "string" && c.output_file) return `${paths.resolve(c.output_file)}.log`;
  return path.join(paths.workDir, "logs", `${job}-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
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
