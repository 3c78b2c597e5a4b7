// Reading an evaluation: the records where student and teacher disagree, agreement by group (source book), and a
// table comparing several models. Pure TypeScript, like ../agreement.ts.
import { bootstrapInterval, listSome, randomPicks, type EvalTask, type EvaluateOptions, type Evaluation, type Interval, type Labels, type RecordEvaluation } from "../agreement";

export interface Disagreement {
  id: string;
  text: string;
  /** Fields where the student differs from the teacher. */
  fields: string[];
  teacher: Labels;
  student: Labels | null;
  error: string | null;
}

/**
 * Records where the student and the teacher differ, with their text, to read by eye. `field` keeps those that differ
 * on that field; `seed` picks at random (like the original's five random examples) instead of taking them in order.
 */
export function disagreements(
  task: EvalTask,
  rows: readonly { id: string; text: string }[],
  evaluation: Evaluation,
  opts: { field?: string; limit?: number; seed?: number } = {},
): Disagreement[] {
  if (opts.field !== undefined && !task.fields.some((f) => f.name === opts.field)) {
    throw new Error(`unknown field ${JSON.stringify(opts.field)}; the task's fields are ${task.fields.map((f) => f.name).join(", ")}`);
  }
  const textById = new Map(rows.map((r) => [r.id, r.text]));
  let differing = evaluation.perRecord.filter((r) =>
    opts.field === undefined ? r.disagree.length > 0 : r.disagree.includes(opts.field),
  );
  const lacking = differing.filter((r) => !textById.has(r.id)).map((r) => r.id);
  if (lacking.length > 0) throw new Error(`no text for ${lacking.length} evaluated ids: ${listSome(lacking)}`);
  const limit = opts.limit ?? differing.length;
  differing = opts.seed === undefined ? differing.slice(0, limit) : randomPicks(differing, limit, opts.seed);
  return differing.map((r) => ({
    id: r.id,
    text: textById.get(r.id)!,
    fields: r.disagree,
    teacher: r.teacher,
    student: r.student,
    error: r.error,
  }));
}

export interface GroupAgreement {
  group: string;
  records: number;
  agreement: number;
  ci: Interval | null;
  parseFailures: number;
  /** Per-field agreement, keyed by field name. */
  perField: Record<string, number>;
}

/**
 * Agreement within each group (e.g. the source book: CorpusRecord.group), largest group first, for the plots.
 * Intervals come from a seeded bootstrap within each group.
 */
export function agreementByGroup(
  evaluation: Evaluation,
  rows: readonly { id: string; group: string }[],
  opts: { resamples?: number; seed?: number; confidence?: number } = {},
): GroupAgreement[] {
  const groupById = new Map(rows.map((r) => [r.id, r.group]));
  const lacking = evaluation.perRecord.filter((r) => !groupById.has(r.id)).map((r) => r.id);
  if (lacking.length > 0) throw new Error(`no group for ${lacking.length} evaluated ids: ${listSome(lacking)}`);
  const byGroup = new Map<string, RecordEvaluation[]>();
  for (const r of evaluation.perRecord) {
    const g = groupById.get(r.id)!;
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(r);
  }
  const options: Required<EvaluateOptions> = {
    resamples: opts.resamples ?? evaluation.bootstrap.resamples,
    seed: opts.seed ?? evaluation.bootstrap.seed,
    confidence: opts.confidence ?? evaluation.bootstrap.confidence,
  };
  const width = evaluation.fields.length;
  const result: GroupAgreement[] = [];
  for (const [group, records] of byGroup) {
    const matchRows = records.map((r) => [width - r.disagree.length]);
    const perField: Record<string, number> = {};
    for (const name of evaluation.fields) {
      perField[name] = records.filter((r) => !r.disagree.includes(name)).length / records.length;
    }
    result.push({
      group,
      records: records.length,
      agreement: records.reduce((a, r) => a + r.agreement, 0) / records.length,
      ci: bootstrapInterval(matchRows, width, options)[0] ?? null,
      parseFailures: records.filter((r) => r.student === null).length,
      perField,
    });
  }
  return result.sort((a, b) => b.records - a.records || a.group.localeCompare(b.group));
}

/** One flat row per model: plain objects a notebook can hand to danfojs (`new dfd.DataFrame(rows)`). */
export type ComparisonRow = Record<string, string | number | null>;

/**
 * Compare models (the student, baselines such as the API model with the same prompt) on the same teacher labels.
 * Columns: model, records, agreement, ci_low, ci_high, exact_match, one agreement column per field, mean_kappa
 * (mean of the defined kappas; null when none is), parse_failures, parse_failure_rate.
 */
export function comparisonTable(models: readonly { name: string; evaluation: Evaluation }[]): ComparisonRow[] {
  return models.map(({ name, evaluation: e }) => {
    const kappas = e.perField.map((f) => f.kappa.value).filter((k): k is number => k !== null);
    const row: ComparisonRow = {
      model: name,
      records: e.records,
      agreement: e.agreement,
      ci_low: e.ci?.low ?? null,
      ci_high: e.ci?.high ?? null,
      exact_match: e.exactMatch,
    };
    for (const f of e.perField) row[f.field] = f.agreement;
    row.mean_kappa = kappas.length > 0 ? kappas.reduce((a, b) => a + b, 0) / kappas.length : null;
    row.parse_failures = e.parseFailures;
    row.parse_failure_rate = e.parseFailureRate;
    return row;
  });
}
