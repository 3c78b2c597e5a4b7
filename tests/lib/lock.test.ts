// The work folder lock (lib/src/lock.ts) between real processes: a child Node process takes a folder's lock through
// paths.workspace, this test process tries the same folder.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { paths } from "@distill/lib";
import * as lock from "@distill/lib/dist/lock";
import { tempDir } from "../support/notebooks";

const libIndex = path.join(paths.root, "lib", "dist", "index.js");
const lockFile = (dir: string) => path.join(dir, ".lock");

/** A Node process that opens `dir` as its work folder (and optionally starts a `sleep` job it registers), then waits. */
async function holder(dir: string, o: { job?: boolean; step?: string } = {}): Promise<{ child: ChildProcess; job: number | null; exited: Promise<void> }> {
  const script = `
const { paths } = require(${JSON.stringify(libIndex)});
const lock = require(${JSON.stringify(path.join(paths.root, "lib", "dist", "lock.js"))});
paths.workspace(${JSON.stringify(dir)}, ${JSON.stringify(o.step ? { step: o.step } : {})});
let job = null;
if (${Boolean(o.job)}) { job = require("node:child_process").spawn("sleep", ["60"], { detached: true, stdio: "ignore" }); lock.addLockMember(job.pid); }
console.log(JSON.stringify({ locked: true, job: job ? job.pid : null }));
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, DISTILL_NOTEBOOK: "holder-test" } });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").once("data", resolve);
    child.once("exit", (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return { child, job: (JSON.parse(line) as { job: number | null }).job, exited };
}

test("a second process gets WorkDirInUseError naming the owner; the owner's exit releases the lock", async () => {
  const dir = tempDir("lock-a");
  const h = await holder(dir);
  assert.throws(() => paths.workspace(dir), (e: unknown) => {
    assert.ok(e instanceof lock.WorkDirInUseError);
    assert.equal(e.owner.pid, h.child.pid);
    assert.match(e.message, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by pid ${h.child.pid} \\(notebook holder-test, started \\d{4}-\\d\\d-\\d\\dT[^)]+\\): wait for it or use another workDir$`));
    return true;
  });
  assert.equal(lock.lockOwner(dir)?.pid, h.child.pid);
  // reading a layout takes no lock
  assert.equal(paths.workspace(dir, { lock: false }).dir, dir);
  h.child.kill("SIGTERM"); // dies of it: the lock is released on the way out (processes.ts atExit)
  await h.exited;
  assert.equal(fs.existsSync(lockFile(dir)), false);
  assert.equal(paths.workspace(dir).dir, dir);
  assert.equal(paths.workspace(dir).dir, dir, "taking it again in the same process is a no-op");
  assert.equal(JSON.parse(fs.readFileSync(lockFile(dir), "utf8")).pid, process.pid);
});

test("a stale lock (owner killed with SIGKILL) is taken over; a reused pid does not count as the owner", async () => {
  const dir = tempDir("lock-b");
  const h = await holder(dir);
  h.child.kill("SIGKILL");
  await h.exited;
  assert.equal(JSON.parse(fs.readFileSync(lockFile(dir), "utf8")).pid, h.child.pid, "nothing ran: the lock is left");
  assert.equal(lock.lockOwner(dir), null, "but it is stale");
  paths.workspace(dir);
  assert.equal(JSON.parse(fs.readFileSync(lockFile(dir), "utf8")).pid, process.pid);

  // A lock whose pid is alive but belongs to another process now (pid reuse): its start time differs.
  const reused = tempDir("lock-c");
  const fake: lock.LockOwner = { pid: process.ppid, host: os.hostname(), started: "2020-01-01T00:00:00.000Z", startTime: 1, what: "an old run", runId: null, members: [] };
  fs.writeFileSync(lockFile(reused), JSON.stringify(fake));
  assert.equal(paths.workspace(reused).dir, reused);
  assert.equal(JSON.parse(fs.readFileSync(lockFile(reused), "utf8")).pid, process.pid);

  // A lock from another host cannot be checked: it holds, and the message says how to clear it.
  const remote = tempDir("lock-d");
  fs.writeFileSync(lockFile(remote), JSON.stringify({ ...fake, host: "elsewhere", startTime: null }));
  assert.throws(() => paths.workspace(remote), /in use by pid \d+ on host elsewhere \(it cannot be checked from here: if that run is gone, delete .*\.lock\)/);
});

test("a job the owner started keeps the folder locked after the owner died, until the job ends too", async () => {
  const dir = tempDir("lock-e");
  const h = await holder(dir, { job: true });
  assert.ok(h.job);
  h.child.kill("SIGKILL");
  await h.exited;
  assert.throws(() => paths.workspace(dir), new RegExp(`its process has ended, but job\\(s\\) it started are still running: pid ${h.job}`));
  process.kill(h.job!, "SIGKILL");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(paths.workspace(dir).dir, dir);
});

test("steps lock apart: another step's kernel may open the folder, a second kernel of the same step may not, a whole-folder run excludes both", async () => {
  const dir = tempDir("lock-steps");
  const h = await holder(dir, { step: "train" });
  assert.equal(lock.lockOwner(dir, "train")?.pid, h.child.pid);
  assert.equal(lock.lockOwner(dir), null, "a step does not take the whole folder's lock");
  assert.equal(paths.workspace(dir, { step: "label" }).dir, dir, "notebook 1 next to notebook 2");
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, ".lock-label"), "utf8")).pid, process.pid);
  assert.throws(() => paths.workspace(dir, { step: "train" }), (e: unknown) => {
    assert.ok(e instanceof lock.WorkDirInUseError);
    assert.equal(e.owner.pid, h.child.pid);
    assert.match(e.message, new RegExp(`\\(step train\\) is in use by pid ${h.child.pid} \\(notebook holder-test`));
    return true;
  });
  assert.throws(() => paths.workspace(dir), new RegExp(`\\(step train\\) is in use by pid ${h.child.pid}`), "a script locking the whole folder waits for every step");
  assert.equal(fs.existsSync(lockFile(dir)), false, "the refused whole-folder lock was given back");
  h.child.kill("SIGTERM");
  await h.exited;
  assert.equal(fs.existsSync(path.join(dir, ".lock-train")), false);

  const whole = tempDir("lock-steps-whole");
  const w = await holder(whole);
  assert.throws(() => paths.workspace(whole, { step: "infer" }), new RegExp(`is in use by pid ${w.child.pid} \\(notebook holder-test`));
  assert.equal(fs.existsSync(path.join(whole, ".lock-infer")), false, "the refused step lock was given back");
  w.child.kill("SIGTERM");
  await w.exited;
  assert.equal(paths.workspace(whole, { step: "infer" }).dir, whole);
  assert.throws(() => paths.workspace(whole, { step: "Bad Step" }), /a work folder step is lower-case letters, digits and dashes, got "Bad Step"/);
});
