// reports/index.html: every run side by side, one row each, sortable, with a two-run compare view (the parameters
// that differ, per-field kappa of both). How a user tweaking hyperparameters sees what the tweak did. A pure function
// of the runs' summaries (from their run.json files): `npm run reports` rebuilds it at any time.
import { escapeHtml as esc } from "../html";
import { duration, fixed2, paramValue, percent, usd } from "./format";
import { notMeasured, pageHtml, verdictClass } from "./page";
import type { RunSummary } from "./run-summary";

/** What the compare view needs of one run (embedded in the page as JSON). */
export interface CompareRun {
  runId: string;
  date: string | null;
  parameters: Record<string, unknown>;
  agreement: number | null;
  meanKappa: number | null;
  perField: { field: string; kappa: number | null }[];
  studentUsdPerCorpus: number | null;
  seconds: number | null;
}

export function compareRun(s: RunSummary): CompareRun {
  return {
    runId: s.runId,
    date: s.date,
    parameters: s.parameters,
    agreement: s.inference?.agreement ?? null,
    meanKappa: s.inference?.meanKappa ?? null,
    perField: (s.inference?.perField ?? []).map((f) => ({ field: f.field, kappa: f.kappa })),
    studentUsdPerCorpus: s.cost?.studentRow?.usdPerCorpus ?? null,
    seconds: s.seconds,
  };
}

/**
 * The compare view of two runs (a = older, b = newer). Self-contained on purpose: the page embeds this very function
 * (its compiled source) to redraw the view when the user picks another pair, so it must not use anything outside its
 * own body.
 */
export function compareHtml(a: CompareRun, b: CompareRun): string {
  const e = (v: unknown): string => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
  const show = (v: unknown): string => (v === undefined ? "(default)" : typeof v === "string" ? v : JSON.stringify(v));
  const k = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : v.toFixed(2).replace(/^-0\.00$/, "0.00").replace(/^-/, "−"));
  const delta = (x: number | null | undefined, y: number | null | undefined): string => {
    if (x === null || x === undefined || y === null || y === undefined) return "";
    const d = y - x;
    const cls = Math.abs(d) < 0.005 ? "" : d > 0 ? "up" : "down";
    return `<span class="${cls}">${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(2)}</span>`;
  };
  const bar = (v: number | null | undefined): string =>
    v === null || v === undefined ? "" : `<span class="kbar" style="width:${Math.round(Math.max(0, Math.min(1, v)) * 80)}px"></span>`;
  const names = Array.from(new Set([...Object.keys(a.parameters), ...Object.keys(b.parameters)])).sort();
  const differ = names.filter((n) => JSON.stringify(a.parameters[n]) !== JSON.stringify(b.parameters[n]));
  const params = differ.length
    ? `<table><thead><tr><th>parameter</th><th>${e(a.runId)}</th><th>${e(b.runId)}</th></tr></thead><tbody>` +
      differ.map((n) => `<tr><td><code>${e(n)}</code></td><td>${e(show(a.parameters[n]))}</td><td>${e(show(b.parameters[n]))}</td></tr>`).join("") +
      `</tbody></table>`
    : "<p>No parameter differs.</p>";
  const fields = Array.from(new Set([...a.perField.map((f) => f.field), ...b.perField.map((f) => f.field)]));
  const kOf = (r: CompareRun, f: string): number | null => r.perField.find((x) => x.field === f)?.kappa ?? null;
  const row = (label: string, x: number | null, y: number | null, fmt: (v: number | null) => string): string =>
    `<tr><td>${e(label)}</td><td class="n">${fmt(x)} ${bar(x)}</td><td class="n">${fmt(y)} ${bar(y)}</td><td class="n">${delta(x, y)}</td></tr>`;
  const pct = (v: number | null): string => (v === null ? "—" : `${Math.round(v * 100)}%`);
  const scores =
    `<table><thead><tr><th>kappa</th><th class="n">${e(a.runId)}</th><th class="n">${e(b.runId)}</th><th class="n">change</th></tr></thead><tbody>` +
    fields.map((f) => row(f, kOf(a, f), kOf(b, f), k)).join("") +
    row("mean κ", a.meanKappa, b.meanKappa, k) +
    row("agreement", a.agreement, b.agreement, pct) +
    `</tbody></table>`;
  const money = (v: number | null): string => (v === null ? "—" : `$${v >= 1000 ? Math.round(v).toLocaleString("en-US") : Number(v.toPrecision(3)).toString()}`);
  const cost = `<p>Student per corpus: ${money(a.studentUsdPerCorpus)} → ${money(b.studentUsdPerCorpus)}</p>`;
  return `<div class="grid"><section><h2>Parameters that differ</h2><div class="scroll">${params}</div></section><section><h2>Per-field kappa (student vs teacher)</h2><div class="scroll">${scores}</div>${cost}</section></div>`;
}

const SORT_AND_COMPARE = `
(function(){
  var runs = JSON.parse(document.getElementById("runs-data").textContent);
  var byId = {}; runs.forEach(function(r){ byId[r.runId] = r; });
  var table = document.getElementById("runs"), tbody = table.tBodies[0];
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, i){
    if (!th.dataset.sort) return;
    th.tabIndex = 0;
    th.addEventListener("click", function(){
      var dir = th.dataset.dir === "asc" ? "desc" : "asc";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function(c){ delete c.dataset.dir; });
      th.dataset.dir = dir;
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function(x, y){
        var a = x.cells[i].dataset.v, b = y.cells[i].dataset.v;
        var an = a === "" ? NaN : Number(a), bn = b === "" ? NaN : Number(b);
        var c = th.dataset.sort === "num" ? (isNaN(an) ? 1 : isNaN(bn) ? -1 : an - bn) : String(a).localeCompare(String(b));
        return dir === "asc" ? c : -c;
      });
      rows.forEach(function(r){ tbody.appendChild(r); });
    });
  });
  var compareHtml = COMPARE_FN;
  function redraw(){
    var picked = Array.prototype.filter.call(document.querySelectorAll("input.pick"), function(c){ return c.checked; }).map(function(c){ return byId[c.value]; });
    var out = document.getElementById("compare-view");
    if (picked.length !== 2) { out.innerHTML = "<p>Tick two runs to compare them.</p>"; return; }
    picked.sort(function(x, y){ return String(x.date).localeCompare(String(y.date)); });
    out.innerHTML = compareHtml(picked[0], picked[1]);
  }
  document.querySelectorAll("input.pick").forEach(function(c){
    c.addEventListener("change", function(){
      var on = document.querySelectorAll("input.pick:checked");
      if (on.length > 2) Array.prototype.filter.call(on, function(x){ return x !== c; })[0].checked = false;
      redraw();
    });
  });
})();`;

const EXTRA_CSS = `.kbar{display:inline-block;height:8px;background:#0b5cad;vertical-align:middle;opacity:.6}
.up{color:#116329}.down{color:#a40e26}
th[data-sort]{cursor:pointer}th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
#runs td{max-width:260px;overflow-wrap:anywhere}#runs td.nowrap{white-space:nowrap;overflow-wrap:normal}#runs td.wide{min-width:9em}#runs th{white-space:normal}`;

/** reports/index.html's HTML: newest run first; the two newest are ticked for the compare view. */
export function runsPageHtml(runs: RunSummary[], title = "distill-notebooks runs"): string {
  const sorted = [...runs].sort((a, b) => String(b.date ?? b.runId).localeCompare(String(a.date ?? a.runId)));
  const td = (html: string, v: unknown, cls = ""): string => `<td${cls ? ` class="${cls}"` : ""} data-v="${esc(v ?? "")}">${html}</td>`;
  const changed = (s: RunSummary): string => (s.changed.length ? s.changed.map((c) => `${c.name}=${paramValue(c.value)}`).join(", ") : "");
  const rows = sorted.map((s, i) => {
    const inf = s.inference;
    const st = s.cost?.studentRow;
    return (
      `<tr>` +
      td(`<input type="checkbox" class="pick" value="${esc(s.runId)}" aria-label="compare ${esc(s.runId)}"${i < 2 ? " checked" : ""}>`, "") +
      td(esc(s.date ? s.date.replace("T", " ").slice(0, 16) : "—"), s.date ?? "", "nowrap") +
      td(`<a href="${esc(s.runId)}/index.html">${esc(s.runId)}</a>${s.ok ? "" : ' <span class="tag failed">failed</span>'}`, s.runId, "nowrap") +
      td(esc(s.profile ?? "—"), s.profile) +
      td(s.changed.length ? esc(changed(s)) : '<span class="meta">defaults</span>', changed(s)) +
      td(s.teacher ? esc(s.teacher) : notMeasured(), s.teacher, "wide") +
      td(s.student ? esc(s.student) : notMeasured(), s.student, "wide") +
      td(inf ? percent(inf.agreement) : notMeasured(), inf?.agreement, "n") +
      td(inf?.meanKappa !== undefined && inf?.meanKappa !== null ? fixed2(inf.meanKappa) : notMeasured(), inf?.meanKappa, "n") +
      td(`<span class="tag ${verdictClass(s.verdict.student)}">${esc(s.verdict.student)}</span>`, s.verdict.student) +
      td(st ? `${usd(st.usdPerCorpus)}<br><span class="tag ${st.basis === "list price" ? "" : st.basis}">${esc(st.basis)}</span>` : notMeasured(), st?.usdPerCorpus, "n") +
      td(duration(s.seconds), s.seconds, "n") +
      `</tr>`
    );
  });
  const head = [
    ["compare", ""],
    ["date (UTC)", "text"],
    ["run", "text"],
    ["profile", "text"],
    ["changed parameters", "text"],
    ["teacher", "text"],
    ["student", "text"],
    ["agreement", "num"],
    ["mean κ", "num"],
    ["verdict", "text"],
    ["student per corpus", "num"],
    ["duration", "num"],
  ]
    .map(([name, sort]) => `<th${sort ? ` data-sort="${sort}"` : ""}${sort === "num" ? ' class="n"' : ""}>${esc(name)}</th>`)
    .join("");
  const data = JSON.stringify(sorted.map(compareRun)).replace(/</g, "\\u003c");
  const initial = sorted.length >= 2 ? compareHtml(compareRun(sorted[1]), compareRun(sorted[0])) : "<p>Tick two runs to compare them.</p>";
  const body =
    `<h1>${esc(title)}</h1><p class="meta">${sorted.length} run(s) in this folder, newest first; click a column to sort, tick two runs to compare. Rebuilt from each run's run.json by <code>npm run reports</code>.</p>` +
    `<div class="scroll"><table id="runs"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table></div>` +
    `<h2 style="margin-top:16px">Compare</h2><div id="compare-view">${initial}</div>` +
    `<script type="application/json" id="runs-data">${data}</script>` +
    `<script>${SORT_AND_COMPARE.replace("COMPARE_FN", () => compareHtml.toString()).replace(/<\/script/gi, "<\\/script")}</script>`;
  return pageHtml(title, body, EXTRA_CSS);
}
