// What a notebook reports about itself. Each notebook records its key numbers here; the runner puts them into
// run.json (`headline` for people, `results` for machines), and `npm start` builds its index page from them.
// Inside a runner-driven kernel DISTILL_RESULTS_FILE names the file; interactively (JupyterLab) the numbers go to
// work/results/<notebook>.json so a later notebook or a person can still find them.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";

export interface Headline { label: string; value: string | number; unit?: string }
interface ResultsFile { headline: Headline[]; results: Record<string, unknown> }

export function resultsFile(notebook = process.env.DISTILL_NOTEBOOK ?? "interactive"): string {
  return process.env.DISTILL_RESULTS_FILE ?? path.join(paths.workDir, "results", `${notebook}.json`);
}

function read(file: string): ResultsFile {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as ResultsFile;
  } catch {
    return { headline: [], results: {} };
  }
}

function write(file: string, data: ResultsFile): void {
  paths.ensureDir(path.dirname(file));
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
}

/** Record machine-readable results under a key (merged with what the notebook recorded before). */
export function results(key: string, value: unknown, file = resultsFile()): void {
  const data = read(file);
  data.results[key] = value;
  write(file, data);
}

/** Record one headline number (replaces an earlier one with the same label). */
export function headline(label: string, value: string | number, unit?: string, file = resultsFile()): void {
  const data = read(file);
  data.headline = data.headline.filter((h) => h.label !== label).concat([{ label, value, ...(unit ? { unit } : {}) }]);
  write(file, data);
}

export function readResults(file = resultsFile()): ResultsFile {
  return read(file);
}

export function formatHeadline(h: Headline): string {
  const v = typeof h.value === "number" ? (Number.isInteger(h.value) ? h.value.toLocaleString("en-US") : h.value.toPrecision(4)) : h.value;
  return `${h.label}: ${v}${h.unit ? ` ${h.unit}` : ""}`;
}
