// Figures as mime bundles (plotly JSON + HTML fallback), axis titles kept inside the box, wide tables scrolled in
// their own box, and a clear error for a trace type the bundled plotly.js cannot draw.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { paths, plots } from "@distill/lib";

test("a figure's bundle: the figure JSON, an HTML fallback drawing the same JSON, and a text line", () => {
  const fig = plots.heatmap([[1, 2], [3, 4]], ["a", "b"], ["c", "d"], { title: "confusion", xTitle: "student", yTitle: "teacher" });
  const bundle = plots.figureBundle(fig, "distill-plot-7");
  const spec = bundle[plots.PLOTLY_MIME] as { data: unknown[]; layout: { xaxis: { automargin: boolean; title: unknown }; yaxis: { automargin: boolean; autorange: string } }; config: { responsive: boolean } };
  assert.deepEqual(spec.data, fig.data);
  assert.equal(spec.layout.xaxis.automargin, true, "axis titles and tick labels grow the margins");
  assert.equal(spec.layout.yaxis.automargin, true);
  assert.equal(spec.layout.yaxis.autorange, "reversed", "the figure's own axis settings stay");
  assert.equal(spec.config.responsive, true);
  const html = String(bundle["text/html"]);
  assert.match(html, /<div id="distill-plot-7" class="distill-plot" style="width:100%;height:320px">/);
  assert.ok(html.includes(JSON.stringify(spec)), "the fallback draws the same JSON");
  assert.equal(bundle["text/plain"], "<Figure: confusion>");
});

test("a trace type outside the bundled plotly.js is refused with the list of those it draws", () => {
  assert.throws(() => plots.figureSpec({ data: [{ type: "scatter3d", x: [1], y: [1], z: [1] }] }), /trace type scatter3d is not in the bundled plotly\.js \(plotly\.js-cartesian-dist-min\); use one of bar, box/);
  const lib = fs.readFileSync(paths.plotlyJs(), "utf8");
  const registered = [...new Set([...lib.matchAll(/moduleType:"trace",name:"(\w+)"/g)].map((m) => m[1]))].sort();
  assert.deepEqual(registered, [...plots.TRACE_TYPES].sort(), "TRACE_TYPES is what the bundle registers");
});

test("tables scroll inside their own box; long JSON wraps", () => {
  const html = plots.tableHtml([{ a: "x".repeat(500), b: 1 }]);
  assert.match(html, /^<div class="distill-table-wrap" style="overflow-x:auto;max-width:100%"><table/);
  assert.match(html, /<\/table><\/div>$/);
});
