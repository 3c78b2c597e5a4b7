// What a notebook reports about itself. Each notebook records its key numbers here; the runner puts them into
// run.json (`headline` for people, `results` for machines), and `npm start` builds its index page from them.
// Inside a runner-driven kernel DISTILL_RESULTS_FILE names the file; interactively (JupyterLab) the numbers go to
// work/results/<notebook>.json so a later notebook or a person can still find them.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "./paths";

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

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** reports/<run-id>/index.html: links to each notebook's report with its headline numbers. */
export function writeIndex(outDir: string, runs: { name: string; html: string; ok: boolean; seconds: number; headline: Headline[] }[], title = "distill-notebooks report"): string {
  const rows = runs
    .map((r) => {
      const link = path.relative(outDir, r.html);
      const items = r.headline.map((h) => `<li>${escapeHtml(formatHeadline(h))}</li>`).join("");
      return `<section><h2><a href="${escapeHtml(link)}">${escapeHtml(r.name)}</a> ${r.ok ? "" : '<span class="failed">failed</span>'}</h2><p class="meta">${r.seconds.toFixed(1)} s</p><ul>${items}</ul></section>`;
    })
    .join("\n");
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;padding:0 1em}section{border-bottom:1px solid #ddd;padding:.5em 0}.meta{color:#666;margin:0}.failed{color:#b00;font-size:.7em}</style>
</head><body><h1>${escapeHtml(title)}</h1>\n${rows}\n</body></html>\n`;
  const file = path.join(outDir, "index.html");
  fs.writeFileSync(file, html);
  return file;
}
