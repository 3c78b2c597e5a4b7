// The quality run (not in CI): the offline default end to end on a larger sample — the local SmolLM2 teacher labels,
// the SmolLM2 student trains (cpu-quick), and is scored on held-out source books — recording agreement and kappa per
// field, and how long each step took. QUALITY_SAMPLE sets the sample size (default 200).
import * as path from "node:path";
import { paths } from "@distill/lib";
import { runNotebook } from "@distill/lib/dist/notebook";
import { writeBenchResult, type BenchMetric } from "../support/bench";

async function main(): Promise<void> {
  const sampleSize = Number(process.env.QUALITY_SAMPLE ?? 200);
  const workDir = path.join(paths.workDir, `quality-${sampleSize}`);
  const outDir = path.join(paths.reportsDir, `quality-${sampleSize}`);
  const seconds: Record<string, number> = {};
  const results: Record<string, Record<string, unknown>> = {};
  for (const name of ["1-label", "2-fine-tune", "3-inference"]) {
    const params = { workDir: workDir, ...(name === "1-label" ? { sampleSize: sampleSize, teacherProvider: "local" } : {}), ...(name === "3-inference" ? { baselines: [] } : {}) };
    const r = await runNotebook({ notebook: path.join(paths.notebooksDir, `${name}.ipynb`), profile: "default", params: params as never, outDir: path.join(outDir, name), env: { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" } });
    if (!r.ok) throw new Error(`${name} failed: ${r.record.error?.text}`);
    seconds[name] = r.record.seconds;
    Object.assign(results, r.record.results);
  }
  const label = results.label as { totals: { ok: number; failed: number }; counts: { train: number; test: number }; groups: { test: number; shared: number } };
  const inf = results.inference as { agreement: number; ci: { low: number; high: number } | null; parseFailureRate: number; perField: { field: string; agreement: number; kappa: { value: number | null } }[]; metrics: { records_per_s: number } };
  const metrics: BenchMetric[] = [
    { name: "records labeled (local SmolLM2 teacher)", value: label.totals.ok, unit: "records", note: `${label.totals.failed} failed; train ${label.counts.train} / test ${label.counts.test}; ${label.groups.test} held-out books (${label.groups.shared} shared)` },
    { name: "agreement with teacher (original's metric)", value: inf.agreement, unit: "fraction", note: inf.ci ? `95% CI ${inf.ci.low.toFixed(3)}-${inf.ci.high.toFixed(3)}` : "" },
    { name: "student parse failures", value: inf.parseFailureRate, unit: "fraction" },
    ...inf.perField.flatMap((f) => [
      { name: `${f.field}: agreement`, value: f.agreement, unit: "fraction" },
      { name: `${f.field}: kappa`, value: f.kappa.value, unit: "κ", note: f.kappa.value === null ? "undefined (one label only)" : "" },
    ]),
    { name: "student inference on CPU", value: inf.metrics.records_per_s, unit: "records/s" },
    ...Object.entries(seconds).map(([k, v]) => ({ name: `${k} wall time`, value: v, unit: "s" })),
  ];
  writeBenchResult("quality", metrics, { sampleSize: sampleSize, reports: path.relative(paths.root, outDir) });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
