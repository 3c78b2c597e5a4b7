// One run per work folder and step. Two runs of one step on one folder race (checkpoints, the adapter: the last writer
// wins) and each pays for every teacher answer again, since neither sees the other's answers in time. So the process
// that opens a work folder for writing (paths.workspace: a notebook kernel, a script) takes a lock there and holds it
// until it exits; a second one gets WorkDirInUseError naming the holder.
//
// - A notebook locks its step only (`.lock-label`, `.lock-train`, ...): in JupyterLab the four notebooks' kernels stay
//   alive side by side, as users keep them, and a second kernel of the same step is refused. What one step reads from
//   another is checked where it is read (notebook 3 refuses a student whose training failed or whose data changed).
//   A process that opens the folder without a step (a script) locks all of it (`.lock`): it conflicts with every step.
//   Each process creates its own lock file first and then looks for a conflicting one, so of two that race at least
//   one sees the other.
//
// - The lock file holds the owner's pid, host, start time and what it runs (the notebook, the run id), and the pids
//   of the jobs it started (runtime/job.ts adds them): a kernel that died while its training job still winds down
//   keeps the folder locked until the job is gone too.
// - Stale locks are recovered: when neither the owner nor any of its jobs is alive on this host (pid plus the
//   process's start time, so a reused pid does not count), the next one takes the lock over.
// - Created with link(2) from a complete temporary file: the lock file never exists half-written, and of two
//   processes only one can create it.
// - Released when the owner exits or dies of SIGTERM/SIGHUP (processes.ts atExit: a Jupyter kernel told to shut down
//   gets SIGTERM when it does not exit at once); a kill -9 leaves a stale lock, recovered as above.
// - One `npm start` runs its notebooks one after another in separate kernels: each kernel has exited (and so
//   released the lock) before the next starts. An interactive JupyterLab kernel holds it while it is alive.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { atExit, processAlive, processStartTime } from "./processes";

export const LOCK_FILE = ".lock";
const STEP_LOCK = /^\.lock-([a-z0-9][a-z0-9-]*)$/;

/** The lock file of a step (`.lock-<step>`), or of the whole folder without one. */
export function lockFileName(step?: string): string {
  if (step === undefined) return LOCK_FILE;
  if (!STEP_LOCK.test(`.lock-${step}`)) throw new Error(`a work folder step is lower-case letters, digits and dashes, got ${JSON.stringify(step)}`);
  return `.lock-${step}`;
}

export interface LockOwner {
  pid: number;
  host: string;
  /** When the owner took the lock (ISO time). */
  started: string;
  /** The owner's process start time (/proc), so a reused pid is not mistaken for the owner. */
  startTime: number | null;
  /** What the owner runs: the notebook (headless runner or JupyterLab) or the script. */
  what: string;
  runId: string | null;
  /** Jobs the owner started that are still running (runtime/job.ts). */
  members: { pid: number; startTime: number | null }[];
}

export class WorkDirInUseError extends Error {
  override name = "WorkDirInUseError";
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
    message: string,
  ) {
    super(message);
  }
}

const held = new Map<string, LockOwner>(); // lock file -> our record in it
let removeExitHook: (() => void) | null = null;

function describeSelf(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DISTILL_NOTEBOOK) return `notebook ${env.DISTILL_NOTEBOOK}`;
  if (env.JPY_SESSION_NAME) return `Jupyter kernel of ${path.basename(env.JPY_SESSION_NAME)}`;
  if (env.JPY_PARENT_PID) return "a Jupyter kernel";
  return `${path.basename(process.argv0)} ${process.argv.slice(1, 2).map((a) => path.basename(a)).join(" ")}`.trim();
}

const sameProcess = (o: LockOwner): boolean => o.host === os.hostname() && o.pid === process.pid && o.startTime === processStartTime(process.pid);

/** Is the owner (or one of its jobs) still running? A lock from another host cannot be checked: it counts as held. */
export function lockIsLive(o: LockOwner): boolean {
  if (o.host !== os.hostname()) return true;
  return processAlive(o.pid, o.startTime) || o.members.some((m) => processAlive(m.pid, m.startTime));
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.pid === "number" && typeof o.host === "string" ? { ...o, members: Array.isArray(o.members) ? o.members : [] } : null;
  } catch {
    return null;
  }
}

/** Create `file` with this content only if it does not exist (link(2) of a complete temporary file). */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, content);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function inUseMessage(label: string, file: string, o: LockOwner): string {
  const step = STEP_LOCK.exec(path.basename(file))?.[1];
  if (step !== undefined) label = `${label} (step ${step})`;
  const where = o.host === os.hostname() ? "" : ` on host ${o.host} (it cannot be checked from here: if that run is gone, delete ${file})`;
  const jobs = processAlive(o.pid, o.startTime) ? "" : ` (its process has ended, but job(s) it started are still running: pid ${o.members.map((m) => m.pid).join(", ")})`;
  const jupyter = /Jupyter/.test(o.what) ? ", shut that kernel down" : "";
  return `${label} is in use by pid ${o.pid}${where} (${o.what}${o.runId ? `, run ${o.runId}` : ""}, started ${o.started})${jobs}: wait for it${jupyter} or use another workDir`;
}

/**
 * Take the lock of a work folder for this process (again: a no-op), or throw WorkDirInUseError naming the live owner.
 * `label` names the folder in the message (e.g. "work/default"); `step` locks that step only (see the top).
 */
export function lockWorkDir(dir: string, label = dir, step?: string): { file: string; release(): void } {
  const file = path.join(dir, lockFileName(step));
  const heldBefore = held.has(file);
  const handle = takeLock(dir, file, label);
  const conflict = conflictingLock(dir, step);
  if (conflict) {
    if (!heldBefore) handle.release();
    throw new WorkDirInUseError(dir, conflict.owner, inUseMessage(label, conflict.file, conflict.owner));
  }
  return handle;
}

/** A live lock held by another process that excludes ours: the whole folder's for a step, any step's for the whole. */
function conflictingLock(dir: string, step: string | undefined): { file: string; owner: LockOwner } | null {
  const names = step === undefined ? fs.readdirSync(dir).filter((n) => STEP_LOCK.test(n)) : [LOCK_FILE];
  for (const name of names) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const owner = parseOwner(text);
    if (owner && !sameProcess(owner) && lockIsLive(owner)) return { file, owner };
  }
  return null;
}

function takeLock(dir: string, file: string, label: string): { file: string; release(): void } {
  const handle = { file, release: () => releaseLock(file) };
  if (held.has(file)) return handle;
  const mine: LockOwner = {
    pid: process.pid,
    host: os.hostname(),
    started: new Date().toISOString(),
    startTime: processStartTime(process.pid),
    what: describeSelf(),
    runId: process.env.DISTILL_RUN_ID ?? null,
    members: [],
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, JSON.stringify(mine, null, 2) + "\n")) {
      held.set(file, mine);
      removeExitHook ??= atExit(releaseAll);
      return handle;
    }
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue; // released between our two calls: try again
    }
    const owner = parseOwner(text);
    if (owner && sameProcess(owner)) {
      held.set(file, owner); // ours from an earlier load of this module (or a copy of it) in this process
      return handle;
    }
    if (owner && lockIsLive(owner)) throw new WorkDirInUseError(dir, owner, inUseMessage(label, file, owner));
    // Stale (or unreadable): move it aside, but only if it is still the file we judged; then try again.
    const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue;
    }
    if (fs.readFileSync(aside, "utf8") !== text) {
      try {
        fs.linkSync(aside, file); // another process took it over in between: give it back
      } catch {
        // a third one holds it now; ours to retry
      }
    }
    fs.rmSync(aside, { force: true });
  }
  throw new Error(`could not lock ${label}: the lock ${file} kept changing hands; try again`);
}

/** Who holds a work folder's lock (or a step's) now (null when free or stale). */
export function lockOwner(dir: string, step?: string): LockOwner | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, lockFileName(step)), "utf8");
  } catch {
    return null;
  }
  const owner = parseOwner(text);
  return owner && lockIsLive(owner) ? owner : null;
}

function rewrite(file: string, owner: LockOwner): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(owner, null, 2) + "\n");
  fs.renameSync(tmp, file); // atomic replace: a reader sees the old or the new record, never half of one
}

/** A job this process started (runtime/job.ts) keeps our work folders locked while it runs, even if we die first. */
export function addLockMember(pid: number): void {
  for (const [file, owner] of held) {
    owner.members = [...owner.members.filter((m) => processAlive(m.pid, m.startTime)), { pid, startTime: processStartTime(pid) }];
    rewrite(file, owner);
  }
}

export function removeLockMember(pid: number): void {
  for (const [file, owner] of held) {
    if (!owner.members.some((m) => m.pid === pid)) continue;
    owner.members = owner.members.filter((m) => m.pid !== pid);
    rewrite(file, owner);
  }
}

function releaseLock(file: string): void {
  if (!held.delete(file)) return;
  try {
    const owner = parseOwner(fs.readFileSync(file, "utf8"));
    // A job of ours still winding down (we were told to stop; it got SIGTERM a moment ago) keeps the folder locked:
    // the lock goes stale when it is gone, and the next run takes it over then.
    const jobsLeft = owner?.members.some((m) => processAlive(m.pid, m.startTime)) ?? false;
    if (owner && sameProcess(owner) && !jobsLeft) fs.rmSync(file, { force: true });
  } catch {
    // already gone
  }
  if (held.size === 0) {
    removeExitHook?.();
    removeExitHook = null;
  }
}

function releaseAll(): void {
  for (const file of [...held.keys()]) releaseLock(file);
}
