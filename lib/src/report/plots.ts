// Plotly figures (and small HTML tables) shown through tslab. Charts work offline: the first chart a kernel shows
// carries plotly.js inline, exactly once per notebook; later charts wait for it. Div ids count up per kernel so the
// same notebook run twice gives the same HTML. Outside a kernel (plain node) `show` returns the HTML and prints
// nothing, so lib code and tests can call it.
import * as fs from "node:fs";
import { escapeHtml } from "../html";

export interface Figure { data: Record<string, unknown>[]; layout?: Record<string, unknown>; config?: Record<string, unknown> }
type Display = { html(s: string): void };
interface Tslab { display: Display; newDisplay(): Display }

let plotlyShown = false;
let nextId = 1;
const PLOTLY_MARK = "/*distill:plotly-lib*/";

function tslab(): Tslab | null {
  try {
    // Loaded lazily: tslab is the kernel; in plain node it loads but its display throws "Not ready".
    return require("tslab") as Tslab;
  } catch {
    return null;
  }
}

function tryDisplay(html: string, target?: Display): boolean {
  const t = tslab();
  if (!t) return false;
  try {
    (target ?? t.display).html(html);
    return true;
  } catch {
    return false;
  }
}

export function plotlyLibHtml(): string {
  const src = fs.readFileSync(require.resolve("plotly.js-dist-min"), "utf8");
  return `<script>${PLOTLY_MARK}\n${src.replace(/<\/script/gi, "<\\/script")}\n;(window.__distillPending||[]).splice(0).forEach(function(f){f()});</script>`;
}

const jsonForScript = (v: unknown): string => JSON.stringify(v).replace(/</g, "\\u003c");

export function figureHtml(fig: Figure, id: string): string {
  const layout: Record<string, unknown> = { autosize: true, margin: { t: 48, r: 24, b: 56, l: 64 }, ...fig.layout };
  const height = typeof layout.height === "number" ? layout.height : 420;
  const payload = jsonForScript({ data: fig.data, layout, config: { responsive: true, displaylogo: false, ...fig.config } });
  return (
    `<div id="${id}" class="distill-plot" style="width:100%;height:${height}px"></div>` +
    `<script>(function(){var f=${payload};function draw(){window.Plotly.react("${id}",f.data,f.layout,f.config)}` +
    `if(window.Plotly){draw()}else{(window.__distillPending=window.__distillPending||[]).push(draw)}})();</script>`
  );
}

function ensurePlotly(): void {
  if (plotlyShown) return;
  if (tryDisplay(plotlyLibHtml())) plotlyShown = true;
}

/** Show a figure in the notebook (nothing outside a kernel). Returns nothing, so tslab echoes nothing. */
export function show(fig: Figure): void {
  ensurePlotly();
  tryDisplay(figureHtml(fig, `distill-plot-${nextId++}`));
}

/** A chart that redraws in place (one output, updated): for live training curves. */
export function live(initial: Figure): { update(fig: Figure): void } {
  ensurePlotly();
  const id = `distill-plot-${nextId++}`;
  const handle = tslab()?.newDisplay();
  const render = (fig: Figure): void => {
    if (handle) tryDisplay(figureHtml(fig, id), handle);
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
    layout: { title: title(o.title), yaxis: { title: title(o.yTitle), range: o.yRange, type: o.logY ? "log" : undefined }, xaxis: { title: title(o.xTitle) } },
  };
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
    return s.length > max ? `<td style="${TD}" title="${esc(s)}">${esc(s.slice(0, max))}…</td>` : `<td style="${TD}">${esc(s).replace(/\n/g, "<br>")}</td>`;
  };
  return (
    `<table class="distill-table" style="border-collapse:collapse;font-size:13px">` +
    (o.caption ? `<caption style="text-align:left;font-weight:600">${esc(o.caption)}</caption>` : "") +
    `<thead><tr>${columns.map((c) => `<th style="text-align:left;border-bottom:1px solid #999;padding:2px 8px">${esc(c)}</th>`).join("")}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${columns.map((c) => cell(r[c])).join("")}</tr>`).join("")}</tbody></table>`
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
  tryDisplay(`<details><summary>${esc(summary)}</summary><pre style="font-size:12px">${esc(JSON.stringify(value, null, 2))}</pre></details>`);
}
