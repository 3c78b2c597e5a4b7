// infer/corpus-job.ts and the label-corpus CLI through the real Python job, on the tiny random Llama (CPU, seconds).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inference as inferLib, paths, prices, task as taskLib, type progress } from "@distill/lib";
import { parseArgs } from "@distill/lib/dist/cli/label-corpus";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "corpus-job-test-"));
const tinyModel = path.join(tmp, "tiny-model");
const corpusFile = path.join(tmp, "corpus.jsonl");
const env = { OMP_NUM_THREADS: "1" };
const task = taskLib.loadTask("recipes");

before(() => {
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tinyModel], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const lines = [];
  for (let i = 0; i < 12; i++) {
    const text = i === 4 ? "" : `Dish ${i}\n\nIngredients:\n- flour\n- ${i % 2 ? "bacon" : "cod"}\n\nDirections:\n- ${"Bake in the oven. ".repeat(1 + (i % 3))}`;
    lines.push(JSON.stringify({ id: `dish-${i}`, text }));
  }
  fs.writeFileSync(corpusFile, lines.join("\n") + "\n");
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("labelCorpusConfig: defaults match Python's LabelCorpusConfig; bad values name the field", () => {
  const config = inferLib.labelCorpusConfig({ corpus: ["c.jsonl"], output_dir: "out" });
  const python = execFileSync(paths.python, [
    "-c",
    `import json; from distill_runtime.corpus_job.config import LabelCorpusConfig; print(json.dumps(LabelCorpusConfig(model=${JSON.stringify(config.model)}, corpus=['c.jsonl'], output_dir='out').model_dump()))`,
  ], { encoding: "utf8" });
  assert.deepEqual(config, JSON.parse(python));
  assert.throws(() => inferLib.labelCorpusConfig({ corpus: [], output_dir: "o" }), /field 'corpus'/);
  assert.throws(() => inferLib.labelCorpusConfig({ corpus: ["c"], output_dir: "o", workers: 0 }), /field 'workers'/);
  assert.throws(() => inferLib.labelCorpusConfig({ corpus: ["c"], output_dir: "o", shards: 2 } as inferLib.LabelCorpusOverrides), /unknown field\(s\) 'shards'/);
});

test("the CLI's arguments: the GPU rate comes from data/prices.json, mistakes say what to fix", () => {
  const args = parseArgs(["--corpus", "a.jsonl", "--corpus", "b", "--out", "o", "--student", "work/x/student/", "--ray", "--workers", "2", "--gpu", "L40 48GB", "--column", "text=body"]);
  const l40 = prices.gpuPrice(prices.loadPrices(), "L40 48GB");
  assert.deepEqual(args, { corpus: ["a.jsonl", "b"], output_dir: "o", adapter_dir: "work/x/student/adapter", ray: true, workers: 2, gpu_usd_per_hour: l40.usd_per_hour, columns: { text: "body" } });
  assert.throws(() => parseArgs(["--out", "o"]), /no --corpus given/);
  assert.throws(() => parseArgs(["--corpus", "a", "--out", "o", "--gpu", "Z80"]), /No GPU price for "Z80"/);
  assert.throws(() => parseArgs(["--corpus", "a", "--out", "o", "--batch"]), /unknown argument --batch/);
});

test("labelCorpus: every row in a shard, progress with ETA and projected cost, a rerun resumes with nothing to do", async () => {
  const out = path.join(tmp, "labels");
  const config = inferLib.labelCorpusConfig({ model: tinyModel, corpus: [corpusFile], output_dir: out, records_per_shard: 5, batch_size: 4, max_new_tokens: 6, gpu_usd_per_hour: 1.14, progress_every_s: 0.05 });
  const updates: progress.ProgressState[] = [];
  const result = await inferLib.labelCorpus(config, { env, onProgress: (p) => updates.push(p) });
  assert.equal(result.metrics.total, 12);
  assert.equal(result.metrics.done, 12);
  assert.ok(result.metrics.complete);
  assert.equal(result.metrics.shards, 3);
  assert.equal(result.metrics.counts.skipped, 1);
  assert.equal(result.metrics.counts.ok + result.metrics.counts.invalid_output, 11);
  assert.ok(result.metrics.records_per_s > 0 && (result.metrics.projected_cost_usd ?? 0) > 0);
  const last = updates[updates.length - 1];
  assert.deepEqual([last.done, last.total], [12, 12]);
  assert.equal(last.extra?.["job ETA"], "0 s");
  assert.match(String(last.extra?.["corpus cost"]), /^\$\d+\.\d\d$/);

  const rows = await inferLib.readCorpusLabels(result.outputDir, task.fields.map((f) => f.name), 100);
  assert.deepEqual(rows.map((r) => r.index), [...Array(12).keys()]);
  assert.deepEqual(rows.map((r) => r.id), [...Array(12).keys()].map((i) => (i === 4 ? null : `dish-${i}`)));
  assert.equal(rows[4].status, "skipped");
  for (const r of rows.filter((x) => x.status === "invalid_output")) assert.ok(r.raw_output !== null && r.error && r.labels === null);

  const shards = fs.readdirSync(result.labelsDir).map((f) => [f, fs.statSync(path.join(result.labelsDir, f)).mtimeMs]);
  const again = await inferLib.labelCorpus(config, { env });
  assert.equal(again.metrics.done, 12);
  assert.deepEqual(fs.readdirSync(result.labelsDir).map((f) => [f, fs.statSync(path.join(result.labelsDir, f)).mtimeMs]), shards);
});

test("npm run label-corpus's script exits 2 with the usage on a bad argument", () => {
  const r = spawnSync(process.execPath, [path.join(paths.root, "lib", "dist", "cli", "label-corpus.js"), "--corpus", corpusFile], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no --out folder given/);
});
