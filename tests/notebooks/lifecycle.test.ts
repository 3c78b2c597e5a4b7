// A run's processes live and die with its runner, and one run at a time writes a work folder. The fixture notebook
// (tests/fixtures/notebooks/long-job.ipynb) opens a work folder and trains the tiny model for 100,000 steps; each test
// kills one process of the tree with SIGKILL (no handler runs) and then looks through /proc for any process left
// that carries the run's marker in its environment (runner, executor, kernel, training job all inherit it).
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import { paths } from "@distill/lib";
import { cli, tempDir } from "../support/notebooks";

const fixture = path.join(paths.root, "tests", "fixtures", "notebooks", "long-job.ipynb");
const MARKER = "DISTILL_TEST_MARKER";
let tiny: string;
let trainFile: string;

before(() => {
  const dir = tempDir("lifecycle");
  tiny = path.join(dir, "tiny");
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { stdio: ["ignore", "pipe", "pipe"] });
  trainFile = path.join(dir, "train.jsonl");
  const lines = Array.from({ length: 40 }, (_, i) => {
    const labels = { has_non_fish_meat: i % 3 === 0, requires_oven: i % 2 === 0, requires_stove: i % 5 < 2, cook_time_over_30_mins: i % 4 < 2, main_dish: true };
    return JSON.stringify({ messages: [{ role: "user", content: `Dish ${i}\n\nIngredients:\n- flour\n- ${labels.has_non_fish_meat ? "bacon" : "cod"}` }, { role: "assistant", content: JSON.stringify(labels) }] });
  });
  fs.writeFileSync(trainFile, lines.join("\n") + "\n");
});

/** Live processes whose environment carries this marker: pid and command line. */
function marked(marker: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!fs.readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`${MARKER}=${marker}`)) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue; // exited, not yet reaped
      found.push({ pid: Number(entry), cmd: fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim() });
    } catch {
      // gone while we looked, or not ours to read
    }
  }
  return found;
}

async function waitFor<T>(check: () => T | null | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Run { child: ChildProcess; marker: string; work: string; stderr: () => string; exit: Promise<number | null> }

/** Start the long-job notebook through `npm run notebook` or the runner itself, and wait until it trains. */
async function startRun(how: "npm" | "node", work: string, extra: string[] = []): Promise<Run> {
  const marker = randomUUID();
  const args = [fixture, "-p", `workDir=${work}`, "-p", `baseModel=${tiny}`, "-p", `trainFile=${trainFile}`, "--out", tempDir("lifecycle-out"), ...extra];
  const [cmd, argv] = how === "npm" ? ["npm", ["run", "--silent", "notebook", "--", ...args]] : [process.execPath, [cli("notebook"), ...args]];
  const child = spawn(cmd, argv, { cwd: paths.root, env: { ...process.env, [MARKER]: marker, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, marker, work, stderr: () => stderr, exit };
}

async function waitForTraining(run: Run): Promise<void> {
  const checkpoints = path.join(run.work, "student", "checkpoints");
  await waitFor(() => fs.existsSync(checkpoints) && fs.readdirSync(checkpoints).some((d) => d.startsWith("step-")), 240_000, `the training job of ${run.work} to write a checkpoint; stderr: ${run.stderr()}`);
}

/** SIGKILL one process of the run; then nothing of the run may be left within `ms`, and its checkpoints stay put. */
async function killAndExpectNothingLeft(run: Run, victim: number, ms = 20_000): Promise<void> {
  const before = marked(run.marker);
  for (const part of ["distill_runtime.nbexec", "tslab kernel", "distill_runtime train"]) {
    assert.ok(before.some((p) => p.cmd.includes(part)), `${part} runs before the kill: ${JSON.stringify(before)}`);
  }
  process.kill(victim, "SIGKILL");
  const t0 = Date.now();
  await waitFor(() => marked(run.marker).length === 0, ms, `every process of the run to end; left: ${JSON.stringify(marked(run.marker))}`);
  const seconds = (Date.now() - t0) / 1000;
  const checkpoints = path.join(run.work, "student", "checkpoints");
  const snapshot = fs.readdirSync(checkpoints).sort();
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(fs.readdirSync(checkpoints).sort(), snapshot, "no orphan writes checkpoints after the kill");
  process.stderr.write(`# everything gone ${seconds.toFixed(1)} s after the kill\n`);
}

test("kill -9 of `npm run notebook` ends the runner, the executor, the kernel and the training job", async () => {
  const run = await startRun("npm", tempDir("lifecycle-npm"));
  await waitForTraining(run);
  await killAndExpectNothingLeft(run, run.child.pid!);
});

test("kill -9 of the executor (nbexec) ends the kernel and its job; the runner says what happened", async () => {
  const run = await startRun("node", tempDir("lifecycle-exec"));
  await waitForTraining(run);
  const executor = marked(run.marker).find((p) => p.cmd.includes("distill_runtime.nbexec"))!;
  await killAndExpectNothingLeft(run, executor.pid);
  assert.equal(await run.exit, 1);
  assert.match(run.stderr(), /the notebook executor was killed by SIGKILL before reporting/);
});

test("one run per work folder: a second run stops with the owner's pid; a killed owner's lock is taken over", async () => {
  const work = tempDir("lifecycle-lock");
  const first = await startRun("node", work);
  await waitForTraining(first);
  const kernel = marked(first.marker).find((p) => p.cmd.includes("tslab kernel"))!;

  const second = await startRun("node", work);
  assert.equal(await second.exit, 1, second.stderr());
  const label = work; // outside the project root, the folder is named by its absolute path
  assert.match(second.stderr(), new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by pid ${kernel.pid} \\(notebook long-job, run \\d{8}-\\d{6}, started [^)]+\\): wait for it or use another workDir`));
  assert.equal(marked(second.marker).length, 0, "the refused run left nothing behind");

  // kill -9 of the runner: its executor gets SIGTERM from Linux (PR_SET_PDEATHSIG) and takes the kernel and job along
  await killAndExpectNothingLeft(first, first.child.pid!);
  assert.equal(JSON.parse(fs.readFileSync(path.join(work, ".lock"), "utf8")).pid, kernel.pid, "the dead owner's lock is still there");

  // A stale lock (owner and its jobs dead) is taken over; resume continues the interrupted training, time adding up.
  const third = await startRun("node", work, ["-p", "maxSteps=3", "-p", "resume=true"]);
  assert.equal(await third.exit, 0, third.stderr());
  const record = JSON.parse(fs.readFileSync(path.join(work, "student", "student.json"), "utf8"));
  assert.equal(record.last.status, "done");
  assert.deepEqual(record.last.attempts.map((a: { status: string }) => a.status), ["interrupted", "done"]);
  assert.ok(record.last.seconds > record.last.attempts[1].seconds, "the interrupted attempt's seconds count");
  assert.equal(fs.existsSync(path.join(work, ".lock")), false, "released when the kernel exited");
});
