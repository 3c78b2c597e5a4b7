// The run pages on disk: find the runs under reports/ (each a folder of run.json files, one per notebook), write each
// run's index.html and the side-by-side reports/index.html. `npm start` writes both at the end of a run;
// `npm run reports` rebuilds every one of them from the run.json files at any time.
import * as fs from "node:fs";
import * as path from "node:path";
import { runPageHtml } from "./run-page";
import { summarizeRun, type RunFile, type RunJson, type RunSummary } from "./run-summary";
import { runsPageHtml } from "./runs-page";

export interface RunFolder { runId: string; dir: string; files: RunFile[] }

function readJson(file: string): RunJson | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as RunJson) : null;
  } catch {
    return null; // a run.json being written, or not ours: the run is shown without it
  }
}

/** The run.json files of one run: <dir>/run.json (`npm run notebook --out`) and <dir>/<notebook>/run.json (`npm start`). */
export function readRunFolder(dir: string): RunFile[] {
  const candidates = ["run.json", ...(fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []).filter((d) => d.isDirectory()).map((d) => `${d.name}/run.json`).sort()];
  return candidates.flatMap((rel) => {
    const file = path.join(dir, rel);
    const record = fs.existsSync(file) ? readJson(file) : null;
    return record ? [{ path: rel, record }] : [];
  });
}

/** Every run under a reports folder (a direct subfolder holding run.json files). */
export function findRuns(reportsDir: string): RunFolder[] {
  if (!fs.existsSync(reportsDir)) return [];
  return fs
    .readdirSync(reportsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => ({ runId: d.name, dir: path.join(reportsDir, d.name), files: readRunFolder(path.join(reportsDir, d.name)) }))
    .filter((r) => r.files.length > 0)
    .sort((a, b) => a.runId.localeCompare(b.runId));
}

/** Write <run>/index.html; returns its path and the summary it shows. */
export function writeRunPage(dir: string, runId = path.basename(dir)): { file: string; summary: RunSummary } {
  const files = readRunFolder(dir);
  const file = path.join(dir, "index.html");
  fs.writeFileSync(file, runPageHtml(runId, files));
  return { file, summary: summarizeRun(runId, files) };
}

/** Write <reports>/index.html over every run found there. */
export function writeRunsPage(reportsDir: string): string {
  const file = path.join(reportsDir, "index.html");
  fs.writeFileSync(file, runsPageHtml(findRuns(reportsDir).map((r) => summarizeRun(r.runId, r.files))));
  return file;
}

/** Rebuild every run page and the runs table. */
export function rebuildReports(reportsDir: string): { runPages: string[]; index: string } {
  const runPages = findRuns(reportsDir).map((r) => writeRunPage(r.dir, r.runId).file);
  return { runPages, index: writeRunsPage(reportsDir) };
}
