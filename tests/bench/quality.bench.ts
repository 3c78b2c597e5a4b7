// The quality run (not in CI): the offline pipeline end to end with the `cpu-quality` profile (QUALITY_PROFILE=default
// measures what `npm start` gives): the reference labels teach (notebook 1 scores the live local teacher against
// them), the SmolLM2 student trains (the profile's preset of data/training.json) on the reference's train split and is
// scored on its held-out source books, beside the baselines that need no model. Records agreement and kappa per field,
// each teacher's score against the reference, and how long each step took. What was tried on the way to the recipe,
// and what each try gave, is in bench/results/quality-notes.md.
// QUALITY_TEACHER=local makes the local SmolLM2 model the teacher of record instead (on QUALITY_SAMPLE reference
// recipes, default 200): the cautionary run, where the student learns labels with almost no signal.
import * as path from "node:path";
import { paths } from "@distill/lib";
import { runNotebook } from "@distill/lib/dist/notebook";
import { writeBenchResult, type BenchMetric } from "../support/bench";

type Score = { n: number; agreement: number; meanKappa: number | null; perField: { field: string; agreement: number; kappa: number | null }[] };

async function main(): Promise<void> {
  const local = process.env.QUALITY_TEACHER === "local";
  const profile = process.env.QUALITY_PROFILE ?? "cpu-quality";
  const sampleSize = local ? Number(process.env.QUALITY_SAMPLE ?? 200) : 1200;
  const tag = local ? `local-${sampleSize}` : `reference-${profile}`;
  const workDir = path.join(paths.workDir, `quality-${tag}`);
  const outDir = path.join(paths.reportsDir, `quality-${tag}`);
  const seconds: Record<string, number> = {};
  const results: Record<string, Record<string, unknown>> = {};
  for (const name of ["1-label", "2-fine-tune", "3-inference"]) {
    const params = { workDir: workDir, ...(name === "1-label" && local ? { sampleSize: sampleSize, teacherProvider: "local" } : {}), ...(name === "3-inference" ? { baselines: [] } : {}) };
    const r = await runNotebook({ notebook: path.join(paths.notebooksDir, `${name}.ipynb`), profile: profile, params: params as never, outDir: path.join(outDir, name), env: { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" } });
    if (!r.ok) throw new Error(`${name} failed: ${r.record.error?.text}`);
    seconds[name] = r.record.seconds;
    Object.assign(results, r.record.results);
  }
  const label = results.label as { teacher: string; totals: { ok: number; failed: number }; counts: { train: number; test: number }; groups: { test: number; shared: number }; teacherQuality: { ceiling: Score | null; teachers: (Score & { name: string; role: string })[] } | null };
  const inf = results.inference as { agreement: number; ci: { low: number; high: number } | null; meanKappa: number | null; meanKappaCi: { low: number; high: number } | null; parseFailureRate: number; perField: { field: string; agreement: number; kappa: { value: number | null } }[]; baselines: { name: string; meanKappa: number | null; agreement: number | null }[]; metrics: { records_per_s: number } };
  const quality = label.teacherQuality;
  // issue 10's goals: the quality profile aims at the original's level, the default at clearly learning something
  const goals = profile === "cpu-quality" ? { meanKappa: 0.75, agreement: 0.92 } : { meanKappa: 0.5, agreement: null };
  const goal = (text: string, met: boolean): { goal?: string; met?: boolean } => (local ? {} : { goal: text, met: met });
  const metrics: BenchMetric[] = [
    { name: `records labeled (${label.teacher})`, value: label.totals.ok, unit: "records", note: `${label.totals.failed} failed; train ${label.counts.train} / test ${label.counts.test}; ${label.groups.test} held-out books (${label.groups.shared} shared)` },
    ...(quality?.ceiling ? [{ name: "reference: inter-annotator mean kappa (the ceiling)", value: quality.ceiling.meanKappa, unit: "κ", note: `${quality.ceiling.n} recipes labeled twice` }] : []),
    ...(quality?.teachers ?? []).map((t) => ({ name: `${t.role} ${t.name}: mean kappa vs reference`, value: t.meanKappa, unit: "κ", note: `${t.n} recipes; per field ${t.perField.map((f) => `${f.field} ${f.kappa === null ? "n/a" : f.kappa.toFixed(2)}`).join(", ")}` })),
    { name: "student: agreement with teacher (original's metric)", value: inf.agreement, unit: "fraction", note: inf.ci ? `95% CI ${inf.ci.low.toFixed(3)}-${inf.ci.high.toFixed(3)}` : "", ...(goals.agreement === null ? {} : goal(`>= ${goals.agreement}`, inf.agreement >= goals.agreement)) },
    { name: "student: mean kappa", value: inf.meanKappa, unit: "κ", note: inf.meanKappaCi ? `95% CI ${inf.meanKappaCi.low.toFixed(3)} to ${inf.meanKappaCi.high.toFixed(3)}` : "", ...goal(`>= ${goals.meanKappa}`, (inf.meanKappa ?? -1) >= goals.meanKappa) },
    { name: "student parse failures", value: inf.parseFailureRate, unit: "fraction", goal: "0", met: inf.parseFailureRate === 0 },
    ...inf.perField.flatMap((f) => [
      { name: `${f.field}: agreement`, value: f.agreement, unit: "fraction" },
      { name: `${f.field}: kappa`, value: f.kappa.value, unit: "κ", note: f.kappa.value === null ? "undefined (one label only)" : "" },
    ]),
    ...inf.baselines.map((b) => ({ name: `baseline ${b.name}: mean kappa`, value: b.meanKappa, unit: "κ", note: b.agreement === null ? "" : `agreement ${b.agreement.toFixed(3)}` })),
    { name: "student inference on CPU", value: inf.metrics.records_per_s, unit: "records/s" },
    ...Object.entries(seconds).map(([k, v]) => ({ name: `${k} wall time`, value: v, unit: "s" })),
  ];
  writeBenchResult(local ? "quality-local-teacher" : profile === "cpu-quality" ? "quality" : `quality-${profile}`, metrics, { teacher: label.teacher, profile: profile, sampleSize: sampleSize, reports: path.relative(paths.root, outDir) });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
