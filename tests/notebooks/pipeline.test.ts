// The four notebooks in order, headless, on the fast test profile: the OpenAI-protocol test server as the teacher
// (and as a baseline model), a tiny randomly initialised Llama as the student. Asserts on what each notebook
// produces: its run.json results, the files it hands to the next one, and its HTML report.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { corpus, label as labelLib, paths } from "@distill/lib";
import { runNotebook, type RunResult } from "@distill/lib/dist/notebook";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai";
import { filesUnder, tempDir } from "../support/notebooks";

const FAKE_KEY = "fake-openai-key-PIPELINE-abcdef0123";
let server: FakeOpenAI;
let work: string;
let tiny: string;
const reports: RunResult[] = [];

let corpusFile: string;

/** A corpus file of the user's own (JSONL): 30 recipes from each shipped book file, so several source books. */
async function writeCorpusFile(file: string): Promise<void> {
  const lines: string[] = [];
  for (const part of corpus.defaultCorpus) {
    let n = 0;
    for await (const r of corpus.readRecords(part)) {
      lines.push(JSON.stringify({ id: r.id, title: r.title, text: r.text, group: r.group }));
      if (++n === 30) break;
    }
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

before(async () => {
  server = await startFakeOpenAI({ delayMs: 2 });
  work = tempDir("pipeline-work");
  // Notebooks 1 and 4 run on a corpus file, not the shipped default: the injected `corpus` must still type-check
  // against the cells' `corpus === "default"`.
  corpusFile = path.join(tempDir("pipeline-corpus"), "my-recipes.jsonl");
  await writeCorpusFile(corpusFile);
  tiny = path.join(tempDir("pipeline-tiny"), "model");
  const made = spawnSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { encoding: "utf8" });
  assert.equal(made.status, 0, made.stderr);
});
after(async () => {
  await server.stop();
});

async function run(name: string, params: Record<string, unknown>): Promise<RunResult> {
  const r = await runNotebook({
    notebook: path.join(paths.notebooksDir, `${name}.ipynb`),
    profile: "test",
    params: { workDir: work, ...params } as never,
    outDir: tempDir(`pipeline-${name}`),
    env: { OPENAI_API_KEY: FAKE_KEY, OPENAI_BASE_URL: server.url },
    quiet: true,
  });
  assert.equal(r.ok, true, r.record.error ? `${r.record.error.source}\n${r.record.error.text}` : "failed");
  reports.push(r);
  return r;
}

test("1-label (on a corpus file) writes the labeled sample and the train/test files", async () => {
  const r = await run("1-label", { teacherProvider: "openai", teacherModel: "gpt-4o-mini", corpus: corpusFile });
  const label = r.record.results.label as { counts: { train: number; test: number } };
  assert.ok(label.counts.train >= 6 && label.counts.test >= 2, JSON.stringify(label.counts));
  for (const f of ["labeled.arrow", "train.jsonl", "test.jsonl"]) assert.ok(fs.existsSync(path.join(work, f)), f);
  const ids = new Set(fs.readFileSync(corpusFile, "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id));
  assert.ok(labelLib.readLabeled(path.join(work, "labeled.arrow")).every((row) => ids.has(row.id)), "the sample comes from the corpus file");
});

test("2-fine-tune trains a LoRA on the tiny model, shows the curve, merges", async () => {
  const r = await run("2-fine-tune", { baseModel: tiny });
  const train = r.record.results.train as { metrics: { steps: number; train_loss: number }; lossCurve: [number, number][]; merged: boolean };
  assert.ok(train.metrics.steps >= 2);
  assert.ok(Number.isFinite(train.metrics.train_loss));
  assert.equal(train.lossCurve.length, train.metrics.steps);
  assert.equal(train.merged, true);
  assert.ok(fs.existsSync(path.join(work, "student", "merged", "config.json")));
  const html = fs.readFileSync(r.html, "utf8");
  assert.match(html, /distill-plot-/);
  assert.match(html, /masked, no loss/);
});

test("3-inference predicts the test set and compares with the teacher and a baseline", async () => {
  const r = await run("3-inference", { baseModel: tiny, baselines: ["gpt-4o-mini"] });
  type Baseline = { name: string; kind: string; agreement: number | null; meanKappa: number | null; perField?: { field: string; kappa: number | null }[] };
  const inf = r.record.results.inference as { teacher: string; agreement: number; meanKappa: number | null; meanKappaCi: { low: number; high: number } | null; perField: { field: string; kappa: { value: number | null; reason?: string } }[]; baselines: Baseline[]; metrics: { records: number } };
  assert.ok(inf.agreement >= 0 && inf.agreement <= 1);
  assert.equal(inf.teacher, "gpt-4o-mini", "scored against the teacher of record");
  assert.equal(inf.perField.length, 5);
  for (const f of inf.perField) assert.ok(f.kappa.value !== null || f.kappa.reason, "kappa is a number or says why not");
  assert.ok("meanKappa" in inf && "meanKappaCi" in inf);
  if (inf.meanKappaCi) assert.ok(inf.meanKappaCi.low <= inf.meanKappaCi.high);
  assert.deepEqual(inf.baselines.map((b) => b.kind), ["majority", "keyword", "api"]);
  for (const b of inf.baselines) assert.equal(b.perField?.length, 5, `${b.name} has its fields`);
  // The API baseline is the test server answering with the same rules as the teacher: it agrees perfectly.
  assert.equal(inf.baselines.find((b) => b.kind === "api")!.agreement, 1);
  assert.ok(fs.existsSync(path.join(work, "evaluation.json")));
  assert.doesNotMatch(fs.readFileSync(r.html, "utf8"), /<td[^>]*>NaN</, "no NaN in a table");
});

test("4-cost (on a corpus file) prices the corpus from measured throughput and reproduces the original's table", async () => {
  const r = await run("4-cost", { baseModel: tiny, corpus: corpusFile });
  const c = r.record.results.cost as { throughput: { records_per_s: number }; table: { kind: string; usdPerCorpus: number; basis: string; basisNote?: string }[]; original: { usdPerCorpus: number }[]; tokens: Record<string, { input: number; output: number }> };
  assert.ok(c.throughput.records_per_s > 0);
  // Measured on this CPU: no GPU row may be priced as measured; each says it is an estimate, and so does the headline.
  const students = c.table.filter((row) => row.kind === "student");
  assert.ok(students.length > 0);
  for (const row of students) assert.equal(row.basis, "estimated");
  for (const row of students) assert.match(row.basisNote ?? "", /^estimate, not measured: prefill-bound roofline at \d+% MFU/);
  assert.ok(c.table.filter((row) => row.kind !== "student").every((row) => row.basis === "list price"));
  assert.ok(r.record.headline.some((h) => /^Student on .*, estimated$/.test(h.label) && /roofline/.test(h.unit ?? "")), JSON.stringify(r.record.headline));
  assert.deepEqual(c.original.map((row) => Number(row.usdPerCorpus.toFixed(2))), [18.81, 1033.26, 8683.47, 23190.28]);
  assert.ok(c.tokens["gpt-4"].input > 100 && c.tokens["gpt-4o"].input > 100);
});

test("no file written by the pipeline holds the API key", () => {
  for (const f of [...reports.flatMap((r) => filesUnder(r.outDir)), ...filesUnder(work)]) {
    assert.ok(!fs.readFileSync(f).includes(FAKE_KEY), `${f} contains the API key`);
  }
});
