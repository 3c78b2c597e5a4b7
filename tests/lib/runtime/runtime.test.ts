// runtime/ (and the train jobs on it) against the real Python runtime on a tiny random Llama (CPU, seconds per job).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inference, paths, runtime, train, type progress } from "@distill/lib";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "runtime-test-"));
const tinyModel = path.join(tmp, "tiny-model");
const trainFile = path.join(tmp, "train.jsonl");
// Tiny ops gain nothing from threads; on shared cores OpenMP spinning made them ~20x slower.
const env = { OMP_NUM_THREADS: "1" };

before(() => {
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tinyModel], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  fs.writeFileSync(trainFile, syntheticRecipes(120).join("\n") + "\n");
});

/** Labeled recipes in OpenAI chat fine-tuning format; the labels follow from the words. */
function syntheticRecipes(n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const meat = i % 3 === 0, oven = i % 2 === 0, stove = i % 5 < 2, slow = i % 4 < 2;
    const text = `Dish ${i}\n\nIngredients:\n- flour\n- ${meat ? "bacon" : "cod"}\n\nDirections:\n- ${oven ? "Bake in the oven." : "Mix."}\n- ${stove ? "Boil on the stove." : "Chill."}\n- ${slow ? "Leave two hours." : "Serve."}`;
    const labels = { has_non_fish_meat: meat, requires_oven: oven, requires_stove: stove, cook_time_over_30_mins: slow, main_dish: true };
    lines.push(JSON.stringify({ messages: [{ role: "user", content: text }, { role: "assistant", content: JSON.stringify(labels) }] }));
  }
  return lines;
}

function quick(outputDir: string, extra: Partial<train.TrainConfig> = {}): train.TrainConfig {
  return train.trainConfig({
    base_model: tinyModel,
    train_file: trainFile,
    output_dir: outputDir,
    preset: "none",
    max_steps: 4,
    micro_batch_size: 2,
    grad_accum_steps: 1,
    max_seq_len: 256,
    learning_rate: 0.01,
    warmup_steps: 1,
    save_steps: 2,
    eval_fraction: 0.1,
    ...extra,
  });
}

/** Is this pid alive, and which live processes are in its process group? (Linux /proc) */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state ppid pgrp ...
      if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return members;
}
async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("parseEventLine validates every event type and names what is wrong", () => {
  const t = 1.5;
  const good = [
    { event: "start", time: t, job: "train", config: {}, device: "cpu", params_total: 10, params_trainable: 1, info: { packing_efficiency: 0.99 } },
    { event: "step", time: t, step: 1, total_steps: 2, epoch: 0.5, loss: 1.2, lr: 1e-4, grad_norm: null, tokens_per_s: 10, samples_per_s: 1, memory_mb: 12 },
    { event: "eval", time: t, step: 1, eval_loss: 0.5 },
    { event: "checkpoint", time: t, step: 1, path: "/x" },
    { event: "progress", time: t, done: 1, total: 3, records_per_s: 2 },
    { event: "done", time: t, job: "merge", runtime_s: 1, outputs: { merged_dir: "/m" }, metrics: {} },
    { event: "error", time: t, kind: "nan", message: "boom", hint: null },
  ];
  for (const e of good) assert.equal(runtime.parseEventLine(JSON.stringify(e)).event, e.event);
  assert.throws(() => runtime.parseEventLine('{"event":"hello","time":1}'), /unknown event type "hello" \(expected one of start, step/);
  assert.throws(() => runtime.parseEventLine('{"event":"step","time":1,"step":1}'), /invalid step event: .*total_steps/);
  assert.throws(() => runtime.parseEventLine('{"event":"eval","time":1,"step":1,"eval_loss":0.5,"extra":1}'), /invalid eval event: .*extra/);
  assert.throws(() => runtime.parseEventLine('{"event":"error","time":1,"kind":"weird","message":"m"}'), /invalid error event: .*kind/);
  assert.throws(() => runtime.parseEventLine("{not json"), /not JSON/);
});

test("trainConfig: defaults < preset < overrides, from the same data/training.json Python reads", () => {
  const c = train.trainConfig({ train_file: "t.jsonl", output_dir: "o" });
  assert.equal(c.preset, "cpu-default");
  assert.equal(c.base_model, "smollm2-135m-instruct");
  assert.deepEqual([c.num_epochs, c.max_steps, c.loss_on, c.train_layers, c.fit_readout], [0, null, "values", 4, true]); // cpu-default: the readout alone
  const original = train.trainConfig({ train_file: "t.jsonl", output_dir: "o", preset: "llama2-7b-original", lora_r: 8 });
  assert.deepEqual([original.lora_r, original.lora_alpha, original.num_epochs, original.max_seq_len, original.load_in_8bit], [8, 16, 5, 4096, true]);
  assert.ok(train.presets().includes("gpu-8b-qlora"));
  assert.throws(() => train.trainConfig({ train_file: "t", output_dir: "o", preset: "fast" }), /unknown preset "fast"; use one of cpu-default/);
  assert.throws(() => train.trainConfig({ train_file: "t", output_dir: "o", lr: 1 } as never), /unknown field\(s\) 'lr'/);
  assert.throws(() => train.trainConfig({ train_file: "t", output_dir: "o", lora_r: 0 }), /field 'lora_r'/);
  // the checks across fields, as Python's TrainConfig makes them
  assert.throws(() => train.trainConfig({ train_file: "t", output_dir: "o", preset: "none", fit_readout: true }), /fit_readout .* set lm_head_lora_r/);
  assert.throws(() => train.trainConfig({ train_file: "t", output_dir: "o", preset: "none", num_epochs: 0 }), /num_epochs is 0 and nothing else trains/);
  assert.equal(train.trainConfig({ train_file: "t", output_dir: "o", preset: "none", num_epochs: 0, fit_readout: true, lm_head_lora_r: 8 }).num_epochs, 0);
});

test("the TS train config has exactly the fields of the Python TrainConfig", () => {
  const out = execFileSync(paths.python, ["-c", "import json; from distill_runtime.config import TrainConfig; print(json.dumps(sorted(TrainConfig.model_fields)))"], { encoding: "utf8" });
  assert.deepEqual(Object.keys(train.TrainConfigSchema.shape).sort(), JSON.parse(out));
});

test("every preset of data/training.json resolves to the same values in TS and Python (new keys included)", () => {
  const names = [...train.presets(), "none"];
  const script = "import json, sys; from distill_runtime.config import load_train_config; print(json.dumps({n: {k: v for k, v in load_train_config({'train_file': 't.jsonl', 'output_dir': 'o', 'preset': n}).model_dump(mode='json').items() if not k.startswith('debug_')} for n in json.loads(sys.argv[1])}))";
  const python = JSON.parse(execFileSync(paths.python, ["-c", script, JSON.stringify(names)], { encoding: "utf8" })) as Record<string, Record<string, unknown>>;
  for (const name of names) {
    const ts = train.trainConfig({ train_file: "t.jsonl", output_dir: "o", preset: name }) as unknown as Record<string, unknown>;
    assert.deepEqual(ts, python[name], `preset ${name}`);
  }
  // the CPU presets carry the learning recipe: values-only loss, top layers on a frozen cache, calibration
  for (const name of ["cpu-default", "cpu-quality"]) {
    const c = train.trainConfig({ train_file: "t.jsonl", output_dir: "o", preset: name });
    assert.deepEqual([c.loss_on, c.cache_frozen_layers, c.calibrate], ["values", true, true], name);
    assert.ok(c.train_layers !== null && c.train_layers > 0, name);
  }
});

test("train streams validated events from a real run on the tiny model", async () => {
  const events: runtime.JobEvent[] = [];
  const updates: progress.ProgressState[] = [];
  const out = path.join(tmp, "run-ok");
  const result = await train.train(quick(out), { onEvent: (e) => events.push(e), onProgress: (p) => updates.push(p), env });
  const kinds = events.map((e) => e.event);
  assert.equal(kinds[0], "start");
  assert.equal(kinds.at(-1), "done");
  assert.deepEqual(events.filter((e) => e.event === "step").map((e) => (e as runtime.StepEvent).step), [1, 2, 3, 4]);
  assert.deepEqual(events.filter((e) => e.event === "checkpoint").map((e) => (e as runtime.CheckpointEvent).step), [2, 4]);
  const start = events[0] as runtime.StartEvent;
  assert.ok((start.info.packing_efficiency as number) > 0.9);
  assert.ok(fs.existsSync(path.join(result.adapterDir, "adapter_model.safetensors")));
  assert.equal(result.metrics.steps, 4);
  assert.ok(result.metrics.eval_loss !== null && result.metrics.eval_loss > 0);
  assert.deepEqual(updates.filter((u) => u.extra?.loss !== undefined).map((u) => u.done), [1, 2, 3, 4]);
  assert.match(fs.readFileSync(path.join(out, "train.log"), "utf8"), /=== .* train --config/);

  const merged = await train.merge({ base_model: tinyModel, adapter_dir: result.adapterDir, output_dir: path.join(tmp, "merged") }, { env });
  assert.ok(fs.existsSync(path.join(merged.mergedDir, "model.safetensors")));
  assert.ok(fs.existsSync(path.join(merged.mergedDir, "merge.log")), "the job's own log survives the merge's folder swap");

  // Engine auto on a CPU with calibrated thresholds: not q8_0 (its rounding flips labels near the thresholds) but the
  // transformers engine, the adapter merged in memory, with the unmerged engine's labels and margins.
  const records = path.join(tmp, "records.jsonl");
  fs.writeFileSync(records, ["bacon", "cod", "beef"].map((m, i) => JSON.stringify({ id: `r${i}`, text: `Dish ${i}\n\nIngredients:\n- ${m}\n\nDirections:\n- Bake in the oven.` })).join("\n") + "\n");
  fs.writeFileSync(path.join(result.adapterDir, "calibration.json"), JSON.stringify({ fields: { has_non_fish_meat: { threshold: 0.01 } } }));
  const student = { model: tinyModel, adapter_dir: result.adapterDir, input_file: records, device: "cpu" as const };
  const auto = await inference.infer(inference.inferConfig({ ...student, output_file: path.join(tmp, "auto.jsonl") }), { env });
  assert.equal(auto.choice.engine, "transformers");
  assert.match(auto.choice.reason, /^CPU; the student's calibrated thresholds lose labels to q8_0.*; adapter merged in memory$/);
  const unmerged = await inference.infer(inference.inferConfig({ ...student, engine: "transformers", output_file: path.join(tmp, "unmerged.jsonl") }), { env });
  assert.doesNotMatch(unmerged.choice.reason, /merged/);
  const [a, b] = [inference.readPredictions(auto.outputFile), inference.readPredictions(unmerged.outputFile)];
  assert.deepEqual(a.map((p) => p.labels), b.map((p) => p.labels));
  for (const [i, p] of a.entries()) for (const [k, m] of Object.entries(p.margins ?? {})) assert.ok(Math.abs(m - b[i].margins![k]) < 1e-3, `${k}: ${m} vs ${b[i].margins![k]}`);
});

test("a failing job rejects with RuntimeJobError carrying the Python message and hint", async () => {
  const missing = path.join(tmp, "missing.jsonl");
  await assert.rejects(train.train(quick(path.join(tmp, "run-fail"), { train_file: missing }), { env }), (e: unknown) => {
    assert.ok(e instanceof runtime.RuntimeJobError);
    assert.equal(e.kind, "data");
    assert.equal(e.exitCode, 1);
    assert.match(e.message, new RegExp(`file not found: ${missing}`));
    assert.match(e.hint ?? "", /check the path/);
    return true;
  });
  await assert.rejects(train.train(quick(path.join(tmp, "run-nan"), { debug_nan_at_step: 2 }), { env }), (e: unknown) => {
    assert.ok(e instanceof runtime.RuntimeJobError);
    assert.equal(e.kind, "nan");
    assert.match(e.hint ?? "", /lower learning_rate/);
    return true;
  });
});

test("an invalid event line rejects with a protocol error and stops the process", async () => {
  // A stand-in interpreter that speaks the protocol wrongly: one bad line, then it would hang.
  const fake = path.join(tmp, "fake-python.sh");
  fs.writeFileSync(fake, '#!/bin/sh\necho "not an event: library noise"\necho \'{"event":"step","time":1,"step":"one"}\'\nexec sleep 30\n', { mode: 0o755 });
  const seen: runtime.JobEvent[] = [];
  const t0 = Date.now();
  await assert.rejects(runtime.runJob("train", {}, { python: fake, logFile: path.join(tmp, "fake.log"), onEvent: (e) => seen.push(e) }), (e: unknown) => {
    assert.ok(e instanceof runtime.RuntimeJobError);
    assert.equal(e.kind, "protocol");
    assert.match(e.message, /invalid step event/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000, "the hanging process was killed");
  assert.equal(seen.length, 0);
  assert.match(fs.readFileSync(path.join(tmp, "fake.log"), "utf8"), /\[stdout\] not an event: library noise/);
});

test("cancel leaves no process behind, and a later call resumes from the last checkpoint", async () => {
  const out = path.join(tmp, "run-cancel");
  const controller = new AbortController();
  let pid = 0;
  const job = train.train(quick(out, { max_steps: 1000, save_steps: 2, eval_fraction: 0 }), {
    env,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.event === "start") pid = runtime.runningJobPids()[0];
      if (e.event === "checkpoint") controller.abort();
    },
  });
  await assert.rejects(job, (e: unknown) => e instanceof runtime.RuntimeJobError && e.kind === "cancelled");
  assert.ok(pid > 0);
  assert.equal(alive(pid), false);
  assert.deepEqual(groupMembers(pid), []);
  assert.deepEqual(runtime.runningJobPids(), []);

  const steps: number[] = [];
  let resumedFrom: unknown;
  const resumed = await train.train(quick(out, { max_steps: 4, save_steps: 2, eval_fraction: 0, resume: true }), {
    env,
    onEvent: (e) => {
      if (e.event === "start") resumedFrom = e.info.resumed_from_step;
      if (e.event === "step") steps.push(e.step);
    },
  });
  assert.ok(typeof resumedFrom === "number" && resumedFrom >= 2, `resumed from ${resumedFrom}`);
  assert.deepEqual(steps, Array.from({ length: 4 - (resumedFrom as number) }, (_, i) => (resumedFrom as number) + 1 + i));
  assert.equal(resumed.metrics.steps, 4);
});

test("a signal to the Node process stops its jobs (tslab interrupt, plain node, kernel killed)", async () => {
  // A child Node process runs a long job, like a notebook kernel does. `mode` picks how it handles SIGINT.
  const script = path.join(tmp, "host.js");
  fs.writeFileSync(
    script,
    `const { runtime } = require(${JSON.stringify(path.join(paths.root, "lib", "dist", "index.js"))});
const [mode, config] = [process.argv[2], JSON.parse(process.argv[3])];
if (mode === "tslab") process.on("SIGINT", () => console.log(JSON.stringify({ interrupted: true }))); // tslab's own handler
runtime.runJob("train", config, { env: ${JSON.stringify(env)}, onEvent: (e) => {
  if (e.event === "start") console.log(JSON.stringify({ job: runtime.runningJobPids()[0] }));
}}).catch((e) => console.log(JSON.stringify({ rejected: e.kind })));
setInterval(() => {}, 1000); // stay alive like a kernel
`,
  );
  const config = quick(path.join(tmp, "run-host"), { max_steps: 1000, eval_fraction: 0 });
  async function host(mode: string) {
    const child = spawn(process.execPath, [script, mode, JSON.stringify(config)], { stdio: ["ignore", "pipe", "inherit"] });
    const messages: Record<string, unknown>[] = [];
    child.stdout.setEncoding("utf8").on("data", (d: string) => d.split("\n").filter(Boolean).forEach((l) => messages.push(JSON.parse(l))));
    let exited = false;
    child.on("exit", () => (exited = true));
    await waitFor(() => messages.some((m) => m.job), 120_000, "the job to start");
    return { child, messages, jobPid: messages.find((m) => m.job)!.job as number, exited: () => exited };
  }

  const kernel = await host("tslab");
  kernel.child.kill("SIGINT");
  await waitFor(() => !alive(kernel.jobPid), 30_000, "the job to stop after SIGINT");
  await waitFor(() => kernel.messages.some((m) => m.rejected === "cancelled"), 10_000, "runJob to reject");
  assert.equal(kernel.exited(), false, "the kernel itself keeps running");
  kernel.child.kill("SIGKILL");

  const plain = await host("plain");
  plain.child.kill("SIGINT");
  await waitFor(() => plain.exited(), 30_000, "plain node to exit on SIGINT");
  await waitFor(() => !alive(plain.jobPid), 30_000, "the job to stop with plain node");

  const killed = await host("tslab");
  // No handler runs: PR_SET_PDEATHSIG sends the job SIGTERM at once (without it, the job would only die at its next
  // stdout write, on the broken pipe: minutes later during a long step or eval).
  killed.child.kill("SIGKILL");
  await waitFor(() => !alive(killed.jobPid), 30_000, "the job to stop after its parent was killed");
  assert.deepEqual(groupMembers(killed.jobPid), []);
});

test("a job killed from outside: the error says what is known (who sent the signal, whether the OOM killer acted)", async () => {
  // A stand-in interpreter that starts and then waits; this test SIGKILLs it as an outside `kill -9` would.
  const sleeper = path.join(tmp, "sleeper.sh");
  fs.writeFileSync(sleeper, "#!/bin/sh\nexec sleep 60\n", { mode: 0o755 });
  const job = runtime.runJob("train", {}, { python: sleeper, logFile: path.join(tmp, "sleeper.log") });
  await waitFor(() => runtime.runningJobPids().length === 1, 10_000, "the stand-in to start");
  process.kill(runtime.runningJobPids()[0], "SIGKILL");
  await assert.rejects(job, (e: unknown) => {
    assert.ok(e instanceof runtime.RuntimeJobError);
    assert.match(e.message, /the train process was killed by SIGKILL without a done event/);
    assert.match(e.hint ?? "", /SIGKILL came from outside this process \(a cancel from here starts with SIGTERM\)/);
    assert.match(e.hint ?? "", /no kill \(oom_kill count still \d+\)|does not let us check/, "it says whether the OOM killer acted, or that it cannot know");
    assert.match(e.hint ?? "", /sleeper\.log/);
    return true;
  });

  const base = { exitCode: null, logFile: "/x/train.log" };
  const oom = runtime.describeEnd({ ...base, signal: "SIGKILL", oomKillsBefore: 3, oomKillsAfter: 4, memoryMb: 7300.4 });
  assert.equal(oom.kind, "oom");
  assert.match(oom.hint, /out of memory: the kernel's OOM killer .* \(oom_kill count 3 -> 4\)\. Its last reported memory use was 7300 MB\. To fit, lower micro_batch_size or max_seq_len/);
  assert.doesNotMatch(runtime.describeEnd({ ...base, signal: "SIGKILL", oomKillsBefore: 3, oomKillsAfter: 3 }).hint, /out of memory/);
  assert.match(runtime.describeEnd({ ...base, signal: "SIGKILL", oomKillsBefore: null, oomKillsAfter: null }).hint, /often the out-of-memory killer, but this machine does not let us check/);
  assert.match(runtime.describeEnd({ ...base, signal: "SIGSEGV", oomKillsBefore: 0, oomKillsAfter: 0 }).hint, /crashed in native code \(SIGSEGV\)/);
  assert.match(runtime.describeEnd({ ...base, signal: "SIGTERM", oomKillsBefore: 0, oomKillsAfter: 0 }).hint, /sent SIGTERM from outside/);
  assert.match(runtime.describeEnd({ ...base, signal: null, exitCode: 3, oomKillsBefore: 0, oomKillsAfter: 0 }).hint, /exited with code 3: see its log, \/x\/train\.log/);
});
