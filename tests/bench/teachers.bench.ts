// The local teachers scored against the human reference labels (not in CI): SmolLM2-135M (ships with setup, the short
// prompt) and Qwen2.5-Coder-1.5B-Instruct (`npm run install-teacher -- qwen`, the guide prompt), on a fixed sample of
// the reference's held-out books (the test split notebook 1 makes: seed 42, a quarter of the records, whole books),
// through the same path as notebook 1 (labelRecords: grammar, store, validation). The keyword rules and the
// inter-annotator ceiling on the same records for scale. Writes bench/results/teachers.json and teachers.md.
// TEACHERS_SAMPLE (default 40) records; TEACHERS (default "smollm2,qwen"); TEACHERS_THREADS (default 1: on a busy
// 2-core machine 2 llama.cpp threads were 2-9x slower than 1). Timings are wall clock on a shared machine: noisy.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { corpus, keywords, label, paths, task as taskLib } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const referenceFile = "data/reference-labels/labels.jsonl";

interface TeacherRow {
  teacher: string;
  prompt: string;
  score: label.Score;
  failed: number;
  secondsPerRecord: number | null;
  /** Loading the model and evaluating the prompt's fixed prefix (the first record's extra time). */
  setupSeconds: number | null;
}

/** Every k-th record of the test split (sorted by id), so that the sample spreads over the held-out books. */
function fixedSample(test: corpus.CorpusRecord[], n: number): corpus.CorpusRecord[] {
  const sorted = [...test].sort((a, b) => (a.id < b.id ? -1 : 1));
  const step = Math.max(1, Math.floor(sorted.length / n));
  return sorted.filter((_, i) => i % step === 0).slice(0, n);
}

const fmt = (x: number | null, digits = 2): string => (x === null ? "n/a" : x.toFixed(digits));

function markdown(rows: TeacherRow[], sample: corpus.CorpusRecord[], books: number, task: taskLib.Task, note: string): string {
  const head = ["labels", "prompt", "n", "failed", "agreement", "mean κ", ...task.fields.map((f) => `${f.name} a / κ`), "s / recipe", "load + prefix s"];
  const lines = [
    "# Local teachers against the reference labels",
    "",
    `Written by \`npm run bench -- teachers\` (tests/bench/teachers.bench.ts) on ${new Date().toISOString().slice(0, 10)}: ${sample.length} recipes of the reference's held-out books ` +
      `(${books} books, the test split notebook 1 makes), each labeled by each teacher through labelRecords (JSON-schema grammar, greedy). ${note}`,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`,
  ];
  for (const r of rows) {
    const perField = task.fields.map((f) => {
      const s = r.score.perField.find((x) => x.field === f.name);
      return s ? `${fmt(s.agreement)} / ${fmt(s.kappa)}` : "";
    });
    lines.push(`| ${[r.teacher, r.prompt, r.score.n, r.failed, fmt(r.score.agreement, 3), `**${fmt(r.score.meanKappa, 3)}**`, ...perField, fmt(r.secondsPerRecord, 1), fmt(r.setupSeconds, 0)].join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

async function main(): Promise<void> {
  const n = Number(process.env.TEACHERS_SAMPLE ?? 40);
  const teachers = (process.env.TEACHERS ?? "smollm2,qwen").split(",").filter(Boolean);
  const threads = Number(process.env.TEACHERS_THREADS ?? 1);
  const task = taskLib.loadTask("recipes");
  const reference = await label.readReference(task, referenceFile);
  const sampled = await corpus.sampleRecords(corpus.corpusInput(referenceFile), { n: 1200, seed: 42, dedupe: true, task: task });
  const { train, test } = corpus.splitTrainTest(sampled.records, { testFraction: 0.25, seed: 42, holdOutGroups: true });
  const sample = fixedSample(test, n);
  const books = new Set(sample.map((r) => r.group)).size;
  const warmup = train.slice(0, 1); // loads the model and evaluates the fixed prefix, outside the per-recipe time
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "teachers-bench-"));
  const rows: TeacherRow[] = [];

  for (const name of teachers) {
    const model = label.localTeacherFile(name);
    const config: label.TeacherConfig = { provider: "local", model: model, threads: threads, concurrency: 1 };
    const store = label.AnswerStore.open(path.join(tmp, `${name}.jsonl`));
    const t0 = performance.now();
    await label.labelRecords(task, warmup, config, { store: store });
    const t1 = performance.now();
    const run = await label.labelRecords(task, sample, config, { store: store });
    const t2 = performance.now();
    const score = label.scoreAgainst(task, reference.labels, run.results.map((r) => ({ id: r.id, labels: r.labels ?? null })));
    if (!score) throw new Error(`${name}: no scored record`);
    const prompt = label.localPromptFor(task, model);
    rows.push({ teacher: label.teacherName(config), prompt: prompt, score: score, failed: run.totals.failed, secondsPerRecord: (t2 - t1) / 1000 / sample.length, setupSeconds: (t1 - t0) / 1000 });
    console.error(`${name}: mean kappa ${fmt(score.meanKappa, 3)}, agreement ${fmt(score.agreement, 3)}, ${((t2 - t1) / 1000 / sample.length).toFixed(1)} s a recipe`);
    await label.disposeLocalTeacher();
  }

  const rules = task.keywordRules;
  if (rules) {
    const kw = label.scoreAgainst(task, reference.labels, sample.map((r) => ({ id: r.id, labels: keywords.applyKeywordRules(rules, r.text) as taskLib.Labels })));
    if (kw) rows.push({ teacher: "keyword rules (no model)", prompt: "", score: kw, failed: 0, secondsPerRecord: null, setupSeconds: null });
  }
  const q = label.teacherQuality(task, reference, []);
  if (q.ceiling) rows.push({ teacher: "second annotator (ceiling, other records)", prompt: "", score: q.ceiling, failed: 0, secondsPerRecord: null, setupSeconds: null });

  const load = os.loadavg()[0];
  const note =
    `${threads} llama.cpp thread(s); the machine (${os.cpus().length} cores) was shared with other jobs (load average ${load.toFixed(1)} at the end), so the seconds are noisy and ` +
    `slower than on a quiet machine. The ceiling is the inter-annotator agreement on the 100 recipes labeled twice (not this sample).`;
  fs.writeFileSync(path.join(paths.root, "bench", "results", "teachers.md"), markdown(rows, sample, books, task, note));
  const metrics: BenchMetric[] = rows.flatMap((r) => [
    { name: `${r.teacher}: mean kappa vs reference`, value: r.score.meanKappa, unit: "κ", note: `${r.score.n} recipes${r.prompt ? `, prompt ${r.prompt}` : ""}; per field ${r.score.perField.map((f) => `${f.field} ${fmt(f.kappa)}`).join(", ")}` },
    { name: `${r.teacher}: agreement vs reference`, value: r.score.agreement, unit: "fraction", note: r.failed ? `${r.failed} failed` : "" },
    ...(r.secondsPerRecord === null ? [] : [{ name: `${r.teacher}: seconds per recipe`, value: r.secondsPerRecord, unit: "s", note: `${threads} thread(s), shared machine: noisy; load + fixed prefix ${fmt(r.setupSeconds, 0)} s once` }]),
  ]);
  writeBenchResult("teachers", metrics, { sample: sample.map((r) => r.id), books: books, threads: threads, loadAverage: load, rows: rows });
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
