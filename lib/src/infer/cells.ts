// What notebook 3 (inference) calls besides infer: the test set and the student to run, agreement with the teacher
// and its figures, the disagreements, baselines from other API models, and the evaluation notebook 4 reads back.
import * as fs from "node:fs";
import * as path from "node:path";
import { AnswerStore, labelRecords, readLabeled, teacherConfig, type LabeledRow } from "../label";
import type { Workspace } from "../paths";
import type { Prices } from "../prices";
import { bar as progressBar } from "../progress";
import { checkStudent } from "../train/student";
import { bar, heatmap, type Figure } from "../report/plots";
import type { Task } from "../task";
import type { Baseline } from "./baselines";
import { agreementByGroup, disagreements } from "./compare";
import { evaluateAgreement, type Evaluation } from "../agreement";
import { readPredictions, studentRows, type Prediction } from "./predictions";

/** The test rows in test.jsonl's order (infer output joins back by index) with the teacher's labels. */
export function testSet(ws: Workspace): LabeledRow[] {
  return readLabeled(ws.labeled).filter((r) => r.split === "test" && r.labels);
}

/** The train rows with their labels (what the student learned from; the majority baseline counts them). */
export function trainSet(ws: Workspace): LabeledRow[] {
  return readLabeled(ws.labeled).filter((r) => r.split === "train" && r.labels);
}

/** Who labeled these rows (the teacher of record in notebook 1; names joined if several). */
export function teacherOf(rows: readonly LabeledRow[]): string {
  return [...new Set(rows.map((r) => r.teacherModel))].join(", ");
}

/**
 * The model the student runs as: the merged folder when notebook 2 merged this student, else base + adapter. Refuses,
 * saying why, a student that is not what the last training made (student.json: a failed or unfinished training, a
 * train file changed since); see train/student.ts.
 */
export function studentModel(ws: Workspace, baseModel: string): { model: string | null; merged_dir: string | null; adapter_dir: string | null } {
  const { useMerged } = checkStudent(ws.student, { mergedDir: ws.merged, adapterDir: ws.adapter, baseModel });
  return useMerged ? { model: null, merged_dir: ws.merged, adapter_dir: null } : { model: baseModel, merged_dir: null, adapter_dir: ws.adapter };
}

/** Join the predictions file (infer over test.jsonl) back to the test rows by index, and evaluate. */
export function evaluateStudent(task: Task, rows: LabeledRow[], predictionsFile: string, seed = 0): Evaluation {
  const predictions: Prediction[] = readPredictions(predictionsFile);
  const teacherRows = rows.map((r) => ({ id: r.id, labels: r.labels! }));
  return evaluateAgreement(task, teacherRows, studentRows(predictions, rows.map((r) => r.id)), { seed });
}

/** Per-field agreement with bootstrap 95% intervals, and the kappa beside each bar. */
export function perFieldFigure(evaluation: Evaluation, title = "Agreement with the teacher, per field"): Figure {
  const f = evaluation.perField;
  return bar(f.map((x) => x.field), f.map((x) => x.agreement), {
    title,
    yTitle: "agreement (95% CI)",
    yRange: [0, 1.1],
    errorLow: f.map((x) => x.ci?.low ?? x.agreement),
    errorHigh: f.map((x) => x.ci?.high ?? x.agreement),
    text: f.map((x) => (x.kappa.value === null ? "κ n/a" : `κ ${x.kappa.value.toFixed(2)}`)),
  });
}

export function confusionFigures(evaluation: Evaluation): Figure[] {
  return evaluation.perField.map((f) => {
    const z = f.confusion.counts.map((row, i) => [...row, f.confusion.noAnswer[i]]);
    return heatmap(z, [...f.confusion.classes.map((c) => `student ${c}`), "no answer"], f.confusion.classes.map((c) => `teacher ${c}`), { title: f.field });
  });
}

export function byGroupFigure(evaluation: Evaluation, rows: LabeledRow[]): Figure {
  const groups = agreementByGroup(evaluation, rows);
  return bar(groups.map((g) => `${g.group} (${g.records})`), groups.map((g) => g.agreement), {
    title: "Agreement by source book (held-out books)",
    yTitle: "agreement",
    yRange: [0, 1.1],
    errorLow: groups.map((g) => g.ci?.low ?? g.agreement),
    errorHigh: groups.map((g) => g.ci?.high ?? g.agreement),
  });
}

/** Disagreements as flat rows for a danfojs table: text, the differing fields, both labels. */
export function disagreementRows(task: Task, rows: LabeledRow[], evaluation: Evaluation, o: { field?: string; limit?: number; seed?: number } = {}): Record<string, string>[] {
  return disagreements(task, rows, evaluation, o).map((d) => ({
    id: d.id,
    fields: d.fields.join(", "),
    teacher: d.fields.map((f) => `${f}=${String(d.teacher[f])}`).join(" "),
    student: d.student ? d.fields.map((f) => `${f}=${String(d.student![f])}`).join(" ") : `unparseable: ${d.error ?? ""}`,
    text: d.text,
  }));
}

/** A baseline: the same test set labeled by another API model through the teacher (stored, budgeted like labeling). */
export async function baseline(task: Task, ws: Workspace, rows: LabeledRow[], model: string, o: { budgetUsd: number; prices: Prices; concurrency: number }): Promise<Baseline> {
  if (!process.env.OPENAI_API_KEY && !process.env.OPENAI_BASE_URL) return { name: model, kind: "api", evaluation: null, note: "skipped: set OPENAI_API_KEY (or OPENAI_BASE_URL) to compare with this model" };
  const config = teacherConfig({ provider: "openai", model, mode: "tool", concurrency: o.concurrency, budgetUsd: o.budgetUsd });
  const answers = AnswerStore.open(ws.store);
  const run = await labelRecords(task, rows.map((r) => ({ id: r.id, text: r.text, group: r.group, title: r.title })), config, { store: answers, prices: o.prices, onProgress: progressBar(`baseline ${model}`) });
  const student = run.results.map((r) => ({ id: r.id, labels: r.status === "ok" ? (r.labels ?? null) : null, error: r.error ?? null }));
  const evaluation = evaluateAgreement(task, rows.map((r) => ({ id: r.id, labels: r.labels! })), student);
  return { name: model, kind: "api", evaluation, note: `${run.totals.failed} failed, $${run.totals.costUsd.toFixed(4)}` };
}

/** Every baseline model in turn (each skips with a note when no key is set). */
export async function baselines(task: Task, ws: Workspace, rows: LabeledRow[], models: string[], o: { budgetUsd: number; prices: Prices; concurrency: number }): Promise<Baseline[]> {
  const out: Baseline[] = [];
  for (const model of models) out.push(await baseline(task, ws, rows, model, o));
  return out;
}

/** Evaluation summary kept in the workspace for notebook 4 (agreement per option for the Pareto plot). */
export function saveEvaluation(ws: Workspace, rows: { name: string; agreement: number; kappa: number | null }[]): void {
  fs.writeFileSync(path.join(ws.dir, "evaluation.json"), JSON.stringify(rows, null, 2) + "\n");
}

export function loadEvaluation(ws: Workspace): { name: string; agreement: number; kappa: number | null }[] {
  const f = path.join(ws.dir, "evaluation.json");
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as { name: string; agreement: number; kappa: number | null }[]) : [];
}
