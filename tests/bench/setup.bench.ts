// Setup from a fresh clone (cold) and when already set up (warm), and kernel start + a trivial notebook, with the
// peak memory of each (max RSS of the largest process, from /usr/bin/time). Goal: warm setup under 5 s.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { paths } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

function timed(cmd: string[], cwd: string): { seconds: number; peakMiB: number | null; ok: boolean } {
  const timeFile = path.join(os.tmpdir(), `distill-time-${process.pid}`);
  const hasTime = fs.existsSync("/usr/bin/time");
  const argv = hasTime ? ["/usr/bin/time", "-f", "%e %M", "-o", timeFile, ...cmd] : cmd;
  const t0 = Date.now();
  const r = spawnSync(argv[0], argv.slice(1), { cwd, stdio: ["ignore", "ignore", "inherit"] });
  const seconds = (Date.now() - t0) / 1000;
  let peakMiB: number | null = null;
  if (hasTime && fs.existsSync(timeFile)) {
    const [, kb] = fs.readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ");
    peakMiB = Math.round(Number(kb) / 1024);
  }
  return { seconds, peakMiB, ok: r.status === 0 };
}

const clone = fs.mkdtempSync(path.join(os.tmpdir(), "distill-bench-clone-"));
spawnSync("git", ["clone", "-q", paths.root, clone], { stdio: "inherit" });
const cold = timed([process.execPath, "scripts/setup.mjs", "--quiet"], clone);
const warm = timed([process.execPath, "scripts/setup.mjs", "--quiet"], clone);
const notebook = timed([process.execPath, "lib/dist/cli/notebook.js", "tests/fixtures/notebooks/smoke.ipynb", "--out", path.join(clone, "reports", "bench")], clone);
const record = JSON.parse(fs.readFileSync(path.join(clone, "reports", "bench", "run.json"), "utf8")) as { kernelSeconds: number };
fs.rmSync(clone, { recursive: true, force: true });

const metrics: BenchMetric[] = [
  { name: "setup, fresh clone (cold)", value: cold.seconds, unit: "s", note: cold.ok ? "npm install + venv + pip (PyPI cache warm on this machine)" : "FAILED" },
  { name: "setup, fresh clone peak memory", value: cold.peakMiB, unit: "MiB" },
  { name: "setup, already set up (warm)", value: warm.seconds, unit: "s", goal: "< 5 s", met: warm.ok && warm.seconds < 5 },
  { name: "setup, warm peak memory", value: warm.peakMiB, unit: "MiB" },
  { name: "kernel start", value: record.kernelSeconds, unit: "s" },
  { name: "runner: kernel + 4-cell notebook + HTML export", value: notebook.seconds, unit: "s", note: notebook.ok ? "" : "FAILED" },
  { name: "runner peak memory", value: notebook.peakMiB, unit: "MiB" },
];
writeBenchResult("setup", metrics);
