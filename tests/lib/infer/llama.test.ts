// The llama.cpp engine (infer/llama.ts) for real: node-llama-cpp on GGUFs made by the export job, ids from the encode
// job. The tiny random Llama checks the plumbing (valid rows, order, calibration, the GGUF cache, the auto fallback);
// SmolLM2-135M exported at f16 checks the labels against a transformers fp32 forward with the same forced skeleton.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inference as inferLib, paths, runtime, task as taskLib } from "@distill/lib";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-test-"));
const tinyModel = path.join(tmp, "tiny-model");
const inputFile = path.join(tmp, "in.jsonl");
const env = { OMP_NUM_THREADS: "1" };
const task = taskLib.loadTask("recipes");
// Four real recipes of the reference labels, of different lengths.
const recipes = fs.readFileSync(path.join(paths.root, "data/reference-labels/labels.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 4).map((l) => JSON.parse(l) as { id: string; text: string });

before(() => {
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tinyModel], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  fs.writeFileSync(inputFile, recipes.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const noHardware = { cuda: false, vllm: false };

test("selectEngine: auto is llama.cpp on CPU, vLLM or transformers on CUDA, transformers for free-form tasks", () => {
  assert.equal(inferLib.selectEngine("auto", "auto", noHardware, null).engine, "llama.cpp");
  assert.equal(inferLib.selectEngine("auto", "cpu", { cuda: true, vllm: true }, null).engine, "llama.cpp");
  assert.equal(inferLib.selectEngine("auto", "auto", { cuda: true, vllm: true }, null).engine, "vllm");
  assert.equal(inferLib.selectEngine("auto", "auto", { cuda: true, vllm: false }, null).engine, "transformers");
  assert.equal(inferLib.selectEngine("auto", "cuda", noHardware, null).engine, "transformers");
  const freeForm = inferLib.llamaUnsupported({ ...task, fields: [...task.fields, { name: "servings", type: "integer", description: "n" }] });
  assert.match(freeForm ?? "", /servings \(integer\)/);
  assert.equal(inferLib.llamaUnsupported(task), null);
  assert.deepEqual(inferLib.selectEngine("auto", "auto", noHardware, freeForm), { engine: "transformers", reason: `CPU; ${freeForm}` });
  assert.deepEqual(inferLib.selectEngine("llama.cpp", "cpu", noHardware, null), { engine: "llama.cpp", reason: "asked for" });
  assert.equal(inferLib.selectEngine("transformers", "auto", noHardware, null).engine, "transformers");
  assert.equal(inferLib.selectEngine("vllm", "auto", noHardware, null).engine, "vllm"); // the job says what is missing
  assert.throws(() => inferLib.selectEngine("llama.cpp", "cuda", noHardware, null), /runs on the CPU/);
  assert.throws(() => inferLib.selectEngine("llama.cpp", "cpu", noHardware, freeForm), /servings \(integer\).*engine "transformers"/);
  assert.deepEqual(inferLib.detectHardware("cpu"), noHardware);
});

test("a student with a fitted readout or calibrated thresholds: auto avoids q8_0 (its labels flip); llama.cpp asked for runs and says so", () => {
  const student = path.join(tmp, "readout-student");
  fs.mkdirSync(student, { recursive: true });
  const write = (config: object) => fs.writeFileSync(path.join(student, "distill.json"), JSON.stringify({ base_model: "m", config }));
  assert.equal(inferLib.quantizationLosesLabels(student, "q8_0", true), null); // no distill.json: nothing known
  write({ fit_readout: false });
  assert.equal(inferLib.quantizationLosesLabels(student, "q8_0", true), null);
  write({ fit_readout: true });
  const problem = inferLib.quantizationLosesLabels(student, "q8_0", true);
  assert.match(problem ?? "", /fitted readout loses labels to q8_0/);
  assert.equal(inferLib.quantizationLosesLabels(student, "f16", true), null);
  assert.equal(inferLib.quantizationLosesLabels(null, "q8_0", true), null);
  fs.writeFileSync(path.join(student, "distill.json"), "{ not json");
  assert.throws(() => inferLib.quantizationLosesLabels(student, "q8_0", true), /readout-student\/distill\.json is not the train job's JSON/);
  assert.deepEqual(inferLib.selectEngine("auto", "cpu", noHardware, null, problem), { engine: "transformers", reason: `CPU; ${problem}` });
  assert.deepEqual(inferLib.selectEngine("llama.cpp", "cpu", noHardware, null, problem), { engine: "llama.cpp", reason: `asked for; ${problem}` });
  assert.equal(inferLib.selectEngine("auto", "auto", { cuda: true, vllm: true }, null, problem).engine, "vllm");
  // calibrated thresholds count only while the config applies them
  write({ fit_readout: false });
  fs.writeFileSync(path.join(student, "calibration.json"), JSON.stringify({ fields: { a: { threshold: 0.9 } } }));
  assert.match(inferLib.quantizationLosesLabels(student, "q8_0", true) ?? "", /calibrated thresholds lose labels to q8_0/);
  assert.equal(inferLib.quantizationLosesLabels(student, "q8_0", false), null);
  assert.equal(inferLib.quantizationLosesLabels(student, "f16", true), null);
});

test("llama.cpp engine: valid predictions in input order, margins, calibration applied, the GGUF made once", async () => {
  const output = path.join(tmp, "out", "pred.jsonl");
  const config = inferLib.inferConfig({ merged_dir: tinyModel, input_file: inputFile, output_file: output, gguf_type: "f32", batch_size: 3, device: "cpu", engine: "llama.cpp" });
  const updates: number[] = [];
  const result = await inferLib.infer(config, { env, threads: 1, onProgress: (p) => updates.push(p.done) });
  assert.equal(result.choice.engine, "llama.cpp");
  assert.equal(result.metrics.engine, "llama.cpp");
  assert.equal(result.metrics.records, 4);
  assert.deepEqual(updates, [0, 1, 2, 3, 4]);
  const gguf = inferLib.ggufPath(config);
  assert.equal(gguf, path.join(tmp, "gguf", "tiny-model-f32.gguf"));
  assert.ok(fs.statSync(gguf).size > 1e5);

  const predictions = inferLib.readPredictions(output);
  assert.deepEqual(predictions.map((p) => [p.index, p.id]), recipes.map((r, i) => [i, r.id]));
  for (const p of predictions) {
    const parsed = taskLib.parseLabels(task, p.completion);
    assert.ok(parsed.ok, p.completion);
    assert.deepEqual(parsed.labels, p.labels);
    assert.equal(p.error, null);
    assert.ok(p.inputTokens > 50);
    assert.equal(p.outputTokens, 43); // the SmolLM2 tokenizer's skeleton (38) + five one-token values
    for (const f of task.fields) assert.equal(p.labels![f.name], p.margins![f.name] > 0, `${f.name}: margin ${p.margins![f.name]}`);
  }
  // The input tokens are the training tokenizer's (the tokens job counts them the same way).
  const counts = path.join(tmp, "counts.json");
  await runtime.runJob("tokens", { model: tinyModel, task_file: "recipes", input_file: inputFile, output_file: counts }, { env });
  assert.deepEqual(predictions.map((p) => p.inputTokens), JSON.parse(fs.readFileSync(counts, "utf8")).prompt_tokens);

  // Two contexts of one thread each (the default on 2 cores): the same rows, the same margins (f32 weights; llama.cpp
  // batches differently, so equal within a small tolerance), the work split between the contexts.
  const twoContexts = await inferLib.infer(config, { env, threads: 2, contexts: 2 });
  assert.equal(twoContexts.metrics.contexts, 2);
  const split = inferLib.readPredictions(output);
  assert.deepEqual(split.map((p) => [p.index, p.id]), predictions.map((p) => [p.index, p.id]));
  for (const [i, p] of split.entries()) {
    for (const f of task.fields) assert.ok(Math.abs(p.margins![f.name] - predictions[i].margins![f.name]) < 1e-2, `${f.name}: ${p.margins![f.name]} vs ${predictions[i].margins![f.name]}`);
  }

  // calibration.json beside the weights moves each boolean's threshold: above every margin -> false, below -> true.
  const mtime = fs.statSync(gguf).mtimeMs;
  const [first, second] = [task.fields[0].name, task.fields[1].name];
  fs.writeFileSync(path.join(tinyModel, "calibration.json"), JSON.stringify({ fields: { [first]: { threshold: 1e6 }, [second]: { threshold: -1e6 } } }));
  await inferLib.infer(config, { env, threads: 1 });
  const calibrated = inferLib.readPredictions(output);
  assert.ok(calibrated.every((p) => p.labels![first] === false && p.labels![second] === true));
  // The first margin is the same (only the decision moved); later ones follow other forced values, so they differ.
  assert.deepEqual(calibrated.map((p) => p.margins![first]), predictions.map((p) => p.margins![first]));
  fs.rmSync(path.join(tinyModel, "calibration.json"));
  // calibration.json is read at run time, not baked into the GGUF: the GGUF was reused. New weights remake it.
  assert.equal(fs.statSync(gguf).mtimeMs, mtime);
  fs.utimesSync(path.join(tinyModel, "model.safetensors"), new Date(), new Date());
  await inferLib.studentGguf(config, { env });
  assert.ok(fs.statSync(gguf).mtimeMs > mtime);
});

test("engine auto on CPU falls back to transformers when the student cannot be exported to GGUF", async () => {
  const odd = path.join(tmp, "odd-model");
  fs.cpSync(tinyModel, odd, { recursive: true });
  const configFile = path.join(odd, "config.json");
  fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, "utf8")), architectures: ["NoSuchModelForCausalLM"] }));
  const config = inferLib.inferConfig({ merged_dir: odd, input_file: inputFile, output_file: path.join(tmp, "odd.jsonl"), device: "cpu", max_new_tokens: 4 });
  const result = await inferLib.infer(config, { env });
  assert.equal(result.choice.engine, "transformers");
  assert.match(result.choice.reason, /GGUF could not be made \(export job failed/);
  assert.equal(result.metrics.engine, "transformers");
  await assert.rejects(inferLib.infer({ ...config, engine: "llama.cpp" }, { env }), (e: unknown) => e instanceof runtime.RuntimeJobError && e.job === "export");
});
