// The run page is a pure function of the run's run.json records: tested with records that carry every
// RESULTS-CONTRACT.md key and with records from before them (derivations said on the page), and failures.
import assert from "node:assert/strict";
import { test } from "node:test";
import { report } from "@distill/lib";
import { contractRun, todayRun } from "../../support/run-records";

const text = (html: string): string => html.replace(/<script[\s\S]*?<\/script>/g, "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");

test("a run with every contract key: learned, above the keyword rule, teacher close to the humans", () => {
  const s = report.summarizeRun("r1", contractRun());
  assert.equal(s.verdict.student, "learned");
  assert.equal(s.verdict.teacher, "close to human agreement");
  assert.deepEqual(s.derived, []);
  assert.equal(s.cost?.studentRow?.option, "student on L40 48GB (RunPod, community)", "the cheapest student row");
  assert.equal(s.cost?.teacherRow?.option, "gpt-4 (teacher)");
  const line = report.verdictLine(s);
  assert.match(line, /^Verdict: learned\. The student \(smollm2-135m-instruct \+ LoRA \(cpu-quick, 12 steps\)\) agrees with its teacher \(gpt-4\.1-mini\) on 88% of labels, mean κ 0\.62 \(95% CI 0\.51 to 0\.71\)\. Baselines: keyword rule κ 0\.21, majority rule κ 0\.00\.$/);
  const html = report.runPageHtml("r1", contractRun());
  const t = text(html);
  assert.match(t, /Teacher vs reference labels \(60 records\): mean κ 0\.74, agreement 90%; two human passes agree at κ 0\.81: close to human agreement\./);
  assert.match(t, /SmolLM2-135M-Instruct \(local\) vs reference 55% 0\.03 live check, 12 records/);
  assert.match(t, /second human pass vs reference 93% 0\.81/);
  assert.match(t, /\$26,411/, "teacher per corpus, rounded");
  assert.match(html, /<span class="tag estimated" title="roofline at 40% MFU from data\/hardware.json">estimated<\/span>/);
  assert.doesNotMatch(t, /not measured/);
  // Figures: kappa per field (teacher vs reference, student, both baselines) and cost with one trace per basis.
  const kappa = report.kappaFigure(s)!;
  assert.deepEqual(kappa.data.map((d) => d.name), ["teacher vs reference", "student vs teacher", "keyword rule vs teacher", "majority rule vs teacher", "chance (κ < 0.1)"]);
  const cost = report.costFigure(s)!;
  assert.deepEqual(cost.data.map((d) => d.name), ["measured", "estimated", "list price"]);
  const estimated = cost.data[1] as { x: (number | null)[]; y: string[]; marker: { pattern?: unknown } };
  assert.ok(estimated.marker.pattern, "estimated bars are hatched");
  assert.deepEqual(estimated.x.filter((x) => x !== null), [25.9]);
  assert.equal((html.match(/\/\*distill:plotly-lib\*\//g) ?? []).length, 1, "plotly inlined once");
  assert.doesNotMatch(html, /<script[^>]*\bsrc=|<link[^>]*href="https?:/, "nothing fetched");
});

test("the verdict words follow the student's kappa, interval and the keyword baseline", () => {
  const word = (files: report.RunFile[]): string => report.summarizeRun("r", files).verdict.student;
  assert.equal(word(contractRun({ student: { meanKappa: 0.3, low: -0.02, high: 0.5 } })), "at chance");
  assert.equal(word(contractRun({ student: { meanKappa: 0.3, low: 0.1, high: 0.5 }, keyword: 0.35 })), "no better than the keyword rule");
  assert.equal(word(contractRun({ student: { meanKappa: 0.3, low: 0.1, high: 0.5 }, keyword: null })), "learned");
  const s = report.summarizeRun("r", contractRun({ student: { meanKappa: 0.3, low: 0.1, high: 0.5 }, keyword: 0.35 }));
  assert.match(report.verdictLine(s), /: a keyword rule does as well\./);
  assert.match(report.verdictLine(report.summarizeRun("r", contractRun({ teacherKappa: 0.05 }))), /^Verdict: learned/);
  assert.equal(report.summarizeRun("r", contractRun({ teacherKappa: 0.05 })).verdict.teacher, "at chance");
  assert.match(text(report.runPageHtml("r", contractRun({ teacherKappa: 0.05 }))), /mean κ 0\.05, .*: at chance, so the student can only learn noise from it\./);
  assert.match(text(report.runPageHtml("r", contractRun({ teacherKappa: 0.5 }))), /: partly agrees, so the student can at best learn what the teacher gets right\./);
});

test("a run from before the contract keys: mean kappa and cost bases derived, the rest 'not measured'", () => {
  const s = report.summarizeRun("old", todayRun());
  // Mean of the defined per-field kappas (0.05, -0.02, 0.01, 0.0; the undefined one left out).
  assert.ok(Math.abs(s.inference!.meanKappa! - 0.01) < 1e-12);
  assert.equal(s.inference!.meanKappaCi, null);
  assert.equal(s.verdict.student, "at chance");
  assert.equal(s.verdict.teacher, "not measured");
  // The student's GPU row was priced from a throughput measured on a CPU: an estimate; API rows are list prices.
  const student = s.cost!.rows.find((r) => r.kind === "student")!;
  assert.equal(student.basis, "estimated");
  assert.match(student.basisNote!, /measured on AMD EPYC \(2 cores, CPU\)/);
  assert.ok(s.cost!.rows.filter((r) => r.kind !== "student").every((r) => r.basis === "list price"));
  assert.equal(s.derived.length, 3, s.derived.join("\n"));
  const t = text(report.runPageHtml("old", todayRun()));
  assert.match(t, /At chance\. The student .* on 9\.2% of labels, mean κ 0\.01 \(interval not measured\): below κ 0\.1, no better than guessing\. Baselines: keyword rule κ not measured, majority rule κ not measured\./i);
  assert.match(t, /Teacher vs reference labels: not measured in this run\./);
  assert.match(t, /keyword rule vs teacher not measured not measured/);
  assert.match(t, /Mean kappa was derived from the per-field kappas/);
  assert.match(t, /Cost bases .* were derived/);
  assert.match(t, /\$4,719/);
  assert.match(t, /sampleSize = 100/, "without recorded defaults, every given parameter is listed");
});

test("changed parameters are the ones that differ from npm start's, nested ones by their dotted name", () => {
  const s = report.summarizeRun("r", contractRun({ changed: { sampleSize: 300, hyperparameters: { max_steps: 40 } } }));
  assert.deepEqual(s.changed, [{ name: "sampleSize", value: 300, default: 100 }, { name: "hyperparameters.max_steps", value: 40 }]);
  assert.deepEqual(report.summarizeRun("r", contractRun()).changed, []);
  assert.match(text(report.runPageHtml("r", contractRun())), /changed parameters none \(the npm start defaults\)/);
});

test("a failed run says where it failed; kappa undefined everywhere says the labels are constant", () => {
  const failed = report.runPageHtml("f", todayRun({ failIn: "2-fine-tune" }));
  assert.match(text(failed), /failed in 2-fine-tune: Error: the teacher server is unreachable/);
  assert.match(text(failed), /not measured/);
  const constant = report.summarizeRun("c", todayRun({ kappas: [null, null, null, null, null] }));
  assert.equal(constant.verdict.student, "not measured");
  assert.match(report.verdictLine(constant), /kappa is undefined on every field: the labels are constant/);
  assert.equal(report.summarizeRun("e", []).ok, false);
  assert.match(report.runPageHtml("e", []), /not measured/);
});

test("text from run.json is escaped on the page", () => {
  const files = contractRun();
  (files[0].record.results!.label as { teacher: string }).teacher = '<img src=x onerror="alert(1)">';
  (files[2].record.results!.inference as { teacher?: string }).teacher = undefined;
  const html = report.runPageHtml("r", files);
  assert.doesNotMatch(html, /<img src=x/);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
});
