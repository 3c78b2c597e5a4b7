// HTML the lib builds as strings: every value escaped for the context it lands in (lib/src/html.ts). The browser
// test (tests/browser/xss.test.ts) opens a whole report built from hostile records; these check the builders one by one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { plots, report } from "@distill/lib";
import * as fs from "node:fs";
import * as path from "node:path";
import { tempDir } from "../../support/notebooks";
import { contractRun } from "../../support/run-records";

const hostile = `x" onmouseover="alert(1)" style="position:fixed" data-x='y' <img src=x onerror=alert(2)> & more`;

/** Attribute values and text of an HTML fragment, parsed the way a browser tokenizes start tags (quoted values). */
function attributes(html: string): { name: string; value: string }[] {
  const found: { name: string; value: string }[] = [];
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) {
    for (const m of tag.matchAll(/\s([a-z-]+)="([^"]*)"/gi)) found.push({ name: m[1].toLowerCase(), value: m[2] });
  }
  return found;
}

test("tableHtml: a clipped cell's tooltip keeps the text inside its title attribute; no handler gets in", () => {
  const html = plots.tableHtml([{ title: hostile.repeat(3), short: hostile }], { maxChars: 20, caption: hostile });
  const attrs = attributes(html);
  assert.deepEqual(attrs.filter((a) => a.name.startsWith("on")), []);
  const title = attrs.find((a) => a.name === "title");
  assert.ok(title, "the clipped cell has a title");
  assert.ok(title.value.includes("&quot; onmouseover=&quot;alert(1)&quot;"), title.value.slice(0, 80));
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /&lt;img src=x onerror=alert\(2\)&gt; &amp; more/);
});

test("noteHtml and the run pages escape text; figure payloads cannot close their script", () => {
  assert.equal(plots.noteHtml(`<b>${hostile}</b>`, { italic: true }).includes("<b>"), false);
  // A run whose run.json carries hostile text wherever the run pages show text from it.
  const files = contractRun({ runId: hostile, changed: { greeting: hostile } });
  files[0].record.results!.label = { teacher: hostile };
  const inf = files[2].record.results!.inference as { perField: { field: string }[]; baselines: { name: string; note?: string }[] };
  inf.perField[0].field = hostile;
  inf.baselines[0].name = hostile;
  inf.baselines[0].note = hostile;
  (files[3].record.results!.cost as { table: { option: string; basisNote?: string }[] }).table[2].option = hostile;
  files.push({ path: `${hostile}/run.json`, record: { notebook: `notebooks/${hostile}.ipynb`, ok: false, error: { index: 1, text: hostile } } });
  const dir = tempDir("run-pages-html");
  for (const f of files) {
    fs.mkdirSync(path.join(dir, "run", path.dirname(f.path)), { recursive: true });
    fs.writeFileSync(path.join(dir, "run", f.path), JSON.stringify(f.record));
  }
  const pages = [report.writeRunPage(path.join(dir, "run"), hostile).file, report.writeRunsPage(dir)].map((f) => fs.readFileSync(f, "utf8"));
  for (const page of pages) {
    assert.deepEqual(attributes(page).filter((a) => a.name.startsWith("on")), []);
    assert.doesNotMatch(page, /<img/);
    assert.match(page, /&lt;img src=x onerror=alert\(2\)&gt; &amp; more/);
  }
  const fig = plots.figureHtml(plots.bar([`</script><script>alert(1)</script>`], [1], { title: hostile }), "distill-plot-1");
  assert.equal(fig.match(/<\/script>/g)?.length, 1, "only the figure's own closing tag");
});
