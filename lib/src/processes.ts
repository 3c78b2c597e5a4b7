// Child processes that die with us. Every long-running child the lib starts (a Python job, the notebook executor) runs
// in its own process group, so one signal reaches it and whatever it started; this module keeps the list of those
// groups and ends them when this process is told to stop or exits. Three layers, one per way a parent can go:
// - a signal to this process (Ctrl-C, `kill`, a Jupyter interrupt): SIGTERM to every group we track, then the signal
//   takes its normal course (see onProcessSignal);
// - this process exits: SIGKILL to every group still tracked;
// - this process is SIGKILLed (no handler runs): each child learns it itself. Python children ask Linux for a
//   parent-death signal (PR_SET_PDEATHSIG) when DISTILL_EXIT_WITH_PARENT names their parent
//   (python-runtime/distill_runtime/lifeline.py), and a Node process that runs this lib (the tslab kernel) watches
//   its parent: `watchParent` below, started on import when DISTILL_EXIT_WITH_PARENT or Jupyter's JPY_PARENT_PID
//   names the parent it has.
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";

/** The environment variable that asks a child to end when the process it names (its parent) ends. */
export const EXIT_WITH_PARENT = "DISTILL_EXIT_WITH_PARENT";

/** SIGTERM (or another signal) to a whole process group; a group that is already gone is not an error. */
export function killGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, signal); // negative pid: the whole process group
  } catch {
    // ESRCH: the group is already gone
  }
}

/** Linux's start time of a process (clock ticks since boot, /proc/<pid>/stat field 22): with the pid, it names one
 * process for good, since pids are reused. null when the process is gone or there is no /proc. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state is fields[0], starttime fields[19]
    if (fields[0] === "Z") return null; // a zombie has exited
    return Number(fields[19]);
  } catch {
    return null;
  }
}

/** Is this process alive (and, when its start time is given, still the same process and not a reused pid)? */
export function processAlive(pid: number, startTime?: number | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (fs.existsSync("/proc/self/stat")) {
    const now = processStartTime(pid);
    return now !== null && (startTime === undefined || startTime === null || now === startTime);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tracked groups, and cleanups (lock.ts releases its locks): what a signal to this process, or its exit, ends.

const groups = new Set<ChildProcess>();
const cleanups = new Set<() => void>();
const exitSignals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let listening = false;

const runCleanups = () => {
  for (const fn of [...cleanups]) {
    try {
      fn();
    } catch {
      // a cleanup must not keep the others from running
    }
  }
};

const onProcessSignal = (signal: NodeJS.Signals) => {
  for (const child of groups) killGroup(child.pid, "SIGTERM");
  if (process.listenerCount(signal) === 1) {
    // Nobody else handles it (a plain node script; a kernel told to stop): the process dies of it as without us,
    // after the children got their SIGTERM and the cleanups ran. Where someone else handles it (tslab's SIGINT: a
    // notebook interrupt), the process lives on and keeps its locks.
    runCleanups();
    stopListening();
    process.kill(process.pid, signal);
  }
};
const onProcessExit = () => {
  for (const child of groups) killGroup(child.pid, "SIGKILL");
  runCleanups();
};

function startListening(): void {
  if (listening) return;
  listening = true;
  for (const s of exitSignals) process.on(s, onProcessSignal);
  process.on("exit", onProcessExit);
}

function stopListening(): void {
  if (!listening) return;
  listening = false;
  for (const s of exitSignals) process.removeListener(s, onProcessSignal);
  process.removeListener("exit", onProcessExit);
}

const listenWhileNeeded = () => (groups.size + cleanups.size > 0 ? startListening() : stopListening());

/** Track a child started with `detached: true` (its own process group) until untrackGroup. */
export function trackGroup(child: ChildProcess): void {
  groups.add(child);
  listenWhileNeeded();
}

export function untrackGroup(child: ChildProcess): void {
  if (groups.delete(child)) listenWhileNeeded();
}

/** Run `fn` when this process exits or dies of SIGINT/SIGTERM/SIGHUP (not of SIGKILL: nothing runs then). Returns a
 * function that removes it. */
export function atExit(fn: () => void): () => void {
  cleanups.add(fn);
  listenWhileNeeded();
  return () => {
    if (cleanups.delete(fn)) listenWhileNeeded();
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Watching the parent: a tslab kernel has no parent-death signal, and a CLI under `npm run` has a parent (sh) that
// outlives npm, so each looks once a second.

let watching: NodeJS.Timeout | null = null;

/** End this process, SIGTERM first to the tracked groups, once `isGone()` says what it depends on has ended. The
 * timer is unref'd: it keeps nothing alive. */
function stopWhen(isGone: () => boolean, why: string, intervalMs: number): void {
  watching = setInterval(() => {
    if (!isGone()) return;
    for (const child of groups) killGroup(child.pid, "SIGTERM");
    process.stderr.write(`distill: ${why}; stopping this process (pid ${process.pid}) and what it started\n`);
    process.exit(129);
  }, intervalMs);
  watching.unref();
}

/**
 * End this process when its parent ends: the parent is the process that DISTILL_EXIT_WITH_PARENT or Jupyter's
 * JPY_PARENT_PID names, provided it is our parent now. Linux hands an orphan to another parent at once, so a changed
 * parent pid means the old one died. Started on import (the kernel imports the lib in its first cell).
 */
export function watchParent(env: NodeJS.ProcessEnv = process.env, intervalMs = 1000): boolean {
  if (watching) return true;
  const parent = process.ppid;
  const named = [env[EXIT_WITH_PARENT], env.JPY_PARENT_PID].map(Number);
  if (parent <= 1 || !named.includes(parent)) return false;
  stopWhen(() => process.ppid !== parent, `the parent process ${parent} ended`, intervalMs);
  return true;
}

const parentOf = (pid: number): number => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return 0;
  }
};
const commandOf = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
  } catch {
    return "";
  }
};

/**
 * Under `npm run X`, npm starts `sh -c "..."`, which starts us: `kill -9` of npm leaves sh and this process running,
 * and nothing tells us. The CLIs call this to stop when the npm process they were started from ends. Returns its pid,
 * or null when not under npm (then the parent's own signals and watchParent do the job).
 */
export function stopWithNpm(env: NodeJS.ProcessEnv = process.env, intervalMs = 1000): number | null {
  if (!env.npm_lifecycle_event || watching) return null;
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++, pid = parentOf(pid)) {
    if (!/(^|[\s/])npm(-cli\.js)?(\s|$)/.test(commandOf(pid))) continue;
    const started = processStartTime(pid);
    const npm = pid;
    stopWhen(() => !processAlive(npm, started), `npm (pid ${npm}) ended`, intervalMs);
    return npm;
  }
  return null;
}

watchParent();

// ---------------------------------------------------------------------------------------------------------------
// Out-of-memory kills: the one fact that tells "killed for memory" from "killed by someone".

/**
 * How many processes the kernel's out-of-memory killer has ended in this process's memory cgroup so far (cgroup v2
 * memory.events or v1 memory.oom_control, field oom_kill), or null where that cannot be read. Compare a reading
 * before a child started with one after it was SIGKILLed.
 */
export function oomKillCount(): number | null {
  let cgroupPaths: string[] = [];
  try {
    cgroupPaths = fs
      .readFileSync("/proc/self/cgroup", "utf8")
      .split("\n")
      .map((l) => l.split(":"))
      .filter((f) => f.length >= 3 && (f[1] === "" || f[1].split(",").includes("memory")))
      .map((f) => f.slice(2).join(":"));
  } catch {
    return null;
  }
  const candidates: string[] = [];
  for (const p of cgroupPaths) {
    for (const [mount, file] of [["/sys/fs/cgroup", "memory.events"], ["/sys/fs/cgroup/memory", "memory.oom_control"]]) {
      // Inside a container the cgroup is usually mounted at the root, though /proc/self/cgroup names the host path.
      candidates.push(`${mount}${p === "/" ? "" : p}/${file}`, `${mount}/${file}`);
    }
  }
  for (const file of candidates) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(file, "utf8"));
      if (m) return Number(m[1]);
    } catch {
      // not this one
    }
  }
  return null;
}
