// reports/index.html: one row per run, sortable, and the compare view of two runs, whose function the page embeds.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { report } from "@distill/lib";
import { runCli, tempDir } from "../../support/notebooks";
import { contractRun, todayRun } from "../../support/run-records";

test("the compare view lists the parameters that differ and both runs' per-field kappa", () => {
  const a = report.compareRun(report.summarizeRun("a", contractRun({ runId: "a" })));
  const b = report.compareRun(report.summarizeRun("b", contractRun({ runId: "b", changed: { hyperparameters: { max_steps: 40 } }, student: { meanKappa: 0.7, low: 0.6, high: 0.8 } })));
  const html = report.compareHtml(a, b);
  assert.match(html, /<td><code>hyperparameters\.max_steps<\/code><\/td><td>\(default\)<\/td><td>40<\/td>/);
  assert.doesNotMatch(html, /<code>workDir<\/code>/, "equal parameters are not listed");
  assert.match(html, /<td>vegetarian<\/td><td class="n">0\.62 .*?<\/td><td class="n">0\.70 .*?<\/td><td class="n"><span class="up">\+0\.08<\/span>/);
  assert.match(report.compareHtml(a, a), /No parameter differs/);
});

test("the page's copy of the compare function runs on its own (the browser gets only its source)", () => {
  const fn = new Function(`return (${report.compareHtml.toString()})`)() as typeof report.compareHtml;
  const a = report.compareRun(report.summarizeRun("a", contractRun({ runId: "a" })));
  const b = report.compareRun(report.summarizeRun("b", todayRun()));
  assert.equal(fn(a, b), report.compareHtml(a, b));
});

test("runs side by side: newest first, the two newest ticked, sort keys on every cell, rebuilt from run.json", () => {
  const dir = tempDir("runs-page");
  const write = (runId: string, files: report.RunFile[], start: string): void => {
    for (const f of files) {
      f.record.start = start;
      fs.mkdirSync(path.join(dir, runId, path.dirname(f.path)), { recursive: true });
      fs.writeFileSync(path.join(dir, runId, f.path), JSON.stringify(f.record));
    }
  };
  write("20260101-100000", todayRun(), "2026-01-01T10:00:00Z");
  write("20260102-100000", contractRun({ runId: "20260102-100000" }), "2026-01-02T10:00:00Z");
  write("20260103-100000", contractRun({ runId: "20260103-100000", changed: { sampleSize: 300 } }), "2026-01-03T10:00:00Z");
  fs.mkdirSync(path.join(dir, "not-a-run"));
  const r = report.rebuildReports(dir);
  assert.equal(r.runPages.length, 3);
  for (const p of r.runPages) assert.match(fs.readFileSync(p, "utf8"), /id="verdict"/);
  const html = fs.readFileSync(r.index, "utf8");
  const ids = [...html.matchAll(/<a href="([^"/]+)\/index.html">/g)].map((m) => m[1]);
  assert.deepEqual(ids, ["20260103-100000", "20260102-100000", "20260101-100000"]);
  assert.equal((html.match(/class="pick"[^>]* checked/g) ?? []).length, 2);
  assert.match(html, /sampleSize=300/);
  assert.match(html, /<td class="n" data-v="0.62">0.62<\/td>/);
  assert.match(html, /id="compare-view"><div class="grid">.*<code>sampleSize<\/code><\/td><td>100<\/td><td>300<\/td>/s);
  const data = JSON.parse(/<script type="application\/json" id="runs-data">(.*?)<\/script>/s.exec(html)![1]) as report.CompareRun[];
  assert.deepEqual(data.map((d) => d.runId), ids);
});

test("npm run reports: rebuilds every page, and says what to do without a reports folder", () => {
  const dir = tempDir("reports-cli");
  for (const f of contractRun()) {
    fs.mkdirSync(path.join(dir, "run-a", path.dirname(f.path)), { recursive: true });
    fs.writeFileSync(path.join(dir, "run-a", f.path), JSON.stringify(f.record));
  }
  const ok = runCli("reports", [dir]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /1 run page\(s\) rebuilt/);
  assert.ok(fs.existsSync(path.join(dir, "run-a", "index.html")) && fs.existsSync(path.join(dir, "index.html")));
  const missing = runCli("reports", [path.join(dir, "nope")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no reports folder at .*nope: run `npm start` first/);
});
