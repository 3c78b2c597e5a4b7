// Stored XSS: records whose titles try to break out of an attribute (the clipped cell's title="..."), out of an
// element, or start a script go through a real notebook run (tests/fixtures/notebooks/hostile.ipynb: tables, a
// DataFrame, JSON, a note, a chart, a headline), a run page and the runs table over its run.json; headless Chromium
// opens each, the mouse passes over every cell, and no dialog may open and no element may carry an event handler
// attribute.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { paths, report } from "@distill/lib";
import { chromiumPath, runCli, tempDir } from "../support/notebooks";

const executablePath = chromiumPath();

const ATTRIBUTE = `x" onmouseover="alert('attribute')" style="position:fixed;top:0;left:0;width:100%;height:100%;display:block" data-x="`;
const ELEMENT = `<img src=x onerror="alert('element')">`;
const SCRIPT = `'><script>alert('script')</script><b x='`;

test("hostile record titles show as text in a report and its index page: no dialog, no handler attribute", { skip: executablePath ? false : "no Chromium found (install Debian's `chromium`, or set CHROMIUM_PATH); .ci/run installs it" }, async () => {
  const { chromium } = await import("playwright-core");
  const out = tempDir("xss");
  const corpus = path.join(out, "hostile.jsonl");
  const records = [ATTRIBUTE, ELEMENT, SCRIPT].map((title, i) => ({ id: `r${i}`, title, group: `${SCRIPT} book ${i}`, text: `${title} ${ELEMENT} ${"long text ".repeat(10)}` }));
  fs.writeFileSync(corpus, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const r = runCli("notebook", [path.join(paths.root, "tests/fixtures/notebooks/hostile.ipynb"), "-p", `corpus=${corpus}`, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const reportHtml = path.join(out, "hostile.html");
  const run = JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8")) as { headline: report.Headline[] };
  assert.ok([ATTRIBUTE, ELEMENT, SCRIPT].includes(run.headline[0].label), "the headline carries a hostile title");
  // The run page and the runs table show text from run.json: the run's id, its teacher, a parameter, a failure.
  const record = JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8")) as report.RunJson;
  const hostileRun = path.join(out, "runs", "hostile-run");
  fs.mkdirSync(path.join(hostileRun, "hostile"), { recursive: true });
  fs.writeFileSync(path.join(hostileRun, "hostile", "run.json"), JSON.stringify({ ...record, ok: false, error: { index: 1, text: SCRIPT }, parameters: { ...record.parameters, greeting: ATTRIBUTE }, results: { label: { teacher: ELEMENT } } }));
  const runPage = report.writeRunPage(hostileRun, `${ELEMENT} ${SCRIPT}`).file;
  const runsPage = report.writeRunsPage(path.join(out, "runs"));

  const browser = await chromium.launch({ executablePath: executablePath!, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"] });
  try {
    for (const file of [reportHtml, runPage, runsPage]) {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const dialogs: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.route("**/*", (route) => (route.request().url().startsWith("file:") ? route.continue() : route.abort()));
      await page.goto(`file://${file}`);
      if (file === reportHtml) await page.waitForSelector(".distill-plot .main-svg", { timeout: 30_000 });
      // Pass the mouse over every table cell, link and heading (a hijacked attribute would fire here).
      for (const el of await page.locator("td, th, caption, a, li, h1, h2, p, summary").all()) {
        if (await el.isVisible()) await el.hover({ force: true, timeout: 2000 }).catch(() => undefined);
      }
      await page.mouse.move(5, 5);
      await page.mouse.move(600, 450);
      // (page code as a string: these tests compile without the DOM types)
      const handlers = (await page.evaluate(
        `[...document.querySelectorAll("*")].flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => el.tagName + "[" + a.name + "]"))`,
      )) as string[];
      assert.deepEqual(handlers, [], `${path.basename(file)}: elements with event handler attributes`);
      assert.deepEqual(dialogs, [], `${path.basename(file)}: dialogs opened`);
      const text = (await page.evaluate("document.body.innerText")) as string;
      for (const payload of file === reportHtml ? [ATTRIBUTE, ELEMENT, SCRIPT] : [ELEMENT]) assert.ok(text.includes(payload.slice(0, 30)), `${path.basename(file)} shows ${payload} as text`);
      if (file === reportHtml) {
        // The clipped cell keeps the whole text in its tooltip, as text.
        const titles = await page.locator("td[title]").evaluateAll((els) => els.map((e) => e.getAttribute("title")));
        assert.ok(titles.some((t) => t?.startsWith(ATTRIBUTE)), `a clipped cell's title holds the full text: ${JSON.stringify(titles.slice(0, 3))}`);
      }
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
