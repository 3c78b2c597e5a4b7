/// <reference lib="dom" />
// Layout checks for a page open in Chromium (playwright-core): nothing wider than the window, every figure's titles
// inside its box, no console error, no request leaving the file. Used by the browser tests.
import type { Browser, Page } from "playwright-core";

export const VIEWPORT = { width: 1300, height: 900 };
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"];

export interface OpenedPage { page: Page; errors: string[]; requests: string[] }

/** Open a local file offline: every request other than the file itself is recorded and refused. */
export async function openOffline(browser: Browser, file: string): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport: VIEWPORT });
  const errors: string[] = [];
  const requests: string[] = [];
  const url = `file://${file}`;
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console error: ${m.text()}`);
  });
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (u === url || u.startsWith("data:")) return route.continue();
    requests.push(u);
    return route.abort();
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, errors, requests };
}

/** Wait until every figure on the page has drawn (plotly's SVG inside each .distill-plot). */
export async function waitForFigures(page: Page, timeoutMs = 30_000): Promise<number> {
  const n = await page.locator(".distill-plot").count();
  if (n > 0) await page.waitForFunction((count) => document.querySelectorAll(".distill-plot .main-svg").length >= count, n, { timeout: timeoutMs });
  // Plotly's automargin redraws once after the first layout: let it settle.
  await page.waitForTimeout(300);
  return n;
}

/**
 * What is out of place: elements that reach past the window's right edge (unless a scrolling box holds them), and
 * figure titles (axis and main) outside their figure's box. Empty when the layout is right.
 */
export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const width = document.documentElement.clientWidth;
    const describe = (el: Element): string => {
      const cls = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).slice(0, 2).join(".")}` : "";
      return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${cls} "${(el.textContent ?? "").trim().slice(0, 60)}"`;
    };
    if (document.documentElement.scrollWidth > width + 1) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px wide in a ${width} px window`);
    // A box that scrolls or clips its content keeps it inside: only elements not held by such a box count.
    const heldByScroller = (el: Element): boolean => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === "auto" || o === "scroll" || o === "hidden" || o === "clip") return true;
      }
      return false;
    };
    const tooWide: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > width + 1 && !heldByScroller(el)) tooWide.push(`${describe(el)} ends at ${Math.round(r.right)} px`);
    }
    problems.push(...tooWide.slice(0, 10));
    const round = (r: DOMRect): string => `(${Math.round(r.left)},${Math.round(r.top)})-(${Math.round(r.right)},${Math.round(r.bottom)})`;
    document.querySelectorAll(".distill-plot").forEach((plot) => {
      const box = plot.getBoundingClientRect();
      const parts = Array.from(plot.querySelectorAll(".g-xtitle text, .g-ytitle text, .g-gtitle text, .legend .bg"))
        .map((t) => ({ name: t.classList.contains("bg") ? "the legend" : `"${(t.textContent ?? "").slice(0, 40)}"`, r: t.getBoundingClientRect() }))
        .filter((p) => p.r.width > 0);
      for (const p of parts) {
        const inside = p.r.left >= box.left - 1 && p.r.right <= box.right + 1 && p.r.top >= box.top - 1 && p.r.bottom <= box.bottom + 1;
        if (!inside) problems.push(`figure #${plot.id}: ${p.name} outside its box ${round(p.r)} vs ${round(box)}`);
      }
      // Titles and the legend must not cover each other either.
      for (let i = 0; i < parts.length; i++) {
        for (let j = i + 1; j < parts.length; j++) {
          const [a, b] = [parts[i].r, parts[j].r];
          const overlap = Math.min(a.right, b.right) - Math.max(a.left, b.left) > 2 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 2;
          if (overlap) problems.push(`figure #${plot.id}: ${parts[i].name} overlaps ${parts[j].name}`);
        }
      }
    });
    return problems;
  });
}
