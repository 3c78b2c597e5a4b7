// The student's record (lib/src/train/student.ts) through real training runs on the tiny model: notebook 3's
// studentModel refuses a student that the last training did not make, resume continues a run and its time adds up.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import { inference, paths, runtime, train } from "@distill/lib";
import { tempDir } from "../../support/notebooks";

const env = { OMP_NUM_THREADS: "1" };
let tiny: string;
let ws: paths.Workspace;

before(() => {
  const dir = tempDir("student");
  tiny = path.join(dir, "tiny");
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  ws = paths.workspace(path.join(dir, "work"));
  const lines = Array.from({ length: 40 }, (_, i) => {
    const labels = { has_non_fish_meat: i % 3 === 0, requires_oven: i % 2 === 0, requires_stove: i % 5 < 2, cook_time_over_30_mins: i % 4 < 2, main_dish: true };
    return JSON.stringify({ messages: [{ role: "user", content: `Dish ${i}\n\nIngredients:\n- flour\n- ${labels.has_non_fish_meat ? "bacon" : "cod"}` }, { role: "assistant", content: JSON.stringify(labels) }] });
  });
  fs.writeFileSync(ws.train, lines.join("\n") + "\n");
});

const config = (extra: Partial<train.TrainConfig> = {}): train.TrainConfig =>
  train.trainConfig({ base_model: tiny, train_file: ws.train, output_dir: ws.student, preset: "none", max_steps: 4, micro_batch_size: 2, grad_accum_steps: 1, max_seq_len: 256, warmup_steps: 1, save_steps: 2, eval_fraction: 0, ...extra });

test("a student is used only while it is what the last training made, from the same data", async () => {
  assert.throws(() => inference.studentModel(ws, tiny), /no fine-tuned student in .*: run notebook 2-fine-tune first/);

  const first = await train.train(config(), { env });
  assert.deepEqual(inference.studentModel(ws, tiny), { model: tiny, merged_dir: null, adapter_dir: ws.adapter });
  await train.merge({ base_model: tiny, adapter_dir: first.adapterDir, output_dir: ws.merged }, { env });
  assert.deepEqual(inference.studentModel(ws, tiny), { model: null, merged_dir: ws.merged, adapter_dir: null });
  assert.equal(inference.studentModel(ws, "another-base").merged_dir, ws.merged, "a merged student needs no base");

  // A new training that fails (NaN at step 3, after the step-2 checkpoint): the adapter on disk is still the first run's.
  await assert.rejects(train.train(config({ debug_nan_at_step: 3 }), { env }), (e: unknown) => e instanceof runtime.RuntimeJobError && e.kind === "nan");
  const record = train.readStudentRecord(ws.student)!;
  assert.equal(record.last!.status, "failed");
  assert.equal(record.adapter!.run, first.run);
  assert.throws(() => inference.studentModel(ws, tiny), (e: unknown) => {
    const message = (e as Error).message;
    assert.match(message, new RegExp(`the last training in .* \\(run ${record.last!.id}, started .*\\) failed: train job failed \\(nan\\): the loss became nan at step 3`));
    assert.match(message, new RegExp(`the student on disk is still run ${first.run}'s, finished .*rerun notebook 2-fine-tune \\(same workDir\\), with -p resume=true to continue from its last checkpoint`));
    return true;
  });

  // Resume continues that run from its step-2 checkpoint; its seconds add up; the old merged model is passed over.
  const resumed = await train.train(config({ resume: true }), { env });
  const after = train.readStudentRecord(ws.student)!;
  assert.equal(resumed.run, record.last!.id, "the same training run");
  assert.deepEqual(after.last!.attempts.map((a) => a.status), ["failed", "done"]);
  assert.ok(after.last!.seconds > after.last!.attempts[1].seconds, "every attempt's seconds count");
  assert.ok(resumed.metrics.runtime_s > resumed.metrics.session_runtime_s, `training time adds up: ${resumed.metrics.runtime_s} > ${resumed.metrics.session_runtime_s}`);
  assert.equal(after.adapter!.run, resumed.run);
  assert.deepEqual(inference.studentModel(ws, tiny), { model: tiny, merged_dir: null, adapter_dir: ws.adapter }, "merged from an older run: not used");
  assert.throws(() => inference.studentModel(ws, "smollm2-135m-instruct"), /was trained on .*tiny, but baseModel is smollm2-135m-instruct: set baseModel to/);

  // Notebook 1 relabels: the train file changes under the student.
  fs.appendFileSync(ws.train, fs.readFileSync(ws.train, "utf8").split("\n")[0] + "\n");
  assert.throws(() => inference.studentModel(ws, tiny), /the training data changed since the student was trained \(run train-.*\): .*train.jsonl is different now \(notebook 1 ran again\?\); rerun notebook 2-fine-tune/);
});
