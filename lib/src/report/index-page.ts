// reports/<run-id>/index.html, which `npm start` writes: a link to each notebook's report with its headline numbers.
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeHtml } from "../html";
import { formatHeadline, type Headline } from "./results";


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
