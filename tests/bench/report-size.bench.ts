// How heavy a default run's reports are: the size of reports/<run-id>/ for the latest complete `npm start` run on
// the default profile made from this commit (it runs one first when there is none, 10-30 minutes of CPU), per notebook report (.html,
// .ipynb) and run page, and how many copies of plotly.js the folder carries. Goal: <= 12 MB for the whole run.
// REPORT_RUN=<dir> measures that run folder instead.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { paths, report } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const PIPELINE = ["1-label", "2-fine-tune", "3-inference", "4-cost"];
const MB = 1e6;

function complete(dir: string): boolean {
  const files = report.readRunFolder(dir);
  return PIPELINE.every((n) => files.some((f) => f.path === `${n}/run.json` && f.record.ok === true && f.record.profile === "default"));
}

/** The latest complete default run made from the checked-out commit (an older run measures older code). */
function latestDefaultRun(): string | null {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: paths.root, encoding: "utf8" }).stdout.trim();
  const runs = report.findRuns(paths.reportsDir).filter((r) => complete(r.dir) && r.files[0].record.git?.commit === head);
  return runs.length ? runs[runs.length - 1].dir : null;
}

function sizeOf(p: string): number {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((sum, f) => sum + sizeOf(path.join(p, f)), 0);
}

function plotlyCopies(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, f);
    if (/\.(html|ipynb)$/.test(f) && fs.statSync(file).isFile()) n += fs.readFileSync(file, "utf8").split("/*distill:plotly-lib*/").length - 1;
  }
  return n;
}

function main(): void {
  let dir = process.env.REPORT_RUN ? paths.resolve(process.env.REPORT_RUN) : latestDefaultRun();
  if (!dir) {
    console.log("no complete default run of this commit under reports/: running `npm start` once (10-30 minutes)");
    const r = spawnSync(process.execPath, [path.join(paths.root, "lib", "dist", "cli", "start.js")], { cwd: paths.root, stdio: "inherit" });
    if (r.status !== 0) throw new Error("npm start failed");
    dir = latestDefaultRun();
    if (!dir) throw new Error("npm start finished but left no complete default run under reports/");
  }
  const total = sizeOf(dir);
  const record = report.readRunFolder(dir)[0]?.record;
  const metrics: BenchMetric[] = [
    { name: "default run's report folder", value: total / MB, unit: "MB", goal: "<= 12", met: total <= 12 * MB, note: "before issue 14: 41.0 MB (main at 79a72d4, 2026-12-06: a 4.8 MB plotly.js in every .html and again in every .ipynb)" },
    ...PIPELINE.flatMap((n) => [
      { name: `${n}.html`, value: sizeOf(path.join(dir!, n, `${n}.html`)) / MB, unit: "MB" },
      { name: `${n}.ipynb`, value: sizeOf(path.join(dir!, n, `${n}.ipynb`)) / MB, unit: "MB" },
    ]),
    { name: "run page (index.html)", value: sizeOf(path.join(dir, "index.html")) / MB, unit: "MB" },
    { name: "copies of plotly.js in the folder", value: plotlyCopies(dir), unit: "copies", note: "one per self-contained HTML page, none in the .ipynb files" },
  ];
  writeBenchResult("report-size", metrics, { run: path.relative(paths.root, dir), commit: record?.git?.commit ?? null, dirty: record?.git?.dirty ?? null });
}

main();
