// Plotly figures (and small HTML tables) shown through tslab. Each figure goes out as one mime bundle: the figure
// JSON (application/vnd.plotly.v1+json: what nbviewer and JupyterLab's plotly renderer draw, and what the runner's
// HTML export draws from) and a light text/html fallback that draws the same JSON with the page's plotly.js. In a live
// kernel the first figure also shows plotly.js once (JupyterLab 4 has no plotly renderer unless jupyterlab-plotly is
// installed, so the fallback needs it); the headless runner drops that copy from the saved .ipynb and inlines the
// library once into the exported HTML instead (python-runtime/distill_runtime/nbexec.py). Div ids count up per kernel
// so the same notebook run twice gives the same output. Outside a kernel (plain node) nothing is shown.
//
// plotly.js is the "cartesian" partial bundle (1.4 MB instead of 4.8 MB: four self-contained reports per run):
// bar, box, contour, heatmap, histogram, histogram2d(contour), image, pie, scatter, scatterternary, violin.
import * as fs from "node:fs";
import { escapeHtml } from "../html";
import { plotlyJs, plotlyPackage } from "../paths";

export interface Figure { data: Record<string, unknown>[]; layout?: Record<string, unknown>; config?: Record<string, unknown> }
type MimeBundle = Record<string, unknown>;
interface DisplayData { data: MimeBundle; metadata: Record<string, unknown>; transient: { display_id?: string } }
interface TslabJupyter { lastWriteDisplayData: ((d: DisplayData, update: boolean) => void) | null }

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** Trace types the bundled plotly.js draws; a figure with another type is refused with a clear error. */
export const TRACE_TYPES = ["bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour", "image", "pie", "scatter", "scatterternary", "violin"];
const PLOTLY_MARK = "/*distill:plotly-lib*/";

let plotlyShown = false;
let nextId = 1;

function jupyter(): TslabJupyter | null {
  try {
    // Loaded lazily: tslab is the kernel. Its public display API sends one mime type per output, so a bundle goes
    // through the writer it uses itself; in plain node the writer is null and nothing is shown.
    return require("tslab/dist/jupyter") as TslabJupyter;
  } catch {
    return null;
  }
}

/** Send one display_data (or update_display_data for a display id shown before). False outside a kernel. */
function emit(data: MimeBundle, displayId?: string, update = false): boolean {
  const write = jupyter()?.lastWriteDisplayData;
  if (!write) return false;
  try {
    write({ data, metadata: {}, transient: displayId ? { display_id: displayId } : {} }, update);
    return true;
  } catch {
    return false;
  }
}

function tryDisplay(html: string): boolean {
  return emit({ "text/html": html });
}

export function plotlyLibHtml(): string {
  const src = fs.readFileSync(plotlyJs(), "utf8");
  return `<script>${PLOTLY_MARK}\n${src.replace(/<\/script/gi, "<\\/script")}\n;(window.__distillPending||[]).splice(0).forEach(function(f){f()});</script>`;
}

const jsonForScript = (v: unknown): string => JSON.stringify(v).replace(/</g, "\\u003c");

/** Axis titles stay inside the figure's box: margins grow to fit tick labels and titles (plotly's automargin). */
function withAutomargin(layout: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...layout };
  for (const axis of ["xaxis", "yaxis"]) out[axis] = { automargin: true, ...(layout[axis] as Record<string, unknown> | undefined) };
  return out;
}

/** The figure as plotly draws it: our layout defaults (responsive, automargin) under the figure's own settings. */
export function figureSpec(fig: Figure): { data: Record<string, unknown>[]; layout: Record<string, unknown>; config: Record<string, unknown> } {
  const unknown = fig.data.map((t) => String(t.type ?? "scatter")).filter((t) => !TRACE_TYPES.includes(t));
  if (unknown.length) {
    throw new Error(`plots: trace type ${[...new Set(unknown)].join(", ")} is not in the bundled plotly.js (${plotlyPackage}); use one of ${TRACE_TYPES.join(", ")}`);
  }
  const layout = withAutomargin({ autosize: true, margin: { t: 48, r: 24, b: 24, l: 24 }, ...fig.layout });
  return { data: fig.data, layout, config: { responsive: true, displaylogo: false, ...fig.config } };
}

export function figureHtml(fig: Figure, id: string): string {
  const spec = figureSpec(fig);
  const height = typeof spec.layout.height === "number" ? spec.layout.height : 420;
  return (
    `<div id="${id}" class="distill-plot" style="width:100%;height:${height}px"></div>` +
    `<script>(function(){var f=${jsonForScript(spec)};function draw(){window.Plotly.react("${id}",f.data,f.layout,f.config)}` +
    `if(window.Plotly){draw()}else{(window.__distillPending=window.__distillPending||[]).push(draw)}})();</script>`
  );
}

/** One figure as a mime bundle: the figure JSON, the HTML fallback, and a line of text for plain frontends. */
export function figureBundle(fig: Figure, id: string): MimeBundle {
  const t = fig.layout?.title as { text?: string } | string | undefined;
  const name = typeof t === "string" ? t : t?.text;
  return { [PLOTLY_MIME]: figureSpec(fig), "text/html": figureHtml(fig, id), "text/plain": `<Figure${name ? `: ${name}` : ""}>` };
}

function ensurePlotly(): void {
  if (plotlyShown) return;
  if (tryDisplay(plotlyLibHtml())) plotlyShown = true;
}

/** Show a figure in the notebook (nothing outside a kernel). Returns nothing, so tslab echoes nothing. */
export function show(fig: Figure): void {
  const bundle = figureBundle(fig, `distill-plot-${nextId++}`);
  ensurePlotly();
  emit(bundle);
}

/** A chart that redraws in place (one output, updated): for live training curves. */
export function live(initial: Figure): { update(fig: Figure): void } {
  figureSpec(initial);
  ensurePlotly();
  const id = `distill-plot-${nextId++}`;
  let shown = false;
  const render = (fig: Figure): void => {
    shown = emit(figureBundle(fig, id), id, shown) || shown;
  };
  render(initial);
  return { update: render };
}

// ---------- figure builders (plain data; notebooks pass them to show) ----------
const title = (text?: string): Record<string, unknown> | undefined => (text ? { text } : undefined);

export function bar(x: (string | number)[], y: number[], o: { title?: string; yTitle?: string; xTitle?: string; errorLow?: number[]; errorHigh?: number[]; yRange?: [number, number]; logY?: boolean; text?: string[] } = {}): Figure {
  const error_y = o.errorLow && o.errorHigh ? { type: "data", symmetric: false, array: o.errorHigh.map((h, i) => h - y[i]), arrayminus: o.errorLow.map((l, i) => y[i] - l) } : undefined;
  return {
    data: [{ type: "bar", x, y, error_y, text: o.text, textposition: o.text ? "outside" : undefined }],
    layout: { title: title(o.title), yaxis: { title: title(o.yTitle), range: o.yRange, type: o.logY ? "log" : undefined }, xaxis: { title: title(o.xTitle) }, ...heightForLabels(x) },
  };
}

/** Long category names are drawn slanted under the axis and take height from the bars: give it back. */
function heightForLabels(x: (string | number)[]): { height?: number } {
  const longest = Math.max(0, ...x.map((v) => String(v).length));
  return x.length > 6 && longest > 14 ? { height: Math.min(720, 360 + Math.round(longest * 5.5)) } : {};
}

export function groupedBar(x: string[], series: { name: string; y: number[] }[], o: { title?: string; yTitle?: string; stacked?: boolean; yRange?: [number, number] } = {}): Figure {
  return {
    data: series.map((s) => ({ type: "bar", name: s.name, x, y: s.y })),
    layout: { title: title(o.title), barmode: o.stacked ? "stack" : "group", yaxis: { title: title(o.yTitle), range: o.yRange } },
  };
}

export function histogram(values: number[], o: { title?: string; xTitle?: string; nbins?: number } = {}): Figure {
  return { data: [{ type: "histogram", x: values, nbinsx: o.nbins ?? 40 }], layout: { title: title(o.title), xaxis: { title: title(o.xTitle) }, yaxis: { title: { text: "count" } }, bargap: 0.05 } };
}

export function heatmap(z: number[][], x: string[], y: string[], o: { title?: string; xTitle?: string; yTitle?: string; text?: string[][] } = {}): Figure {
  return {
    data: [{ type: "heatmap", z, x, y, colorscale: "Blues", reversescale: true, text: o.text ?? z.map((r) => r.map(String)), texttemplate: "%{text}", showscale: false }],
    layout: { title: title(o.title), xaxis: { title: title(o.xTitle), side: "bottom" }, yaxis: { title: title(o.yTitle), autorange: "reversed" }, height: 320 },
  };
}

export function lines(series: { name: string; x: number[]; y: number[]; mode?: string }[], o: { title?: string; xTitle?: string; yTitle?: string; logY?: boolean; logX?: boolean } = {}): Figure {
  return {
    data: series.map((s) => ({ type: "scatter", mode: s.mode ?? "lines+markers", name: s.name, x: s.x, y: s.y })),
    layout: { title: title(o.title), xaxis: { title: title(o.xTitle), type: o.logX ? "log" : undefined }, yaxis: { title: title(o.yTitle), type: o.logY ? "log" : undefined } },
  };
}

export function scatter(points: { name: string; x: number; y: number }[], o: { title?: string; xTitle?: string; yTitle?: string; logX?: boolean } = {}): Figure {
  return {
    data: [{ type: "scatter", mode: "markers+text", x: points.map((p) => p.x), y: points.map((p) => p.y), text: points.map((p) => p.name), textposition: "top center", marker: { size: 10 } }],
    layout: { title: title(o.title), xaxis: { title: title(o.xTitle), type: o.logX ? "log" : undefined }, yaxis: { title: title(o.yTitle) } },
  };
}

// ---------- tables ----------
const esc = escapeHtml;

function formatCell(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : Math.abs(v) >= 1000 ? v.toLocaleString("en-US", { maximumFractionDigits: 2 }) : v.toPrecision(4);
  if (v === null || v === undefined) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

const TD = "text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid #eee";

/** An HTML table of plain rows (columns from the first row unless given); long text cells are clipped with a tooltip. */
export function tableHtml(rows: Record<string, unknown>[], o: { columns?: string[]; caption?: string; maxChars?: number } = {}): string {
  const columns = o.columns ?? Object.keys(rows[0] ?? {});
  const max = o.maxChars ?? 160;
  const cell = (v: unknown): string => {
    const s = formatCell(v);
    if (s.length > max) return `<td style="${TD}" title="${esc(s)}">${esc(s.slice(0, max))}…</td>`;
    // Short values (numbers, dates, kinds) stay on one line; long text wraps.
    return `<td style="${TD}${s.length <= 16 ? ";white-space:nowrap" : ""}">${esc(s).replace(/\n/g, "<br>")}</td>`;
  };
  return (
    // A wide table scrolls inside its own box instead of pushing the page wider than the window.
    `<div class="distill-table-wrap" style="overflow-x:auto;max-width:100%"><table class="distill-table" style="border-collapse:collapse;font-size:13px">` +
    (o.caption ? `<caption style="text-align:left;font-weight:600">${esc(o.caption)}</caption>` : "") +
    `<thead><tr>${columns.map((c) => `<th style="text-align:left;border-bottom:1px solid #999;padding:2px 8px">${esc(c)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${columns.map((c) => cell(r[c])).join("")}</tr>`).join("")}</tbody></table></div>`
  );
}

export function table(rows: Record<string, unknown>[], o: { columns?: string[]; caption?: string; maxChars?: number } = {}): void {
  tryDisplay(tableHtml(rows, o));
}

/** Show HTML as is: for markup the lib built itself, every value in it escaped (escapeHtml). For text, use note. */
export function html(s: string): void {
  tryDisplay(s);
}

/** A paragraph of plain text (escaped: a model name or a note that came from a file cannot add markup). */
export function note(text: string, o: { italic?: boolean } = {}): void {
  tryDisplay(noteHtml(text, o));
}

export function noteHtml(text: string, o: { italic?: boolean } = {}): string {
  return o.italic ? `<p><i>${esc(text)}</i></p>` : `<p>${esc(text)}</p>`;
}

/**
 * A danfojs DataFrame (or plain rows, turned into one) shown as an HTML table. danfojs-node is loaded lazily: it
 * pulls in tfjs, which costs a second or two, and only notebooks need it.
 */
export function dataframe(input: Record<string, unknown>[] | { columns: string[]; values: unknown[][] }, o: { caption?: string; maxChars?: number; head?: number } = {}): void {
  let df = input as { columns: string[]; values: unknown[][]; head?(n: number): unknown };
  if (Array.isArray(input)) {
    const dfd = require("danfojs-node") as { DataFrame: new (rows: Record<string, unknown>[]) => typeof df };
    df = new dfd.DataFrame(input);
  }
  const values = o.head ? df.values.slice(0, o.head) : df.values;
  const rows = values.map((v) => Object.fromEntries(df.columns.map((c, i) => [c, (v as unknown[])[i]])));
  table(rows, { columns: df.columns, caption: o.caption, maxChars: o.maxChars });
}

/** Pretty-printed JSON in a collapsible block (for schemas and configs). */
export function json(value: unknown, summary = "JSON"): void {
  tryDisplay(`<details><summary>${esc(summary)}</summary><pre style="font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere">${esc(JSON.stringify(value, null, 2))}</pre></details>`);
}
