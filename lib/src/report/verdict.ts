// Did the run work? The verdict words on the run page, from the student's mean kappa against its teacher, its 95%
// interval, and the keyword baseline; and how the teacher itself fares against the human reference labels.
// One small function per verdict, thresholds in one place, so the page, the CLI line and the tests agree.

/** Mean Cohen's kappa below this is read as chance agreement: Landis and Koch call 0-0.2 "slight", and at the
 *  test-set sizes of a CPU run (tens of records) a mean kappa under 0.1 is not told apart from guessing. */
export const CHANCE_KAPPA = 0.1;

/** A teacher within this fraction of the human ceiling (inter-annotator kappa) reads as "close to human agreement". */
export const NEAR_CEILING = 0.9;

export type StudentVerdict = "learned" | "no better than the keyword rule" | "at chance" | "not measured";

/**
 * The student against its teacher, in order:
 * - "not measured": no mean kappa (no inference results, or kappa undefined on every field: constant labels);
 * - "at chance": mean kappa < CHANCE_KAPPA (0.1), or its 95% bootstrap interval includes 0 (low <= 0);
 * - "no better than the keyword rule": the keyword baseline's mean kappa (same teacher, same test set) >= the student's;
 * - "learned": otherwise.
 * A missing interval or keyword baseline skips that rule (the page says "not measured" beside it).
 */
export function studentVerdict(s: { meanKappa: number | null; ci: { low: number; high: number } | null; keywordKappa: number | null }): StudentVerdict {
  if (s.meanKappa === null || !Number.isFinite(s.meanKappa)) return "not measured";
  if (s.meanKappa < CHANCE_KAPPA || (s.ci !== null && s.ci.low <= 0)) return "at chance";
  if (s.keywordKappa !== null && s.keywordKappa >= s.meanKappa) return "no better than the keyword rule";
  return "learned";
}

export type TeacherVerdict = "close to human agreement" | "partly agrees" | "at chance" | "not measured";

/**
 * The teacher of record against the human reference labels:
 * - "not measured": no score against the reference (no overlap, or a run before reference labels existed);
 * - "at chance": mean kappa < CHANCE_KAPPA (0.1);
 * - "close to human agreement": mean kappa >= NEAR_CEILING (0.9) x the ceiling (two human passes' kappa), when known;
 * - "partly agrees": otherwise: the student can at best learn what the teacher gets right.
 */
export function teacherVerdict(t: { meanKappa: number | null; ceilingKappa: number | null }): TeacherVerdict {
  if (t.meanKappa === null || !Number.isFinite(t.meanKappa)) return "not measured";
  if (t.meanKappa < CHANCE_KAPPA) return "at chance";
  if (t.ceilingKappa !== null && t.meanKappa >= NEAR_CEILING * t.ceilingKappa) return "close to human agreement";
  return "partly agrees";
}
