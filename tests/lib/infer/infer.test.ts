// infer/ through runtime.runJob and the real Python job, on the tiny random Llama (CPU, seconds).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inference as inferLib, paths, runtime, task as taskLib, train, type progress } from "@distill/lib";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "infer-test-"));
const tinyModel = path.join(tmp, "tiny-model");
const testFile = path.join(tmp, "test.jsonl");
// Tiny ops gain nothing from threads; on shared cores OpenMP spinning made them ~20x slower.
const env = { OMP_NUM_THREADS: "1" };
const task = taskLib.loadTask("recipes");

interface Row { id: string; text: string; labels: taskLib.Labels }
const rows: Row[] = [];

before(() => {
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tinyModel], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  for (let i = 0; i < 6; i++) {
    const text = `Dish ${i}\n\nIngredients:\n- flour\n- ${i % 2 ? "bacon" : "cod"}\n\nDirections:\n- ${"Bake in the oven. ".repeat(1 + (i % 3))}`;
    rows.push({ id: `dish-${i}`, text, labels: { has_non_fish_meat: i % 2 === 1, requires_oven: true, requires_stove: false, cook_time_over_30_mins: i < 3, main_dish: true } });
  }
  // Issue 3's test file format: OpenAI chat fine-tuning lines, without ids (joined back by line order).
  const lines = rows.map((r) => JSON.stringify({ messages: [...taskLib.teacherMessages(task, r.text), { role: "assistant", content: taskLib.studentTarget(task, r.labels) }] }));
  fs.writeFileSync(testFile, lines.join("\n") + "\n");
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("infer() runs the job, streams progress, writes predictions that evaluateAgreement turns into numbers", async () => {
  // The Python job's engine (engine "auto" on a CPU is the llama.cpp engine in Node: llama.test.ts).
  const config = inferLib.inferConfig({ model: tinyModel, input_file: testFile, output_file: path.join(tmp, "out", "pred.jsonl"), batch_size: 4, max_new_tokens: 8, engine: "transformers", decoding: "free" });
  const events: runtime.JobEvent[] = [];
  const updates: progress.ProgressState[] = [];
  const result = await inferLib.infer(config, { env, onEvent: (e) => events.push(e), onProgress: (p) => updates.push(p) });

  assert.equal(result.outputFile, config.output_file);
  assert.deepEqual(events.map((e) => e.event), ["start", "progress", "progress", "done"]);
  assert.deepEqual(updates.map((u) => [u.done, u.total]), [[0, 6], [4, 6], [6, 6]]);
  assert.equal(result.metrics.records, 6);
  assert.equal(result.metrics.engine, "transformers");
  assert.equal(result.metrics.device, "cpu");
  assert.ok(result.metrics.records_per_s > 0 && result.metrics.tokens_per_s > 0);

  const predictions = inferLib.readPredictions(result.outputFile);
  assert.deepEqual(predictions.map((p) => p.index), [0, 1, 2, 3, 4, 5]);
  assert.ok(predictions.every((p) => p.inputTokens > 10 && p.outputTokens >= 1 && p.outputTokens <= 8));
  // Random weights: nothing parses, and every failure is counted (and reported), never a crash.
  assert.equal(result.metrics.parse_failures, predictions.filter((p) => p.labels === null).length);
  assert.ok(predictions.every((p) => (p.labels === null) === (p.error !== null)));

  const student = inferLib.studentRows(predictions, rows.map((r) => r.id));
  const evaluation = inferLib.evaluateAgreement(task, rows, student, { resamples: 200 });
  assert.equal(evaluation.records, 6);
  assert.equal(evaluation.parseFailures, result.metrics.parse_failures);
  assert.equal(evaluation.parseFailureRate, result.metrics.parse_failure_rate);
  assert.ok(evaluation.agreement >= 0 && evaluation.agreement <= 1);
  assert.ok(evaluation.ci && evaluation.ci.low <= evaluation.agreement && evaluation.agreement <= evaluation.ci.high);
  for (const f of evaluation.perField) assert.ok(Number.isFinite(f.agreement));
  assert.equal(evaluation.perRecord[0].id, "dish-0");
});

test("infer() with the default constrained decoding: a random model's every output parses, margins read back", async () => {
  const config = inferLib.inferConfig({ model: tinyModel, input_file: testFile, output_file: path.join(tmp, "out", "constrained.jsonl"), batch_size: 4 });
  assert.equal(config.decoding, "constrained");
  const result = await inferLib.infer(config, { env });
  const predictions = inferLib.readPredictions(result.outputFile);
  assert.equal(result.metrics.parse_failures, 0);
  assert.ok(predictions.every((p) => p.labels !== null && p.error === null && taskLib.parseLabels(task, p.labels).ok));
  const booleans = task.fields.filter((f) => f.type === "boolean").map((f) => f.name);
  for (const p of predictions) {
    assert.deepEqual(Object.keys(p.margins ?? {}).sort(), [...booleans].sort());
    for (const name of booleans) assert.equal(p.labels![name], p.margins![name] > 0); // no calibration file: threshold 0
  }
});

test("inferConfig: defaults match Python's InferConfig; bad values name the field", () => {
  const config = inferLib.inferConfig({ input_file: "in.jsonl", output_file: "out.jsonl" });
  assert.equal(config.model, train.loadTrainingFile().defaults.base_model);
  const python = execFileSync(paths.python, [
    "-c",
    "import json; from distill_runtime.inference.config import InferConfig; print(json.dumps(InferConfig(model='smollm2-135m-instruct', input_file='in.jsonl', output_file='out.jsonl').model_dump()))",
  ], { encoding: "utf8" });
  assert.deepEqual(config, JSON.parse(python));

  assert.equal(inferLib.inferConfig({ merged_dir: "m", input_file: "a", output_file: "b" }).model, null);
  assert.throws(() => inferLib.inferConfig({ input_file: "a", output_file: "b", batch_size: 0 }), /field 'batch_size'/);
  assert.throws(() => inferLib.inferConfig({ input_file: "a", output_file: "b", merge: true }), /merge=true needs adapter_dir/);
  assert.throws(() => inferLib.inferConfig({ input_file: "a", output_file: "b", batchsize: 2 } as inferLib.InferOverrides), /unknown field\(s\) 'batchsize'/);
});

test("a failing infer job rejects with RuntimeJobError naming the problem", async () => {
  const config = inferLib.inferConfig({ model: tinyModel, input_file: path.join(tmp, "missing.jsonl"), output_file: path.join(tmp, "x.jsonl") });
  await assert.rejects(inferLib.infer(config, { env }), (e: unknown) => {
    assert.ok(e instanceof runtime.RuntimeJobError);
    assert.equal(e.kind, "data");
    assert.match(e.message, /missing\.jsonl/);
    return true;
  });
});

test("readPredictions and studentRows reject bad input with the file and line", () => {
  const file = path.join(tmp, "bad.jsonl");
  fs.writeFileSync(file, `${JSON.stringify({ index: 0, completion: "{}", labels: null, error: "x", input_tokens: 3, output_tokens: 1 })}\n{"index": 1}\n`);
  assert.throws(() => inferLib.readPredictions(file), /bad\.jsonl:2: not a prediction/);
  fs.writeFileSync(file, "{nope\n");
  assert.throws(() => inferLib.readPredictions(file), /bad\.jsonl:1: not JSON/);
  const one = [{ index: 0, completion: "", labels: null, error: "e", inputTokens: 1, outputTokens: 1 }];
  assert.deepEqual(inferLib.studentRows(one), [{ id: "0", labels: null, error: "e" }]);
  assert.throws(() => inferLib.studentRows(one, ["a", "b"]), /1 predictions but 2 ids/);
});
