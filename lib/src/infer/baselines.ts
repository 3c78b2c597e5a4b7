// Baselines that need no model, scored on the student's test rows with the same evaluation as the student: the
// majority class per field (learned from the train split's labels) and the task file's keyword rules (keywords.ts).
// A student that does not beat the keyword rules has learned nothing a model is needed for. Also the bootstrap
// interval of the mean kappa, which the headline reports beside the student's mean kappa.
import { evaluateAgreement, isValidValue, meanKappa, percentile, seededRandom, type EvalTask, type Evaluation, type Interval } from "../agreement";
import { applyKeywordRules } from "../keywords";
import { scoreOf, type FieldScore } from "../label";
import { bar, groupedBar, type Figure } from "../report/plots";
import type { Labels, Task } from "../task";

export type BaselineKind = "api" | "keyword" | "majority";

export interface Baseline {
  name: string;
  kind: BaselineKind;
  /** Null when the baseline did not run (an API model without a key). */
  evaluation: Evaluation | null;
  note: string;
}

/** Per field, the value the rows give most often (ties: the first in the field's class order: false before true). */
export function majorityLabels(task: Task, rows: readonly { labels: Labels | null }[]): Labels {
  const labeled = rows.filter((r) => r.labels);
  if (labeled.length === 0) throw new Error("majorityLabels: no labeled rows to count (the train split is empty)");
  const out: Labels = {};
  for (const f of task.fields) {
    const counts = new Map<string, { value: Labels[string]; n: number }>();
    for (const r of labeled) {
      const v = r.labels![f.name];
      const key = JSON.stringify(v);
      counts.set(key, { value: v, n: (counts.get(key)?.n ?? 0) + 1 });
    }
    const order = f.type === "boolean" ? [false, true] : f.type === "enum" ? f.values! : [...counts.values()].map((c) => c.value).sort();
    let best: { value: Labels[string]; n: number } | null = null;
    for (const value of order) {
      const c = counts.get(JSON.stringify(value));
      if (c && (best === null || c.n > best.n)) best = c;
    }
    out[f.name] = best!.value;
  }
  return out;
}

type Row = { id: string; labels: Labels | null; text: string };

function scoreOn(task: Task, test: readonly Row[], labelsOf: (r: Row) => Labels, seed: number): Evaluation {
  const teacher = test.filter((r) => r.labels).map((r) => ({ id: r.id, labels: r.labels! }));
  const byId = new Map(test.map((r) => [r.id, r]));
  return evaluateAgreement(task, teacher, teacher.map((t) => ({ id: t.id, labels: labelsOf(byId.get(t.id)!) })), { seed });
}

/** The majority class of the train rows, answered for every test row. */
export function majorityBaseline(task: Task, train: readonly { labels: Labels | null }[], test: readonly Row[], seed = 0): Baseline {
  const majority = majorityLabels(task, train);
  const said = task.fields.map((f) => `${f.name}=${String(majority[f.name])}`).join(", ");
  return { name: "majority class", kind: "majority", evaluation: scoreOn(task, test, () => majority, seed), note: `learned from ${train.length} train records: ${said}` };
}

/** The task file's keyword rules on every test row; null when the task has none. */
export function keywordBaseline(task: Task, test: readonly Row[], seed = 0): Baseline | null {
  const rules = task.keywordRules;
  if (!rules) return null;
  return { name: "keyword rules", kind: "keyword", evaluation: scoreOn(task, test, (r) => applyKeywordRules(rules, r.text), seed), note: `keyword_rules of ${task.name}: no model, regular expressions per field` };
}

/** Both model-free baselines (the keyword one only when the task has rules). */
export function modelFreeBaselines(task: Task, train: readonly { labels: Labels | null }[], test: readonly Row[], seed = 0): Baseline[] {
  const keyword = keywordBaseline(task, test, seed);
  return [majorityBaseline(task, train, test, seed), ...(keyword ? [keyword] : [])];
}

/** run.json's results.inference.baselines entries. */
export function baselineResults(baselines: readonly Baseline[]): { name: string; kind: BaselineKind; agreement: number | null; meanKappa: number | null; perField?: FieldScore[]; note: string }[] {
  return baselines.map((b) => ({
    name: b.name,
    kind: b.kind,
    agreement: b.evaluation?.agreement ?? null,
    meanKappa: b.evaluation ? meanKappa(b.evaluation) : null,
    ...(b.evaluation && { perField: scoreOf(b.evaluation).perField }),
    note: b.note,
  }));
}

/** Kappa per field, one bar per model: where the student stands against the baselines. */
export function kappaFigure(models: readonly { name: string; evaluation: Evaluation }[], title = "Cohen's kappa per field, student and baselines"): Figure {
  const fields = models[0]?.evaluation.fields ?? [];
  return groupedBar(fields, models.map((m) => ({ name: m.name, y: m.evaluation.perField.map((f) => f.kappa.value ?? NaN) })), { title, yTitle: "kappa (1 = perfect, 0 = chance)" });
}

/** Mean kappa per model as bars, for a quick look. */
export function meanKappaFigure(models: readonly { name: string; evaluation: Evaluation }[]): Figure {
  return bar(models.map((m) => m.name), models.map((m) => meanKappa(m.evaluation) ?? NaN), { title: "Mean kappa over the fields", yTitle: "mean kappa" });
}

/**
 * Percentile bootstrap interval of the mean kappa: records resampled with replacement, every field's kappa
 * recomputed (a field whose kappa is undefined in a resample is left out of that resample's mean). Null when the
 * mean is undefined in most resamples, or with resamples 0.
 */
export function meanKappaInterval(task: EvalTask, evaluation: Evaluation, o: { resamples?: number; seed?: number; confidence?: number } = {}): Interval | null {
  const resamples = o.resamples ?? evaluation.bootstrap.resamples;
  const confidence = o.confidence ?? evaluation.bootstrap.confidence;
  const n = evaluation.perRecord.length;
  if (resamples <= 0 || n === 0) return null;
  // Per field and record: the teacher's class index and the student's (-1: no valid answer).
  const coded = evaluation.perField.map((pf, f) => {
    const spec = { ...task.fields[f], values: pf.confusion.classes };
    const index = new Map(pf.confusion.classes.map((c, i) => [c, i]));
    const key = (v: unknown) => index.get(typeof v === "string" ? v : String(v));
    const teacher = evaluation.perRecord.map((r) => key(r.teacher[pf.field])!);
    const student = evaluation.perRecord.map((r) => {
      const v = r.student?.[pf.field];
      return r.student && pf.field in r.student && isValidValue(spec, v) ? (key(v) ?? -1) : -1;
    });
    return { classes: pf.confusion.classes.length, teacher, student };
  });
  const random = seededRandom(o.seed ?? evaluation.bootstrap.seed);
  const means: number[] = [];
  const picks = new Int32Array(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) picks[i] = Math.floor(random() * n);
    let sum = 0;
    let defined = 0;
    for (const c of coded) {
      const t = new Float64Array(c.classes);
      const s = new Float64Array(c.classes);
      let matches = 0;
      for (const i of picks) {
        t[c.teacher[i]]++;
        if (c.student[i] >= 0) s[c.student[i]]++;
        if (c.student[i] === c.teacher[i]) matches++;
      }
      let expected = 0;
      for (let k = 0; k < c.classes; k++) expected += (t[k] / n) * (s[k] / n);
      if (expected >= 1 - 1e-12) continue;
      sum += (matches / n - expected) / (1 - expected);
      defined++;
    }
    if (defined > 0) means.push(sum / defined);
  }
  if (means.length < resamples / 2) return null;
  const sorted = Float64Array.from(means).sort();
  const tail = (1 - confidence) / 2;
  return { low: percentile(sorted, tail), high: percentile(sorted, 1 - tail) };
}
