// Inference throughput on CPU: records/s and generated tokens/s of the infer job's transformers engine, for
// SmolLM2-135M-Instruct and the tiny random Llama, over 32 real recipe prompts from the shipped corpus, at a few
// batch sizes.
//
// The models are not fine-tuned here, so they never write the JSON and every record runs to max_new_tokens (the
// schema-derived default, 60 for the recipes task): the slowest case for the decode phase. A trained student stops
// as soon as its JSON closes (~45 tokens for the recipes task).
//   node tests/.build/bench/infer.bench.js
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { corpus, inference as inferLib, paths } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const RECORDS = 32;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "infer-bench-"));

async function realRecipes(n: number): Promise<corpus.CorpusRecord[]> {
  const pool: corpus.CorpusRecord[] = [];
  for await (const r of corpus.readRecords(corpus.defaultCorpus)) {
    pool.push(r);
    if (pool.length >= 3000) break;
  }
  return inferLib.randomPicks(pool, n, 0);
}

interface Run {
  model: string;
  batchSize: number;
  recordsPerS: number;
  tokensPerS: number;
  generationS: number;
  runtimeS: number;
  inputTokens: number;
  outputTokens: number;
  maxNewTokens: number;
  parseFailures: number;
}

async function measure(model: string, label: string, inputFile: string, batchSize: number): Promise<Run> {
  const config = inferLib.inferConfig({ model, input_file: inputFile, output_file: path.join(tmp, `${label}-b${batchSize}.jsonl`), batch_size: batchSize, device: "cpu" });
  const { metrics: m } = await inferLib.infer(config);
  const run = {
    model: label,
    batchSize,
    recordsPerS: m.records_per_s,
    tokensPerS: m.tokens_per_s,
    generationS: m.generation_s,
    runtimeS: m.runtime_s,
    inputTokens: m.input_tokens,
    outputTokens: m.output_tokens,
    maxNewTokens: m.max_new_tokens,
    parseFailures: m.parse_failures,
  };
  console.log(JSON.stringify(run));
  return run;
}

async function main(): Promise<void> {
  const recipes = await realRecipes(RECORDS);
  const inputFile = path.join(tmp, "recipes.jsonl");
  fs.writeFileSync(inputFile, recipes.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");

  const tinyModel = path.join(tmp, "tiny-model");
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tinyModel], { stdio: ["ignore", "pipe", "inherit"] });

  const runs: Run[] = [];
  for (const batchSize of [8, 32]) runs.push(await measure(tinyModel, "tiny", inputFile, batchSize));
  // The first SmolLM2 run also dequantizes the GGUF into the cache (runtime_s shows it; the rates exclude loading).
  for (const batchSize of [1, 8, 32]) runs.push(await measure("smollm2-135m-instruct", "smollm2-135m", inputFile, batchSize));

  const best = (label: string) => runs.filter((r) => r.model === label).sort((a, b) => b.recordsPerS - a.recordsPerS)[0];
  const smol = best("smollm2-135m");
  const tiny = best("tiny");
  const smolBatch1 = runs.find((r) => r.model === "smollm2-135m" && r.batchSize === 1)!;
  const metrics: BenchMetric[] = [
    { name: "smollm2_records_per_s", value: smol.recordsPerS, unit: "records/s", note: `CPU, best batch size (${smol.batchSize}), ${RECORDS} real recipes, ${smol.maxNewTokens} new tokens each` },
    { name: "smollm2_tokens_per_s", value: smol.tokensPerS, unit: "generated tokens/s", note: `batch ${smol.batchSize}` },
    { name: "smollm2_batch1_records_per_s", value: smolBatch1.recordsPerS, unit: "records/s", note: "batch size 1: what batching buys" },
    { name: "tiny_records_per_s", value: tiny.recordsPerS, unit: "records/s", note: `tiny random Llama, batch ${tiny.batchSize}` },
    { name: "tiny_tokens_per_s", value: tiny.tokensPerS, unit: "generated tokens/s", note: `batch ${tiny.batchSize}` },
  ];
  const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
  writeBenchResult("infer", metrics, {
    records: RECORDS,
    meanInputTokens: Math.round(smol.inputTokens / RECORDS),
    engine: "transformers",
    threads: process.env.OMP_NUM_THREADS ?? "torch default",
    loadAverageAtEnd: load,
    runs,
  });
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
