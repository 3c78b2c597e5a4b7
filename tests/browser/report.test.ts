// Opens an exported report in headless Chromium (Debian's, through playwright-core: never a browser download) and
// checks that the charts drew offline: plotly's SVG is present, and the page raised no error.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { paths } from "@distill/lib";
import { chromiumPath, runCli, tempDir } from "../support/notebooks";

const executablePath = chromiumPath();

test("an exported report renders its charts offline in headless Chromium", { skip: executablePath ? false : "no Chromium found (install Debian's `chromium`, or set CHROMIUM_PATH); .ci/run installs it" }, async () => {
  const { chromium } = await import("playwright-core");
  const out = tempDir("browser");
  const r = runCli("notebook", [path.join(paths.root, "tests/fixtures/notebooks/smoke.ipynb"), "-p", "count=5", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const browser = await chromium.launch({
    executablePath: executablePath!,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // Offline for real: every request that is not the file itself is refused.
    await page.route("**/*", (route) => (route.request().url().startsWith("file:") ? route.continue() : route.abort()));
    await page.goto(`file://${path.join(out, "smoke.html")}`);
    await page.waitForSelector(".distill-plot .main-svg", { timeout: 30_000 });
    const bars = await page.locator(".distill-plot .bars .point").count();
    assert.equal(bars, 5, "one bar per item");
    assert.deepEqual(errors, []);
    const shot = path.join(out, "screenshot.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000);
  } finally {
    await browser.close();
  }
});
