// Inference on CPU, side by side in one run: the same 64 recipes (the first of the reference labels' held-out test
// books), the same trained SmolLM2-135M student (LoRA, the cpu-quick preset on the reference's train books), through
//   default  engine "auto" = the llama.cpp engine (lib/src/infer/llama.ts): merged q8_0 GGUF, JSON skeleton forced,
//            values scored, 16 sequences, prefix reuse, longest first;
//   (a)      plain transformers `generate` at batch 1 (the transformers engine at batch_size 1: the naive baseline);
//   (b)      our transformers engine as it was (free greedy generation, batch 16, length-sorted, stop at the JSON's end);
//   (c)      llama.cpp as its users run it, best of a sweep: greedy generation through node-llama-cpp (the same llama.cpp
//            commit and CPU kernels as llama-server; building llama.cpp's own tools takes ~1 h on these 2 cores), the
//            output constrained by the task's JSON-schema grammar (llama-server's json_schema) or free, N sequences
//            (server slots) batched together, prompt cache kept per sequence; swept over threads, sequences, weights.
// Records/s and prompt tokens/s count generation only (model loading and the one-time GGUF export excluded).
// Agreement: share of labels equal to (b)'s, per engine. The machine is shared: absolute numbers are noisy, the
// ratios come from one run. INFER_BENCH_ADAPTER=dir reuses a trained adapter instead of training one.
//   npm run bench -- infer
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { corpus, inference as inferLib, label, paths, runtime, task as taskLib, train } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";
import { llamaGenerate, type GenerateSettings } from "./infer-generate";

const RECORDS = 64;
const tmp = paths.ensureDir(path.join(paths.root, "bench", "tmp", "infer"));
const task = taskLib.loadTask("recipes");
const env = { OMP_WAIT_POLICY: "PASSIVE" };

interface Row { id: string; group: string; text: string; labels: taskLib.Labels }

async function student(trainRows: Row[]): Promise<string> {
  if (process.env.INFER_BENCH_ADAPTER) return process.env.INFER_BENCH_ADAPTER;
  const trainFile = path.join(tmp, "train.jsonl");
  fs.writeFileSync(trainFile, trainRows.map((r) => JSON.stringify(label.fineTuneExample(task, r))).join("\n") + "\n");
  const outputDir = path.join(tmp, "student");
  const config = train.trainConfig({ preset: "cpu-quick", train_file: trainFile, output_dir: outputDir, device: "cpu" });
  const result = await train.train(config, { env });
  console.log(`trained: ${JSON.stringify(result.metrics)}`);
  return path.join(outputDir, "adapter");
}

interface Run {
  name: string;
  engine: string;
  settings: Record<string, unknown>;
  records: number;
  generationS: number;
  recordsPerS: number;
  promptTokensPerS: number;
  parseFailures: number;
  labels: (taskLib.Labels | null)[];
}

function fromInfer(name: string, settings: Record<string, unknown>, r: inferLib.InferResult): Run {
  const predictions = inferLib.readPredictions(r.outputFile);
  const m = r.metrics;
  const run = { name, engine: m.engine, settings, records: m.records, generationS: m.generation_s, recordsPerS: m.records_per_s, promptTokensPerS: round(m.input_tokens / m.generation_s, 1), parseFailures: m.parse_failures, labels: predictions.map((p) => p.labels) };
  console.log(JSON.stringify({ ...run, labels: undefined }));
  return run;
}

function agreement(a: Run, b: Run): number {
  let equal = 0;
  for (const [i, la] of a.labels.entries()) for (const f of task.fields) if (la !== null && b.labels[i] !== null && la[f.name] === b.labels[i]![f.name]) equal += 1;
  return round(equal / (a.labels.length * task.fields.length), 4);
}

async function main(): Promise<void> {
  const rows = fs.readFileSync(path.join(paths.root, "data/reference-labels/labels.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Row);
  // Notebook 1's split of the reference labels (seed 42, whole books held out for test).
  const split = corpus.splitTrainTest(rows, { testFraction: 0.25, seed: 42, holdOutGroups: true });
  const testRows = split.test.slice(0, RECORDS);
  const input = path.join(tmp, "test64.jsonl");
  fs.writeFileSync(input, testRows.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");
  const adapter = await student(split.train);
  const base = { model: "smollm2-135m-instruct", adapter_dir: adapter, input_file: input, device: "cpu" as const };
  const out = (n: string) => path.join(tmp, `${n}.jsonl`);
  const runs: Run[] = [];

  // The default first: it also makes the q8_0 GGUF (merge + export, timed apart from generation).
  const defaultConfig = inferLib.inferConfig({ ...base, output_file: out("default") });
  const ours = fromInfer("default: llama.cpp engine (auto)", { threads: os.availableParallelism(), sequences: 16, gguf: "q8_0" }, await inferLib.infer(defaultConfig, { env }));
  runs.push(ours);
  const today = fromInfer("(b) transformers engine, batch 16", { batch_size: 16 }, await inferLib.infer(inferLib.inferConfig({ ...base, ...freeDecoding(), engine: "transformers", output_file: out("transformers-b16") }), { env }));
  runs.push(today);
  runs.push(fromInfer("(a) transformers generate, batch 1", { batch_size: 1 }, await inferLib.infer(inferLib.inferConfig({ ...base, ...freeDecoding(), engine: "transformers", batch_size: 1, output_file: out("transformers-b1") }), { env })));
  runs.push(fromInfer("default engine, 1 thread", { threads: 1, sequences: 16, gguf: "q8_0" }, await inferLib.infer(defaultConfig, { env, threads: 1 })));

  // (c) llama.cpp as users run it: generation, swept.
  const encoded = path.join(tmp, "encoded.json");
  await runtime.runJob("encode", { model: "smollm2-135m-instruct", task_file: "recipes", input_file: input, output_file: encoded }, { env });
  const gguf = { q8_0: inferLib.ggufPath(defaultConfig), f16: await inferLib.studentGguf(inferLib.inferConfig({ ...base, gguf_type: "f16", output_file: out("f16") }), { env }) };
  const sweep: GenerateSettings[] = [
    { gguf: "q8_0", threads: 2, sequences: 16, grammar: true },
    { gguf: "q8_0", threads: 1, sequences: 16, grammar: true },
    { gguf: "q8_0", threads: 2, sequences: 16, grammar: false },
    { gguf: "q8_0", threads: 2, sequences: 32, grammar: true },
    { gguf: "q8_0", threads: 2, sequences: 8, grammar: true },
    { gguf: "f16", threads: 2, sequences: 16, grammar: true },
  ];
  const llamaRuns: Run[] = [];
  for (const s of sweep) {
    const g = await llamaGenerate(gguf[s.gguf], encoded, task, s);
    const run: Run = { name: `(c) llama.cpp generate ${s.grammar ? "json_schema" : "free"}, ${s.gguf}, ${s.threads} threads, ${s.sequences} sequences`, engine: "llama.cpp generate", settings: { ...s }, records: g.labels.length, generationS: g.seconds, recordsPerS: round(g.labels.length / g.seconds, 3), promptTokensPerS: round(g.promptTokens / g.seconds, 1), parseFailures: g.labels.filter((l) => l === null).length, labels: g.labels };
    console.log(JSON.stringify({ ...run, labels: undefined }));
    llamaRuns.push(run);
  }
  runs.push(...llamaRuns);
  const best = llamaRuns.reduce((a, b) => (b.recordsPerS > a.recordsPerS ? b : a));
  const naive = runs.find((r) => r.name.startsWith("(a)"))!;

  const vsToday = round(ours.recordsPerS / today.recordsPerS, 2);
  const vsBest = round(ours.recordsPerS / best.recordsPerS, 2);
  const metrics: BenchMetric[] = [
    { name: "default (llama.cpp engine) records/s", value: ours.recordsPerS, unit: "records/s", note: `${RECORDS} recipes, ${ours.promptTokensPerS} prompt tokens/s, q8_0, 16 sequences, ${os.availableParallelism()} threads` },
    { name: "(a) transformers generate batch 1 records/s", value: naive.recordsPerS, unit: "records/s", note: `${naive.promptTokensPerS} prompt tokens/s; ${naive.parseFailures} unparseable` },
    { name: "(b) transformers engine (free generation, batch 16) records/s", value: today.recordsPerS, unit: "records/s", note: `${today.promptTokensPerS} prompt tokens/s; ${today.parseFailures} unparseable` },
    { name: "(c) llama.cpp best configuration records/s", value: best.recordsPerS, unit: "records/s", note: `${best.name}; ${best.promptTokensPerS} prompt tokens/s` },
    { name: "default / (a) naive", value: round(ours.recordsPerS / naive.recordsPerS, 2), unit: "x" },
    { name: "default / (b) transformers engine", value: vsToday, unit: "x", goal: ">= 3", met: vsToday >= 3 },
    { name: "default / (c) llama.cpp best", value: vsBest, unit: "x", goal: ">= 0.9", met: vsBest >= 0.9 },
    ...runs.filter((r) => r !== today).map((r) => ({ name: `label agreement with (b): ${r.name}`, value: agreement(r, today), unit: "share of labels" })),
  ];
  writeBenchResult("infer", metrics, { records: RECORDS, loadAverageAtEnd: os.loadavg().map((x) => round(x, 2)), runs: runs.map((r) => ({ ...r, labels: undefined })) });
}

// Main's transformers engine generated freely; when it gains a constrained mode, (b) keeps measuring the free one.
function freeDecoding(): Partial<inferLib.InferConfig> {
  return "decoding" in inferLib.inferDefaults ? ({ decoding: "free" } as Partial<inferLib.InferConfig>) : {};
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
