// One run, summarised from its run.json records (one per notebook) for the run page and the runs table. run.json is
// the one source: nothing here measures anything, it only reads, normalises and derives. Every results key is
// optional: runs written before a key existed still summarise, the missing parts come out null ("not measured" on
// the page), and what had to be derived rather than read is listed in `derived`.
import { studentVerdict, teacherVerdict, type StudentVerdict, type TeacherVerdict } from "./verdict";

/** run.json as the pages read it: loose on purpose, since runs from older versions lack newer fields. */
export interface RunJson {
  runId?: string;
  notebook?: string;
  profile?: string | null;
  parameters?: Record<string, unknown>;
  /** What the parameters would have been under `npm start` (notebook defaults + the default profile). */
  defaults?: Record<string, unknown>;
  git?: { commit: string | null; dirty: boolean | null };
  hardware?: { cpu: string; cores: number; memoryGiB: number; gpu: string | null };
  start?: string;
  seconds?: number;
  ok?: boolean;
  error?: { index: number; text: string } | null;
  results?: Record<string, unknown>;
}

/** A run.json and where it lies, relative to the run's folder ("3-inference/run.json"). */
export interface RunFile { path: string; record: RunJson }

export interface FieldScore { field: string; agreement: number | null; kappa: number | null }
export interface Score { n: number | null; agreement: number | null; meanKappa: number | null; perField: FieldScore[] }
export type Basis = "measured" | "estimated" | "list price";
export interface CostRow { option: string; kind: string; usdPerCorpus: number; usdPerRecord: number | null; basis: Basis; basisNote: string | null }
export interface Baseline { name: string; kind: "api" | "keyword" | "majority"; agreement: number | null; meanKappa: number | null; perField: FieldScore[]; note: string | null }

export interface RunSummary {
  runId: string;
  date: string | null;
  profile: string | null;
  ok: boolean;
  /** The first notebook that failed, with the start of its error. */
  failure: { notebook: string; text: string } | null;
  notebooks: { name: string; ok: boolean; seconds: number | null; html: string; runJson: string }[];
  seconds: number | null;
  git: { commit: string | null; dirty: boolean | null };
  hardware: RunJson["hardware"] | null;
  /** Parameters that differ from `npm start`'s (flattened: "hyperparameters.max_steps"); all given ones for runs
   *  that did not record defaults. */
  changed: { name: string; value: unknown; default?: unknown }[];
  parameters: Record<string, unknown>;
  teacher: string | null;
  student: string | null;
  inference: { agreement: number | null; agreementCi: { low: number; high: number } | null; meanKappa: number | null; meanKappaCi: { low: number; high: number } | null; perField: FieldScore[]; n: number | null } | null;
  baselines: Baseline[];
  teacherQuality: { reference: string; ceiling: Score | null; teacher: (Score & { name: string }) | null; liveChecks: (Score & { name: string })[] } | null;
  cost: { corpusSize: number | null; rows: CostRow[]; teacherRow: CostRow | null; studentRow: CostRow | null } | null;
  verdict: { student: StudentVerdict; teacher: TeacherVerdict };
  /** Sentences saying what was derived rather than read from a results key. */
  derived: string[];
}

// ---------------------------------------------------------------- readers of loose JSON

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const numOrNull = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
/** Kappa is a number (contract) or { value, reason } (notebook 3's perField before it). */
const kappaOf = (v: unknown): number | null => numOrNull(v) ?? numOrNull(obj(v)?.value);
const interval = (v: unknown): { low: number; high: number } | null => {
  const o = obj(v);
  const low = numOrNull(o?.low);
  const high = numOrNull(o?.high);
  return low !== null && high !== null ? { low, high } : null;
};
const mean = (xs: (number | null)[]): number | null => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
};

function fieldScores(v: unknown): FieldScore[] {
  return arr(v).flatMap((f) => {
    const o = obj(f);
    const field = str(o?.field);
    return field ? [{ field, agreement: numOrNull(o?.agreement), kappa: kappaOf(o?.kappa) }] : [];
  });
}

function score(v: unknown): Score | null {
  const o = obj(v);
  if (!o) return null;
  const perField = fieldScores(o.perField);
  return { n: numOrNull(o.n), agreement: numOrNull(o.agreement), meanKappa: numOrNull(o.meanKappa) ?? mean(perField.map((f) => f.kappa)), perField };
}

/** Nested objects become dotted names, so a changed hyperparameter shows as "hyperparameters.max_steps". */
export function flatten(values: Record<string, unknown>, prefix = ""): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    const o = obj(v);
    if (o && Object.keys(o).length) Object.assign(out, flatten(o, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

// ---------------------------------------------------------------- the summary

const notebookName = (f: RunFile): string => (f.record.notebook ?? f.path).split("/").pop()!.replace(/\.ipynb$|\/?run\.json$/g, "") || "notebook";

function costBasis(row: Obj, throughputHardware: string | null, derived: Set<string>): { basis: Basis; basisNote: string | null } {
  const given = str(row.basis);
  if (given === "measured" || given === "estimated" || given === "list price") return { basis: given, basisNote: str(row.basisNote) };
  derived.add("Cost bases (measured, estimated, list price) were derived: this run's cost table predates them.");
  if (row.kind !== "student") return { basis: "list price", basisNote: null };
  // costTable notes a student row only when the throughput was measured on other hardware than the GPU it is
  // priced at: the hours then assume the same speed, an estimate.
  return str(row.note)
    ? { basis: "estimated", basisNote: `throughput measured on ${throughputHardware ?? "other hardware"}, priced as if it ran as fast on this GPU` }
    : { basis: "measured", basisNote: throughputHardware ? `throughput measured on ${throughputHardware}` : null };
}

export function summarizeRun(runId: string, files: RunFile[]): RunSummary {
  const derived = new Set<string>();
  const sorted = [...files].sort((a, b) => notebookName(a).localeCompare(notebookName(b)));
  const results: Obj = Object.assign({}, ...sorted.map((f) => f.record.results ?? {}));
  const first = sorted[0]?.record ?? {};

  const notebooks = sorted.map((f) => {
    const name = notebookName(f);
    const dir = f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/") + 1) : "";
    return { name, ok: f.record.ok !== false, seconds: numOrNull(f.record.seconds), html: `${dir}${name}.html`, runJson: f.path };
  });
  const failed = sorted.find((f) => f.record.ok === false);

  // Parameters: one name may be declared by several notebooks (workDir): shown once when the values agree.
  const parameters: Record<string, unknown> = {};
  const changed: RunSummary["changed"] = [];
  let recordedDefaults = true;
  for (const f of sorted) {
    const given = flatten(f.record.parameters ?? {});
    if (!f.record.defaults) recordedDefaults = false;
    const defaults = flatten(f.record.defaults ?? {});
    for (const [name, value] of Object.entries(given)) {
      const key = name in parameters && !same(parameters[name], value) ? `${name} (${notebookName(f)})` : name;
      parameters[key] = value;
      if (f.record.defaults && name in defaults && same(defaults[name], value)) continue;
      if (!changed.some((c) => c.name === key)) changed.push({ name: key, value, ...(f.record.defaults && name in defaults ? { default: defaults[name] } : {}) });
    }
  }
  if (!recordedDefaults && sorted.length) derived.add("Changed parameters list every parameter the profile or command line set: this run did not record the defaults.");

  const label = obj(results.label);
  const train = obj(results.train);
  const inf = obj(results.inference);
  const cost = obj(results.cost);

  let inference: RunSummary["inference"] = null;
  if (inf) {
    const perField = fieldScores(inf.perField);
    let meanKappa = numOrNull(inf.meanKappa);
    if (meanKappa === null && !("meanKappa" in inf)) {
      meanKappa = mean(perField.map((f) => f.kappa));
      if (meanKappa !== null) derived.add("Mean kappa was derived from the per-field kappas: this run did not record it.");
    }
    inference = { agreement: numOrNull(inf.agreement), agreementCi: interval(inf.ci), meanKappa, meanKappaCi: interval(inf.meanKappaCi), perField, n: numOrNull(obj(inf.metrics)?.records) };
  }

  const baselines: Baseline[] = arr(inf?.baselines).flatMap((b) => {
    const o = obj(b);
    const name = str(o?.name);
    if (!o || !name) return [];
    const kind = o.kind === "keyword" || o.kind === "majority" ? o.kind : "api";
    const perField = fieldScores(o.perField);
    return [{ name, kind, agreement: numOrNull(o.agreement), meanKappa: numOrNull(o.meanKappa) ?? mean(perField.map((f) => f.kappa)), perField, note: str(o.note) }];
  });

  const tq = obj(label?.teacherQuality);
  let teacherQuality: RunSummary["teacherQuality"] = null;
  if (tq) {
    const teachers = arr(tq.teachers).flatMap((t) => {
      const s = score(t);
      const name = str(obj(t)?.name);
      return s && name ? [{ ...s, name, role: obj(t)?.role }] : [];
    });
    const ofRecord = teachers.find((t) => t.role === "teacher") ?? null;
    teacherQuality = {
      reference: str(tq.reference) ?? "reference labels",
      ceiling: score(tq.ceiling),
      teacher: ofRecord ? { n: ofRecord.n, agreement: ofRecord.agreement, meanKappa: ofRecord.meanKappa, perField: ofRecord.perField, name: ofRecord.name } : null,
      liveChecks: teachers.filter((t) => t.role !== "teacher").map((t) => ({ n: t.n, agreement: t.agreement, meanKappa: t.meanKappa, perField: t.perField, name: t.name })),
    };
  }

  let costSummary: RunSummary["cost"] = null;
  if (cost) {
    const hardware = str(obj(cost.throughput)?.hardware);
    const rows: CostRow[] = arr(cost.table).flatMap((r) => {
      const o = obj(r);
      const usdPerCorpus = numOrNull(o?.usdPerCorpus);
      if (!o || usdPerCorpus === null) return [];
      return [{ option: str(o.option) ?? "?", kind: str(o.kind) ?? "?", usdPerCorpus, usdPerRecord: numOrNull(o.usdPerRecord), ...costBasis(o, hardware, derived) }];
    });
    const students = rows.filter((r) => r.kind === "student");
    costSummary = {
      corpusSize: numOrNull(cost.corpusSize),
      rows,
      teacherRow: rows.find((r) => r.kind === "api" && /\(teacher\)$/.test(r.option)) ?? null,
      studentRow: students.length ? students.reduce((a, b) => (b.usdPerCorpus < a.usdPerCorpus ? b : a)) : null,
    };
  }

  const keyword = baselines.find((b) => b.kind === "keyword");
  const student = str(train?.baseModel) ?? str(sorted.find((f) => notebookName(f) === "2-fine-tune")?.record.parameters?.baseModel);
  const steps = numOrNull(obj(train?.metrics)?.steps);
  const seconds = notebooks.some((n) => n.seconds !== null) ? notebooks.reduce((a, n) => a + (n.seconds ?? 0), 0) : null;
  return {
    runId,
    date: sorted.map((f) => f.record.start).filter((s): s is string => typeof s === "string").sort()[0] ?? null,
    profile: sorted.map((f) => f.record.profile).find((p): p is string => typeof p === "string") ?? null,
    ok: sorted.length > 0 && !failed,
    failure: failed ? { notebook: notebookName(failed), text: (failed.record.error?.text ?? "failed").split("\n")[0].slice(0, 200) } : null,
    notebooks,
    seconds,
    git: { commit: first.git?.commit ?? null, dirty: sorted.some((f) => f.record.git?.dirty === true) ? true : (first.git?.dirty ?? null) },
    hardware: first.hardware ?? null,
    changed,
    parameters,
    teacher: str(inf?.teacher) ?? str(label?.teacher),
    student: student ? `${student} + LoRA${str(train?.preset) && train?.preset !== "none" ? ` (${String(train?.preset)}${steps !== null ? `, ${steps} steps` : ""})` : steps !== null ? ` (${steps} steps)` : ""}` : null,
    inference,
    baselines,
    teacherQuality,
    cost: costSummary,
    verdict: {
      student: studentVerdict({ meanKappa: inference?.meanKappa ?? null, ci: inference?.meanKappaCi ?? null, keywordKappa: keyword?.meanKappa ?? null }),
      teacher: teacherVerdict({ meanKappa: teacherQuality?.teacher?.meanKappa ?? null, ceilingKappa: teacherQuality?.ceiling?.meanKappa ?? null }),
    },
    derived: [...derived],
  };
}
