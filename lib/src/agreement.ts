// How well one labeling agrees with another: the student with the teacher (notebook 3), a teacher with the human
// reference labels (notebook 1's teacher quality), one annotator with another. Shared because both steps need the
// same arithmetic. Pure TypeScript: no I/O, no randomness except a seeded generator.
//
// The headline number is the original notebooks' metric: per record, the fraction of fields whose value equals the
// teacher's, averaged over records. With a fixed number of fields that is the micro-averaged field agreement.
// Rules that the original left open (it crashed on bad output):
// - a parse failure (student labels null) disagrees on every field;
// - a field missing from otherwise parsed labels, or holding a value of the wrong type / outside the enum, disagrees
//   on that field (and is counted as missing / invalid);
// - extra fields are ignored (and counted).
// Cohen's kappa treats "no valid answer" as one more student category that the teacher never uses, so it is
// computed over every record and p_o equals the field's agreement. When the chance agreement is 1 (both sides give
// one same label to every record) kappa is undefined: it is reported as null with the reason, never NaN.

/** The part of a task that evaluation needs (lib/src/task.ts's Task fits it). */
export interface EvalTask {
  fields: ReadonlyArray<{ name: string; type: string; values?: readonly string[] }>;
}

export type LabelValue = boolean | string | number;
export type Labels = Record<string, LabelValue>;

export interface TeacherRow {
  id: string;
  labels: Labels;
}

export interface StudentRow {
  id: string;
  /** null when the student's output could not be parsed. */
  labels: Labels | null;
  error?: string | null;
}

export interface EvaluateOptions {
  /** Bootstrap resamples for the confidence intervals (default 1000; 0 turns intervals off). */
  resamples?: number;
  /** Seed of the bootstrap (default 0): the same seed gives the same intervals. */
  seed?: number;
  /** Confidence level of the intervals (default 0.95). */
  confidence?: number;
}

/** A value with an explanation when it cannot be computed. */
export interface MaybeNumber {
  value: number | null;
  /** Why value is null; absent when value is a number. */
  reason?: string;
}

export interface Interval {
  low: number;
  high: number;
}

export interface ConfusionMatrix {
  /** Class names, in the order of rows (teacher) and columns (student). Booleans: ["false", "true"]. */
  classes: string[];
  /** counts[teacherClass][studentClass], over records where the student gave a valid value. */
  counts: number[][];
  /** Per teacher class: records where the student gave no valid value (parse failure, missing or invalid field). */
  noAnswer: number[];
}

export interface FieldEvaluation {
  field: string;
  type: string;
  agreement: number;
  ci: Interval | null;
  confusion: ConfusionMatrix;
  kappa: MaybeNumber;
  /** Booleans only (positive = true): of the records the student calls true, the share the teacher calls true. */
  precision: MaybeNumber;
  /** Booleans only: of the records the teacher calls true, the share the student calls true. */
  recall: MaybeNumber;
  /** Booleans only: share of records the teacher labels true. */
  teacherRate: MaybeNumber;
  /** Booleans only: share of the student's valid answers that are true. */
  studentRate: MaybeNumber;
  /** Parsed records that lack this field. */
  missing: number;
  /** Parsed records whose value has the wrong type or is not one of the enum's values. */
  invalid: number;
}

export interface RecordEvaluation {
  id: string;
  teacher: Labels;
  student: Labels | null;
  error: string | null;
  /** Field names where the student does not match the teacher (task order). */
  disagree: string[];
  /** Fraction of fields that match. */
  agreement: number;
}

export interface Evaluation {
  records: number;
  fields: string[];
  /** The original's metric: mean over records of the fraction of matching fields (= micro field agreement). */
  agreement: number;
  ci: Interval | null;
  /** Share of records where every field matches. */
  exactMatch: number;
  parseFailures: number;
  parseFailureRate: number;
  /** Extra (unknown) field names in parsed student labels, with how many records had each. */
  extraFields: Record<string, number>;
  perField: FieldEvaluation[];
  perRecord: RecordEvaluation[];
  bootstrap: { resamples: number; seed: number; confidence: number };
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32: small, fast, good enough for resampling and picking examples).

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n distinct items drawn at random (seeded, partial Fisher-Yates), in the order drawn; all of them when n >= length. */
export function randomPicks<T>(items: readonly T[], n: number, seed = 0): T[] {
  const pool = items.slice();
  const random = seededRandom(seed);
  const count = Math.min(Math.max(0, Math.floor(n)), pool.length);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

// ---------------------------------------------------------------------------------------------------------------

function classKey(value: LabelValue): string {
  return typeof value === "string" ? value : String(value);
}

export function isValidValue(field: EvalTask["fields"][number], value: unknown): value is LabelValue {
  switch (field.type) {
    case "boolean":
      return typeof value === "boolean";
    case "enum":
      return typeof value === "string" && (field.values ?? []).includes(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "string":
      return typeof value === "string";
    default:
      return value !== undefined && value !== null;
  }
}

export function listSome(ids: string[], max = 5): string {
  const shown = ids.slice(0, max).map((id) => JSON.stringify(id)).join(", ");
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}

function indexById<T extends { id: string }>(rows: readonly T[], side: string): Map<string, T> {
  const byId = new Map<string, T>();
  const duplicates: string[] = [];
  rows.forEach((row, i) => {
    if (typeof row.id !== "string" || row.id === "") {
      throw new Error(`${side} row ${i}: id must be a non-empty string, got ${JSON.stringify(row.id)}`);
    }
    if (byId.has(row.id)) duplicates.push(row.id);
    byId.set(row.id, row);
  });
  if (duplicates.length > 0) throw new Error(`${side} rows have duplicate ids: ${listSome(duplicates)}`);
  return byId;
}

function ratio(numerator: number, denominator: number, whenZero: string): MaybeNumber {
  return denominator === 0 ? { value: null, reason: whenZero } : { value: numerator / denominator };
}

export function percentile(sorted: Float64Array, q: number): number {
  // Linear interpolation between closest ranks (numpy's default).
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Percentile bootstrap over records. Row r of `matchesPerRecord` is [matching fields of record r out of `width`,
 * then 0/1 per field]. Returns one interval per column: the overall agreement, then each field's; none when off.
 */
export function bootstrapInterval(matchesPerRecord: number[][], width: number, opts: Required<EvaluateOptions>): Interval[] {
  const n = matchesPerRecord.length;
  const columns = matchesPerRecord[0]?.length ?? 0;
  if (opts.resamples <= 0 || n === 0) return [];
  const random = seededRandom(opts.seed);
  const stats = Array.from({ length: columns }, () => new Float64Array(opts.resamples));
  const sums = new Float64Array(columns);
  for (let b = 0; b < opts.resamples; b++) {
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const row = matchesPerRecord[Math.floor(random() * n)];
      for (let c = 0; c < columns; c++) sums[c] += row[c];
    }
    stats[0][b] = sums[0] / (n * width);
    for (let c = 1; c < columns; c++) stats[c][b] = sums[c] / n;
  }
  const tail = (1 - opts.confidence) / 2;
  return stats.map((s) => {
    s.sort();
    return { low: percentile(s, tail), high: percentile(s, 1 - tail) };
  });
}

/**
 * Compare the student's labels with the teacher's, joined by id. Every teacher id needs a student row and the other
 * way round (an error names the missing ones). Teacher labels must be complete and valid for the task.
 */
export function evaluateAgreement(
  task: EvalTask,
  teacher: readonly TeacherRow[],
  student: readonly StudentRow[],
  opts: EvaluateOptions = {},
): Evaluation {
  const options: Required<EvaluateOptions> = {
    resamples: opts.resamples ?? 1000,
    seed: opts.seed ?? 0,
    confidence: opts.confidence ?? 0.95,
  };
  if (!(options.confidence > 0 && options.confidence < 1)) {
    throw new Error(`confidence must be between 0 and 1, got ${options.confidence}`);
  }
  const fields = task.fields;
  if (fields.length === 0) throw new Error("the task has no fields to evaluate");
  const fieldNames = fields.map((f) => f.name);

  const teacherById = indexById(teacher, "teacher");
  const studentById = indexById(student, "student");
  const lackStudent = [...teacherById.keys()].filter((id) => !studentById.has(id));
  const lackTeacher = [...studentById.keys()].filter((id) => !teacherById.has(id));
  if (lackStudent.length > 0 || lackTeacher.length > 0) {
    const parts: string[] = [];
    if (lackStudent.length > 0) parts.push(`${lackStudent.length} teacher ids have no student prediction: ${listSome(lackStudent)}`);
    if (lackTeacher.length > 0) parts.push(`${lackTeacher.length} student ids have no teacher label: ${listSome(lackTeacher)}`);
    throw new Error(`teacher and student rows do not match by id: ${parts.join("; ")}`);
  }

  // Classes per field: booleans and enums are fixed; integers and strings are the values seen on either side.
  const classesOf = fields.map((f) => {
    if (f.type === "boolean") return ["false", "true"];
    if (f.type === "enum") return [...(f.values ?? [])];
    return [] as string[];
  });
  const fixedClasses = fields.map((f) => f.type === "boolean" || f.type === "enum");

  const perRecord: RecordEvaluation[] = [];
  const matchRows: number[][] = []; // [total matches, match field 0, match field 1, ...]
  const teacherValues: string[][] = fields.map(() => []);
  const studentValues: (string | null)[][] = fields.map(() => []);
  const missing = fields.map(() => 0);
  const invalid = fields.map(() => 0);
  const extraFields: Record<string, number> = {};
  let parseFailures = 0;
  let exact = 0;

  for (const t of teacher) {
    if (!t.labels) throw new Error(`teacher row ${JSON.stringify(t.id)} has no labels (the teacher failed on it): leave failed rows out`);
    const s = studentById.get(t.id)!;
    if (s.labels === null || s.labels === undefined) parseFailures++;
    else {
      for (const key of Object.keys(s.labels)) {
        if (!fieldNames.includes(key)) extraFields[key] = (extraFields[key] ?? 0) + 1;
      }
    }
    const matchRow = [0];
    const disagree: string[] = [];
    fields.forEach((field, f) => {
      const tv: unknown = t.labels?.[field.name];
      if (!isValidValue(field, tv)) {
        throw new Error(
          `teacher row ${JSON.stringify(t.id)}: field ${field.name} must be a valid ${field.type}, got ${JSON.stringify(tv)}`,
        );
      }
      teacherValues[f].push(classKey(tv));
      let sv: string | null = null;
      if (s.labels) {
        const raw: unknown = s.labels[field.name];
        if (!(field.name in s.labels)) missing[f]++;
        else if (!isValidValue(field, raw)) invalid[f]++;
        else sv = classKey(raw);
      }
      studentValues[f].push(sv);
      const match = sv !== null && s.labels![field.name] === tv ? 1 : 0;
      matchRow.push(match);
      matchRow[0] += match;
      if (!match) disagree.push(field.name);
    });
    if (disagree.length === 0) exact++;
    matchRows.push(matchRow);
    perRecord.push({
      id: t.id,
      teacher: t.labels,
      student: s.labels ?? null,
      error: s.error ?? (s.labels ? null : "unparseable output"),
      disagree,
      agreement: matchRow[0] / fields.length,
    });
  }

  const n = teacher.length;
  if (n === 0) throw new Error("nothing to evaluate: the teacher rows are empty");
  const intervals = bootstrapInterval(matchRows, fields.length, options);

  const perField: FieldEvaluation[] = fields.map((field, f) => {
    let classes = classesOf[f];
    if (!fixedClasses[f]) {
      const seen = new Set<string>(teacherValues[f]);
      for (const v of studentValues[f]) if (v !== null) seen.add(v);
      classes = [...seen].sort();
    }
    const index = new Map(classes.map((c, i) => [c, i]));
    const counts = classes.map(() => classes.map(() => 0));
    const noAnswer = classes.map(() => 0);
    let matches = 0;
    for (let r = 0; r < n; r++) {
      const ti = index.get(teacherValues[f][r])!;
      const sv = studentValues[f][r];
      if (sv === null) noAnswer[ti]++;
      else counts[ti][index.get(sv)!]++;
      matches += matchRows[r][f + 1];
    }
    const agreement = matches / n;

    // Kappa over all n records; "no answer" is a student category the teacher never uses, so it adds nothing to p_e.
    let expected = 0;
    for (let k = 0; k < classes.length; k++) {
      const teacherShare = (counts[k].reduce((a, b) => a + b, 0) + noAnswer[k]) / n;
      const studentShare = counts.reduce((a, row) => a + row[k], 0) / n;
      expected += teacherShare * studentShare;
    }
    const kappa: MaybeNumber =
      expected >= 1 - 1e-12
        ? {
            value: null,
            reason: `undefined: teacher and student give every record the same label (${JSON.stringify(teacherValues[f][0])}), so chance agreement is 1`,
          }
        : { value: (agreement - expected) / (1 - expected) };

    const notBoolean = "only defined for boolean fields (positive = true)";
    let precision: MaybeNumber = { value: null, reason: notBoolean };
    let recall: MaybeNumber = { value: null, reason: notBoolean };
    let teacherRate: MaybeNumber = { value: null, reason: notBoolean };
    let studentRate: MaybeNumber = { value: null, reason: notBoolean };
    if (field.type === "boolean") {
      const [F, T] = [0, 1];
      const truePositive = counts[T][T];
      const studentTrue = counts[F][T] + counts[T][T];
      const teacherTrue = counts[T][F] + counts[T][T] + noAnswer[T];
      const studentAnswered = studentTrue + counts[F][F] + counts[T][F];
      precision = ratio(truePositive, studentTrue, "undefined: the student never answers true");
      recall = ratio(truePositive, teacherTrue, "undefined: the teacher never answers true");
      teacherRate = { value: teacherTrue / n };
      studentRate = ratio(studentTrue, studentAnswered, "undefined: the student never gives a valid answer");
    }
    return {
      field: field.name,
      type: field.type,
      agreement,
      ci: intervals[f + 1] ?? null,
      confusion: { classes, counts, noAnswer },
      kappa,
      precision,
      recall,
      teacherRate,
      studentRate,
      missing: missing[f],
      invalid: invalid[f],
    };
  });

  const totalMatches = matchRows.reduce((a, row) => a + row[0], 0);
  return {
    records: n,
    fields: fieldNames,
    agreement: totalMatches / (n * fields.length),
    ci: intervals[0] ?? null,
    exactMatch: exact / n,
    parseFailures,
    parseFailureRate: parseFailures / n,
    extraFields,
    perField,
    perRecord,
    bootstrap: { ...options },
  };
}

/** Mean of the fields' kappas that are defined; null when none is. */
export function meanKappa(evaluation: Pick<Evaluation, "perField">): number | null {
  const ks = evaluation.perField.map((f) => f.kappa.value).filter((k): k is number => k !== null);
  return ks.length ? ks.reduce((a, b) => a + b, 0) / ks.length : null;
}
