// reports/<run-id>/index.html: the run's front page, read in ten seconds. A verdict line (did the student learn, is
// the teacher any good), two small figures (kappa per field; cost per corpus, measured and estimated bars drawn
// differently), the run's facts and links to the four notebook reports. A pure function of the run's run.json records
// (through summarizeRun): numbers are rounded for reading here, the exact values stay in run.json.
import { escapeHtml as esc } from "../html";
import { count, duration, fixed2, paramValue, percent, usd } from "./format";
import { notMeasured, pageHtml, verdictClass } from "./page";
import { figureHtml, plotlyLibHtml, type Figure } from "./plots";
import { summarizeRun, type Basis, type FieldScore, type RunFile, type RunSummary } from "./run-summary";
import { CHANCE_KAPPA } from "./verdict";

const ci = (c: { low: number; high: number } | null): string => (c ? `95% CI ${fixed2(c.low)} to ${fixed2(c.high)}` : "interval not measured");
const kappaText = (k: number | null): string => (k === null ? "undefined" : fixed2(k));

/** What the teacher's verdict means for the student, after the verdict word. */
const TEACHER_MEANS: Record<string, string> = {
  "at chance": ", so the student can only learn noise from it",
  "partly agrees": ", so the student can at best learn what the teacher gets right",
  "close to human agreement": "",
  "not measured": "",
};

/** The verdict in plain words: the word ("learned", "at chance", ...), the sentence behind it, and the teacher's line. */
export function verdictSentences(s: RunSummary): { word: string; student: string; teacher: string } {
  const word = s.verdict.student;
  const inf = s.inference;
  let student: string;
  if (!inf) student = "the student was not scored in this run (notebook 3 did not run or failed).";
  else if (inf.meanKappa === null) {
    student = `the student agrees with its teacher on ${percent(inf.agreement)} of labels, but kappa is undefined on every field: the labels are constant, so that agreement says nothing.`;
  } else {
    const who = `the student${s.student ? ` (${s.student})` : ""} agrees with its teacher${s.teacher ? ` (${s.teacher})` : ""} on ${percent(inf.agreement)} of labels, mean κ ${fixed2(inf.meanKappa)} (${ci(inf.meanKappaCi)})`;
    const why =
      word === "at chance"
        ? inf.meanKappa < CHANCE_KAPPA
          ? `: below κ ${CHANCE_KAPPA}, no better than guessing`
          : ": its interval includes 0, so not told apart from guessing"
        : word === "no better than the keyword rule"
          ? ": a keyword rule does as well"
          : "";
    const base = (kind: "keyword" | "majority", name: string): string => {
      const b = s.baselines.find((x) => x.kind === kind);
      return `${name} κ ${b ? kappaText(b.meanKappa) : "not measured"}`;
    };
    student = `${who}${why}. Baselines: ${base("keyword", "keyword rule")}, ${base("majority", "majority rule")}.`;
  }
  const tq = s.teacherQuality;
  const teacher =
    tq?.teacher
      ? `Teacher vs reference labels (${tq.teacher.n !== null ? `${count(tq.teacher.n)} records` : tq.reference}): mean κ ${kappaText(tq.teacher.meanKappa)}, agreement ${percent(tq.teacher.agreement)}; two human passes agree at κ ${kappaText(tq.ceiling?.meanKappa ?? null)}: ${s.verdict.teacher}${TEACHER_MEANS[s.verdict.teacher]}.`
      : "Teacher vs reference labels: not measured in this run.";
  return { word, student: student[0].toUpperCase() + student.slice(1), teacher };
}

/** One line for the terminal: what `npm start` prints last. */
export function verdictLine(s: RunSummary): string {
  const v = verdictSentences(s);
  return `Verdict: ${v.word}. ${v.student}`;
}

// ---------------------------------------------------------------- figures

export function kappaFigure(s: RunSummary): Figure | null {
  const fields = s.inference?.perField.map((f) => f.field) ?? s.teacherQuality?.teacher?.perField.map((f) => f.field) ?? [];
  if (!fields.length) return null;
  const series: { name: string; perField: FieldScore[]; color: string }[] = [];
  if (s.teacherQuality?.teacher) series.push({ name: "teacher vs reference", perField: s.teacherQuality.teacher.perField, color: "#6e40c9" });
  if (s.inference) series.push({ name: "student vs teacher", perField: s.inference.perField, color: "#0b5cad" });
  const colors: Record<string, string> = { keyword: "#bf8700", majority: "#8a939c", api: "#1a7f37" };
  for (const b of s.baselines) if (b.perField.length) series.push({ name: `${b.name} vs teacher`, perField: b.perField, color: colors[b.kind] });
  const kappaOf = (p: FieldScore[], field: string): number | null => p.find((f) => f.field === field)?.kappa ?? null;
  const values = series.flatMap((x) => x.perField.map((f) => f.kappa)).filter((k): k is number => k !== null);
  const chance = { type: "scatter", mode: "lines", name: `chance (κ < ${CHANCE_KAPPA})`, x: fields, y: fields.map(() => CHANCE_KAPPA), line: { dash: "dot", color: "#cf222e", width: 1.5 }, hoverinfo: "skip" };
  return {
    data: [...series.map((x) => ({ type: "bar", name: x.name, x: fields, y: fields.map((f) => kappaOf(x.perField, f)), marker: { color: x.color } })), chance],
    layout: {
      ...TOP_LEGEND,
      barmode: "group",
      height: 300,
      // Always up to 1 (perfect): how far from it a run is shows at a glance.
      yaxis: { title: { text: "Cohen's kappa" }, range: [Math.min(-0.1, ...values.map((k) => k - 0.05)), 1], zeroline: true },
      xaxis: { title: { text: "field" } },
    },
  };
}

/** The figures' titles are headings on the page; the legend takes the top line, left-aligned. */
const TOP_LEGEND = { legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom", font: { size: 11 } }, margin: { t: 8, r: 16, b: 8, l: 8 } };

const BASIS_STYLE: Record<Basis, Record<string, unknown>> = {
  measured: { color: "#0b5cad" },
  estimated: { color: "#f6e7b9", line: { color: "#bf8700", width: 1 }, pattern: { shape: "/", fgcolor: "#bf8700", size: 6 } },
  "list price": { color: "#9aa4ae" },
};

/** The teacher, the API options (standard tier) and the student's GPU rows: one bar each, log scale. */
export function costFigure(s: RunSummary, maxBars = 12): Figure | null {
  if (!s.cost?.rows.length) return null;
  const students = s.cost.rows.filter((r) => r.kind === "student");
  const apis = s.cost.rows.filter((r) => r.kind === "api" && r !== s.cost!.teacherRow).sort((a, b) => a.usdPerCorpus - b.usdPerCorpus);
  const rows = [...(s.cost.teacherRow ? [s.cost.teacherRow] : []), ...apis.slice(0, Math.max(0, maxBars - students.length - 1)), ...students].sort((a, b) => b.usdPerCorpus - a.usdPerCorpus);
  const bases = (["measured", "estimated", "list price"] as Basis[]).filter((b) => rows.some((r) => r.basis === b));
  return {
    data: bases.map((basis) => {
      const mine = rows.map((r) => (r.basis === basis ? r : null));
      return {
        type: "bar",
        orientation: "h",
        name: basis,
        y: rows.map((r) => r.option),
        x: mine.map((r) => (r ? r.usdPerCorpus : null)),
        text: mine.map((r) => (r ? usd(r.usdPerCorpus) : "")),
        textposition: "outside",
        cliponaxis: false,
        marker: BASIS_STYLE[basis],
        hovertemplate: "%{y}: %{text}<extra>" + basis + "</extra>",
      };
    }),
    layout: {
      ...TOP_LEGEND,
      barmode: "overlay",
      height: Math.max(300, 110 + rows.length * 22),
      xaxis: { title: { text: "USD per corpus (log scale)" }, type: "log", dtick: 1, tickprefix: "$" },
      yaxis: { tickfont: { size: 10 } },
      margin: { t: 8, r: 64, b: 8, l: 8 },
    },
  };
}

// ---------------------------------------------------------------- the page

function scoresTable(s: RunSummary): string {
  const rows: { who: string; agreement: number | null; kappa: number | null; ci?: string; note?: string }[] = [];
  const inf = s.inference;
  rows.push(inf ? { who: "student vs teacher", agreement: inf.agreement, kappa: inf.meanKappa, ci: ci(inf.meanKappaCi), note: inf.n !== null ? `${count(inf.n)} test records` : "" } : { who: "student vs teacher", agreement: null, kappa: null });
  for (const b of s.baselines) rows.push({ who: `${b.name} vs teacher`, agreement: b.agreement, kappa: b.meanKappa, note: b.note ?? `${b.kind} baseline` });
  for (const kind of ["keyword", "majority"] as const) if (!s.baselines.some((b) => b.kind === kind)) rows.push({ who: `${kind} rule vs teacher`, agreement: null, kappa: null });
  const tq = s.teacherQuality;
  if (tq?.teacher) rows.push({ who: `teacher (${tq.teacher.name}) vs reference`, agreement: tq.teacher.agreement, kappa: tq.teacher.meanKappa, note: tq.teacher.n !== null ? `${count(tq.teacher.n)} records` : "" });
  else rows.push({ who: "teacher vs reference", agreement: null, kappa: null });
  for (const c of tq?.liveChecks ?? []) rows.push({ who: `${c.name} vs reference`, agreement: c.agreement, kappa: c.meanKappa, note: `live check${c.n !== null ? `, ${count(c.n)} records` : ""}` });
  if (tq?.ceiling) rows.push({ who: "second human pass vs reference", agreement: tq.ceiling.agreement, kappa: tq.ceiling.meanKappa, note: "the ceiling" });
  const cell = (v: number | null, f: (x: number) => string): string => (v === null ? `<td class="n">${notMeasured()}</td>` : `<td class="n">${f(v)}</td>`);
  return (
    `<div class="scroll"><table><thead><tr><th>labels</th><th class="n">agreement</th><th class="n">mean κ</th><th>note</th></tr></thead><tbody>` +
    rows.map((r) => `<tr><td>${esc(r.who)}</td>${cell(r.agreement, percent)}${cell(r.kappa, fixed2)}<td>${esc([r.ci, r.note].filter(Boolean).join("; "))}</td></tr>`).join("") +
    `</tbody></table></div>`
  );
}

function costTable(s: RunSummary): string {
  const c = s.cost;
  if (!c) return `<p>Cost: ${notMeasured()}</p>`;
  // The teacher, and the cheapest student option of each basis (measured, estimated): the 4-cost report has the rest.
  const students = c.rows.filter((r) => r.kind === "student").sort((a, b) => a.usdPerCorpus - b.usdPerCorpus);
  const cheapest = students.filter((r, i) => students.findIndex((x) => x.basis === r.basis) === i);
  const rows = [...(c.teacherRow ? [c.teacherRow] : []), ...cheapest];
  const more = c.rows.length - rows.length;
  return (
    `<div class="scroll"><table><thead><tr><th>option</th><th class="n">per corpus</th><th class="n">per 1,000 records</th><th>basis</th></tr></thead><tbody>` +
    rows.map((r) => `<tr><td>${esc(r.option)}</td><td class="n">${usd(r.usdPerCorpus)}</td><td class="n">${r.usdPerRecord === null ? "—" : usd(r.usdPerRecord * 1000)}</td><td><span class="tag ${r.basis === "list price" ? "" : r.basis}" title="${esc(r.basisNote ?? "")}">${esc(r.basis)}</span>${r.basisNote ? ` <span class="meta">${esc(r.basisNote)}</span>` : ""}</td></tr>`).join("") +
    `</tbody></table></div>` +
    (more > 0 ? `<p class="meta">${more} more options (other API models, GPUs and providers) in the 4-cost report.</p>` : "")
  );
}

export function changedText(s: RunSummary, max = 12): string {
  if (!s.changed.length) return "none (the <code>npm start</code> defaults)";
  const items = s.changed.slice(0, max).map((c) => `<code>${esc(c.name)}</code> = ${esc(paramValue(c.value))}${"default" in c ? ` <span class="meta">(default ${esc(paramValue(c.default))})</span>` : ""}`);
  return items.join(", ") + (s.changed.length > max ? `, and ${s.changed.length - max} more` : "");
}

function facts(s: RunSummary): string {
  const hw = s.hardware;
  const fact = (k: string, v: string): string => `<dt>${esc(k)}</dt><dd>${v}</dd>`;
  const notebooks = s.notebooks
    .map((n) => `<a href="${esc(n.html)}">${esc(n.name)}</a> ${duration(n.seconds)}${n.ok ? "" : ' <span class="tag failed">failed</span>'} <a class="meta" href="${esc(n.runJson)}">run.json</a>`)
    .join("<br>");
  return (
    `<dl class="facts">` +
    fact("profile", esc(s.profile ?? "none")) +
    fact("changed parameters", changedText(s)) +
    fact("teacher", s.teacher ? esc(s.teacher) : notMeasured()) +
    fact("student", s.student ? esc(s.student) : notMeasured()) +
    fact("commit", s.git.commit ? `<code>${esc(s.git.commit.slice(0, 10))}</code>${s.git.dirty ? ' <span class="tag estimated">uncommitted changes</span>' : s.git.dirty === false ? " clean" : ""}` : notMeasured("unknown")) +
    fact("hardware", hw ? esc(`${hw.cpu}, ${hw.cores} cores, ${hw.memoryGiB} GiB${hw.gpu ? `, ${hw.gpu}` : ", no GPU"}`) : notMeasured("unknown")) +
    fact("duration", `${duration(s.seconds)}${s.date ? ` <span class="meta">started ${esc(s.date.replace("T", " ").slice(0, 16))} UTC</span>` : ""}`) +
    fact("reports", notebooks || notMeasured("none")) +
    `</dl>`
  );
}

/** The run page's HTML, from the run's run.json records. */
export function runPageHtml(runId: string, files: RunFile[]): string {
  const s = summarizeRun(runId, files);
  const v = verdictSentences(s);
  const figures = [kappaFigure(s), costFigure(s)];
  const figureCell = (f: Figure | null, i: number, what: string): string => `<h2>${esc(what)}</h2>` + (f ? figureHtml(f, `run-fig-${i}`) : `<p>${notMeasured()}</p>`);
  const failure = s.failure ? `<p class="verdict chance"><strong>failed</strong> in ${esc(s.failure.notebook)}: ${esc(s.failure.text)}</p>` : "";
  const body =
    `<header><h1>Run ${esc(runId)}</h1><p class="meta">profile ${esc(s.profile ?? "none")} · ${duration(s.seconds)} · <a href="../index.html">all runs</a></p>` +
    failure +
    `<p class="verdict ${verdictClass(v.word)}" id="verdict"><strong>${esc(v.word[0].toUpperCase() + v.word.slice(1))}.</strong> ${esc(v.student)}</p>` +
    `<p class="sub" id="teacher-verdict">${esc(v.teacher)}</p></header>` +
    `<main class="grid"><section>${figureCell(figures[0], 1, "Kappa per field")}</section>` +
    `<section>${figureCell(figures[1], 2, `Cost per corpus${s.cost?.corpusSize ? ` (${count(s.cost.corpusSize)} records)` : ""}`)}</section>` +
    `<section><h2>Scores</h2>${scoresTable(s)}</section>` +
    `<section><h2>Run</h2>${facts(s)}<h2 style="margin-top:10px">Cost</h2>${costTable(s)}</section></main>` +
    `<p class="notes">Numbers are rounded for reading; the exact values are in each notebook's run.json, the only source of this page.` +
    (s.derived.length ? ` ${s.derived.map(esc).join(" ")}` : "") +
    `</p>` +
    (figures.some(Boolean) ? plotlyLibHtml() : "");
  return pageHtml(`Run ${runId}: ${v.word}`, body);
}
