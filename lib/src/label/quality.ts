// Teacher quality: how well a teacher's labels agree with human reference labels, where the two overlap, per field
// (agreement and Cohen's kappa, the same arithmetic as the student's evaluation in notebook 3: ../agreement.ts), next
// to the inter-annotator agreement of the reference itself (a second, independent pass over some of its records) as
// the ceiling: no teacher or student can be measured as better than two careful people agree with each other.
// The reference is a labels file like any other (file.ts reads it); data/reference-labels/ holds the project's.
import * as fs from "node:fs";
import * as path from "node:path";
import { evaluateAgreement, meanKappa, type EvalTask, type Evaluation } from "../agreement";
import * as paths from "../paths";
import { parseLabels, type Labels, type Task } from "../task";
import { readLabelsFile } from "./file";

export interface FieldScore {
  field: string;
  agreement: number;
  kappa: number | null;
}

/** Agreement and kappa of some labels against others (run.json's results use this shape everywhere). */
export interface Score {
  n: number;
  agreement: number;
  meanKappa: number | null;
  perField: FieldScore[];
}

export interface TeacherScore extends Score {
  name: string;
  role: "teacher" | "live check";
  /** Records of the reference this teacher was asked for but gave no valid labels (left out of n). */
  failed: number;
}

export interface TeacherQuality {
  /** The reference labels file (its project path). */
  reference: string;
  /** Inter-annotator agreement (the second pass against the reference); null when there is no second pass. */
  ceiling: Score | null;
  teachers: TeacherScore[];
  /** Teachers that could not be scored, and why. */
  notes: string[];
}

export interface Reference {
  file: string;
  labels: Map<string, Labels>;
  /** An independent second labeling of some of the same records, when there is one. */
  secondPass: Map<string, Labels> | null;
}

/** A labels file whose every label must fit the task: reference labels with a broken row are not a reference. */
async function readCleanLabels(task: Task, file: string): Promise<{ name: string; labels: Map<string, Labels> }> {
  const read = await readLabelsFile(task, file);
  const labels = new Map<string, Labels>();
  const bad: string[] = [];
  for (const [id, row] of read.byId) {
    const parsed = parseLabels(task, row.labels);
    if (parsed.ok) labels.set(id, parsed.labels);
    else bad.push(`${read.unit} ${row.row} (${id}): ${parsed.error}`);
  }
  if (bad.length > 0) throw new Error(`Reference labels ${read.name}: ${bad.length} row(s) do not fit task "${task.name}":\n  - ${bad.slice(0, 5).join("\n  - ")}`);
  return { name: read.name, labels };
}

/**
 * Read reference labels (any labels file: JSONL, CSV, Parquet of {id, labels}) and, when there is one, the second
 * pass: `secondPassFile`, by default second-pass.jsonl beside the reference.
 */
export async function readReference(task: Task, file: string, secondPassFile?: string): Promise<Reference> {
  const ref = await readCleanLabels(task, file);
  const second = secondPassFile ?? path.join(path.dirname(paths.resolve(file)), "second-pass.jsonl");
  const hasSecond = fs.existsSync(paths.resolve(second)) && paths.resolve(second) !== paths.resolve(file);
  return { file: ref.name, labels: ref.labels, secondPass: hasSecond ? (await readCleanLabels(task, second)).labels : null };
}

/** An evaluation in run.json's Score shape. */
export function scoreOf(e: Pick<Evaluation, "records" | "agreement" | "perField">): Score {
  return {
    n: e.records,
    agreement: e.agreement,
    meanKappa: meanKappa(e),
    perField: e.perField.map((f) => ({ field: f.field, agreement: f.agreement, kappa: f.kappa.value })),
  };
}

/** Labels scored against the reference on the records both have (labels null = the teacher failed: left out).
 *  Null when they share no record. */
export function scoreAgainst(task: EvalTask, reference: Map<string, Labels>, rows: readonly { id: string; labels: Labels | null }[]): Score | null {
  const both = rows.filter((r) => r.labels && reference.has(r.id));
  if (both.length === 0) return null;
  const e = evaluateAgreement(
    task,
    both.map((r) => ({ id: r.id, labels: reference.get(r.id)! })),
    both.map((r) => ({ id: r.id, labels: r.labels })),
    { resamples: 0 },
  );
  return scoreOf(e);
}

/** Each teacher scored against the reference, and the ceiling. A teacher that shares no record with the reference
 *  is left out with a note. */
export function teacherQuality(
  task: EvalTask,
  reference: Reference,
  teachers: readonly { name: string; role: TeacherScore["role"]; rows: readonly { id: string; labels: Labels | null }[] }[],
): TeacherQuality {
  const notes: string[] = [];
  const scored: TeacherScore[] = [];
  for (const t of teachers) {
    const s = scoreAgainst(task, reference.labels, t.rows);
    if (s === null) {
      notes.push(`${t.name}: labeled no record that has a reference label in ${reference.file}, so its quality is not measured.`);
      continue;
    }
    const failed = t.rows.filter((r) => !r.labels && reference.labels.has(r.id)).length;
    scored.push({ name: t.name, role: t.role, ...s, failed });
  }
  const ceiling = reference.secondPass ? scoreAgainst(task, reference.labels, [...reference.secondPass].map(([id, labels]) => ({ id, labels }))) : null;
  return { reference: reference.file, ceiling, teachers: scored, notes };
}

const fmt = (x: number | null): string => (x === null ? "n/a" : x.toFixed(2));

/** One row per labeler (the ceiling first): records, agreement, mean kappa, and "agreement / kappa" per field. */
export function qualityTable(q: TeacherQuality): Record<string, string | number>[] {
  const row = (name: string, role: string, s: Score, failed?: number): Record<string, string | number> => ({
    labels: name,
    role,
    records: s.n,
    failed: failed ?? "",
    agreement: fmt(s.agreement),
    "mean κ": fmt(s.meanKappa),
    ...Object.fromEntries(s.perField.map((f) => [f.field, `${fmt(f.agreement)} / κ ${fmt(f.kappa)}`])),
  });
  return [
    ...(q.ceiling ? [row("second annotator", "ceiling: inter-annotator agreement", q.ceiling)] : []),
    ...q.teachers.map((t) => row(t.name, t.role, t, t.failed)),
  ];
}
