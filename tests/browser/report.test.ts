// Opens what a run leaves behind in headless Chromium (Debian's, through playwright-core: never a browser download)
// at 1300x900, offline: the four notebook reports and the run page of a real pipeline run (`npm start` on the test
// profile: the OpenAI-protocol test server as the teacher, a tiny random Llama as the student), a run page with every
// results key of RESULTS-CONTRACT.md, and the runs table. Each page: figures drawn, nothing wider than the window,
// every figure's titles inside its box, no console error, no request leaving the file.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { paths } from "@distill/lib";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai";
import { CHROMIUM_ARGS, layoutProblems, openOffline, waitForFigures } from "../support/layout";
import { chromiumPath, cli, runCli, tempDir } from "../support/notebooks";
import { contractRun } from "../support/run-records";

const executablePath = chromiumPath();
const skip = executablePath ? false : "no Chromium found (install Debian's `chromium`, or set CHROMIUM_PATH); .ci/run installs it";
let browser: Browser;

before(async () => {
  if (skip) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: executablePath!, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
});

/** Open a page offline and assert it is laid out right; returns the number of figures drawn. */
async function checkPage(file: string, screenshot?: string): Promise<number> {
  const { page, errors, requests } = await openOffline(browser, file);
  try {
    const figures = await waitForFigures(page);
    assert.deepEqual(await layoutProblems(page), [], `${file} is laid out wrong`);
    assert.deepEqual(errors, [], `${file} raised errors`);
    assert.deepEqual(requests, [], `${file} made requests`);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    return figures;
  } finally {
    await page.close();
  }
}

test("an exported report renders its charts offline", { skip }, async () => {
  const out = tempDir("browser");
  const r = runCli("notebook", [path.join(paths.root, "tests/fixtures/notebooks/smoke.ipynb"), "-p", "count=5", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const shot = path.join(out, "screenshot.png");
  assert.equal(await checkPage(path.join(out, "smoke.html"), shot), 1);
  const { page } = await openOffline(browser, path.join(out, "smoke.html"));
  await waitForFigures(page);
  assert.equal(await page.locator(".distill-plot .bars .point").count(), 5, "one bar per item");
  await page.close();
  assert.ok(fs.statSync(shot).size > 10_000);
});

test("npm start: four notebook reports, the run page and the runs table lay out at 1300x900 offline", { skip, timeout: 20 * 60_000 }, async () => {
  const server: FakeOpenAI = await startFakeOpenAI({ delayMs: 2 });
  const reports = tempDir("browser-reports");
  const tiny = path.join(tempDir("browser-tiny"), "model");
  const made = spawnSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { encoding: "utf8" });
  assert.equal(made.status, 0, made.stderr);
  // `npm start` (after setup) on the test profile, -p for what the test swaps in; spawned, not spawnSync: the test
  // server answers from this process.
  const args = ["--profile", "test", "--out", reports, "-p", `workDir=${tempDir("browser-work")}`, "-p", `baseModel=${tiny}`, "-p", "teacherProvider=openai", "-p", "teacherModel=gpt-4o-mini"];
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli("start"), ...args], { cwd: paths.root, env: { ...process.env, OPENAI_API_KEY: "fake-openai-key-BROWSER-0123456789", OPENAI_BASE_URL: server.url } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  await server.stop();
  assert.equal(run.code, 0, run.stderr.slice(-3000));
  // It ends with the run page's path and the verdict line.
  const m = /Run page: (.+)\nVerdict: (learned|no better than the keyword rule|at chance|not measured)\. .+\n$/.exec(run.stdout);
  assert.ok(m, run.stdout);
  const runPage = m[1];
  const runDir = path.dirname(runPage);
  const notebooks = ["1-label", "2-fine-tune", "3-inference", "4-cost"].map((n) => path.join(runDir, n, `${n}.html`));
  for (const f of notebooks) assert.ok(fs.existsSync(f), f);

  // A second run, with every contract key, so the runs table has two rows to compare.
  for (const f of contractRun({ runId: "20990101-000000", changed: { sampleSize: 300 } })) {
    fs.mkdirSync(path.join(reports, "20990101-000000", path.dirname(f.path)), { recursive: true });
    fs.writeFileSync(path.join(reports, "20990101-000000", f.path), JSON.stringify(f.record));
  }
  const rebuilt = runCli("reports", [reports]);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);

  const drawn: Record<string, number> = {};
  for (const f of [...notebooks, runPage, path.join(reports, "20990101-000000", "index.html"), path.join(reports, "index.html")]) {
    drawn[path.relative(reports, f)] = await checkPage(f, f.replace(/\.html$/, ".png"));
  }
  for (const n of ["1-label", "2-fine-tune", "3-inference", "4-cost"]) assert.ok(drawn[path.relative(reports, path.join(runDir, n, `${n}.html`))] >= 1, `${n} draws its figures: ${JSON.stringify(drawn)}`);
  assert.equal(drawn[path.relative(reports, runPage)], 2, "the run page: kappa per field and cost per corpus");

  // The runs table: sorting by a column and picking another pair redraw the page in place.
  const { page, errors } = await openOffline(browser, path.join(reports, "index.html"));
  assert.match((await page.locator("#compare-view").textContent()) ?? "", /sampleSize/);
  await page.locator("th", { hasText: "mean κ" }).click();
  await page.locator("th", { hasText: "mean κ" }).click();
  assert.equal(await page.locator("#runs tbody tr").count(), 2);
  await page.locator("input.pick").first().uncheck();
  assert.match((await page.locator("#compare-view").textContent()) ?? "", /Tick two runs/);
  await page.locator("input.pick").first().check();
  assert.match((await page.locator("#compare-view").textContent()) ?? "", /Per-field kappa/);
  assert.deepEqual(errors, []);
  await page.close();
});
