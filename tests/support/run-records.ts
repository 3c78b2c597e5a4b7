// run.json records of one four-notebook run, for the run page tests: `today` has the results keys the notebooks wrote
// before the reference-label round (kappa as { value, reason }, no mean kappa, no cost basis), `contract` adds every
// key of RESULTS-CONTRACT.md (teachers vs reference labels, keyword/majority baselines, cost bases). Shapes follow what
// notebooks 1-4 record; the numbers are made up for the tests and each test says which it relies on.
import type { report } from "@distill/lib";

type RunFile = report.RunFile;
const FIELDS = ["vegetarian", "dessert", "baked", "spicy", "alcohol"];

function base(notebook: string, results: Record<string, unknown>, o: { parameters?: Record<string, unknown>; defaults?: Record<string, unknown> | null; seconds?: number; ok?: boolean } = {}): RunFile {
  return {
    path: `${notebook}/run.json`,
    record: {
      runId: "20260101-120000",
      notebook: `notebooks/${notebook}.ipynb`,
      profile: "default",
      parameters: (o.parameters ?? { workDir: "work/default" }) as Record<string, unknown>,
      ...(o.defaults === null ? {} : { defaults: o.defaults ?? { workDir: "work/default", seed: 0 } }),
      git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false },
      hardware: { cpu: "AMD EPYC 7B13", cores: 2, memoryGiB: 24, gpu: null },
      start: `2026-01-01T12:0${notebook[0]}:00.000Z`,
      seconds: o.seconds ?? 60,
      ok: o.ok ?? true,
      error: o.ok === false ? { index: 5, text: "Error: the teacher server is unreachable\nat ..." } : null,
      results,
    },
  };
}

const perFieldToday = (kappas: (number | null)[]): unknown[] =>
  FIELDS.map((field, i) => ({ field, agreement: 0.6 + i * 0.05, kappa: kappas[i] === null ? { value: null, reason: "one label only" } : { value: kappas[i] }, precision: { value: 0.5 }, recall: { value: 0.5 }, teacherRate: { value: 0.3 } }));
const perField = (kappas: (number | null)[]): { field: string; agreement: number; kappa: number | null }[] => FIELDS.map((field, i) => ({ field, agreement: 0.6 + i * 0.05, kappa: kappas[i] }));

const costTableToday = [
  { option: "gpt-4 (teacher)", kind: "api", usdPerRecord: 0.0123, usdPerCorpus: 26411.15, ratioVsTeacher: 1, source: "openai.com/pricing", asOf: "2025-06-01" },
  { option: "gpt-4o-mini", kind: "api", usdPerRecord: 0.00009, usdPerCorpus: 193.25, ratioVsTeacher: 0.0073, source: "openai.com/pricing", asOf: "2025-06-01" },
  { option: "gpt-4o-mini batch", kind: "api-batch", usdPerRecord: 0.000045, usdPerCorpus: 96.6, ratioVsTeacher: 0.0037, source: "openai.com/pricing", asOf: "2025-06-01" },
  { option: "student on H100 SXM 80GB (RunPod, community)", kind: "student", usdPerRecord: 0.0022, usdPerCorpus: 4719.3, hours: 1754, ratioVsTeacher: 0.18, source: "runpod.io; throughput 0.3 records/s measured on AMD EPYC (2 cores, CPU)", asOf: "2025-06-01", note: "Throughput measured on AMD EPYC (2 cores, CPU), not on a H100 SXM 80GB: the hours assume the same speed." },
];

/** A default run as notebooks recorded it before RESULTS-CONTRACT.md (student kappas 0.02-ish: at chance). */
export function todayRun(o: { kappas?: (number | null)[]; failIn?: string } = {}): RunFile[] {
  const kappas = o.kappas ?? [0.05, -0.02, 0.01, null, 0.0];
  const files = [
    base("1-label", { label: { teacher: "SmolLM2-135M-Instruct (local)", provider: "local", sampleSize: 100, totals: { ok: 100, failed: 0, costUsd: 0 }, counts: { train: 78, test: 22 } } }, { parameters: { workDir: "work/default", sampleSize: 100 }, defaults: null, seconds: 420 }),
    base("2-fine-tune", { train: { baseModel: "smollm2-135m-instruct", preset: "cpu-quick", metrics: { steps: 12, train_loss: 1.2 } } }, { defaults: null, seconds: 180 }),
    base("3-inference", { inference: { metrics: { records: 22, records_per_s: 0.34 }, agreement: 0.0917, ci: { low: 0.05, high: 0.14 }, perField: perFieldToday(kappas), baselines: [{ name: "gpt-4o-mini", agreement: null, note: "skipped: no OPENAI_API_KEY" }] } }, { defaults: null, seconds: 95 }),
    base("4-cost", { cost: { corpusSize: 2147248, teacher: "gpt-4", throughput: { records_per_s: 0.34, hardware: "AMD EPYC (2 cores, CPU)" }, table: costTableToday } }, { defaults: null, seconds: 70 }),
  ];
  if (o.failIn) {
    const at = files.findIndex((f) => f.path.startsWith(o.failIn!));
    files[at] = base(o.failIn, {}, { ok: false, defaults: null });
    return files.slice(0, at + 1);
  }
  return files;
}

/** A run with every RESULTS-CONTRACT.md key. `student` sets the student's mean kappa and interval, `keyword` the keyword
 *  baseline's mean kappa; `changed` adds parameters that differ from the defaults. */
export function contractRun(o: { student?: { meanKappa: number; low: number; high: number }; keyword?: number | null; teacherKappa?: number; changed?: Record<string, unknown>; runId?: string } = {}): RunFile[] {
  const s = o.student ?? { meanKappa: 0.62, low: 0.51, high: 0.71 };
  const keyword = o.keyword === undefined ? 0.21 : o.keyword;
  const teacherKappa = o.teacherKappa ?? 0.74;
  const defaults = { workDir: "work/default", sampleSize: 100, hyperparameters: {}, seed: 0 };
  const parameters = { workDir: "work/default", sampleSize: 100, ...(o.changed ?? {}) };
  const files = [
    base("1-label", {
      label: {
        teacher: "gpt-4.1-mini",
        teacherQuality: {
          reference: "data/reference-labels/labels.jsonl",
          ceiling: { n: 60, agreement: 0.93, meanKappa: 0.81, perField: perField([0.85, 0.8, 0.78, 0.82, 0.8]) },
          teachers: [
            { name: "gpt-4.1-mini", role: "teacher", n: 60, agreement: 0.9, meanKappa: teacherKappa, perField: perField([teacherKappa, teacherKappa, teacherKappa, teacherKappa, teacherKappa]) },
            { name: "SmolLM2-135M-Instruct (local)", role: "live check", n: 12, agreement: 0.55, meanKappa: 0.03, perField: perField([0.05, 0.01, 0.0, 0.04, 0.05]) },
          ],
        },
      },
    }, { parameters, defaults }),
    base("2-fine-tune", { train: { baseModel: "smollm2-135m-instruct", preset: "cpu-quick", metrics: { steps: 12 } } }, { parameters: { workDir: "work/default", ...(o.changed?.hyperparameters ? { hyperparameters: o.changed.hyperparameters } : {}) }, defaults }),
    base("3-inference", {
      inference: {
        teacher: "gpt-4.1-mini",
        metrics: { records: 60 },
        agreement: 0.88,
        ci: { low: 0.84, high: 0.91 },
        meanKappa: s.meanKappa,
        meanKappaCi: { low: s.low, high: s.high },
        perField: perField([s.meanKappa, s.meanKappa, s.meanKappa, s.meanKappa, s.meanKappa]),
        baselines: [
          ...(keyword === null ? [] : [{ name: "keyword rule", kind: "keyword", agreement: 0.7, meanKappa: keyword, perField: perField([keyword, keyword, keyword, keyword, keyword]) }]),
          { name: "majority rule", kind: "majority", agreement: 0.66, meanKappa: 0, perField: perField([0, 0, 0, 0, 0]) },
        ],
      },
    }, { defaults }),
    base("4-cost", {
      cost: {
        corpusSize: 2147248,
        teacher: "gpt-4",
        throughput: { records_per_s: 40, hardware: "NVIDIA H100 80GB HBM3" },
        table: [
          { ...costTableToday[0], basis: "list price" },
          { ...costTableToday[1], basis: "list price" },
          { option: "student on H100 SXM 80GB (RunPod, community)", kind: "student", usdPerRecord: 0.0000185, usdPerCorpus: 39.7, basis: "measured", basisNote: "measured on one H100" },
          { option: "student on L40 48GB (RunPod, community)", kind: "student", usdPerRecord: 0.0000121, usdPerCorpus: 25.9, basis: "estimated", basisNote: "roofline at 40% MFU from data/hardware.json" },
        ],
      },
    }, { defaults }),
  ];
  for (const f of files) f.record.runId = o.runId ?? f.record.runId;
  return files;
}
