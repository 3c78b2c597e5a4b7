// Training throughput on CPU: tokens/s and peak memory of the train job for the tiny random Llama and for
// SmolLM2-135M (a few steps each), packing efficiency on real recipes, and the wall time of the cpu-default preset.
//
// The texts are real recipes from the shipped corpus; their labels are keyword guesses (no teacher here): speed
// and packing do not depend on what the labels say.
//   node tests/.build/bench/train.bench.js            (BENCH_FULL_CPU_DEFAULT=0 skips the full cpu-default run)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { corpus, paths, runtime, task as taskLib, train } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "train-bench-"));
const task = taskLib.loadTask("recipes");

function guessLabels(text: string): taskLib.Labels {
  const t = text.toLowerCase();
  const has = (...words: string[]) => words.some((w) => t.includes(w));
  return {
    has_non_fish_meat: has("beef", "pork", "chicken", "bacon", "ham", "mutton", "veal", "lard", "gelatin"),
    requires_oven: has("oven", "bake", "roast"),
    requires_stove: has("boil", "fry", "simmer", "stew", "saucepan"),
    cook_time_over_30_mins: has("hour", "overnight", "all night"),
    main_dish: has("beef", "pork", "chicken", "fish", "mutton", "pie"),
  };
}

interface RunSummary {
  tokensPerS: number;
  secondsPerStep: number;
  peakMemoryMiB: number;
  packingEfficiency: number;
  rowFill: number;
  wallS: number;
  startS: number;
  steps: number;
  examples: number;
  tokensPerEpoch: number;
  skipped: number;
  firstLoss: number;
  lastLoss: number;
}

async function measure(config: train.TrainConfig, env: Record<string, string> = {}): Promise<RunSummary> {
  const steps: runtime.StepEvent[] = [];
  const stepTimes: number[] = [];
  let start: runtime.StartEvent | undefined;
  const t0 = Date.now();
  let tStart = 0;
  const result = await train.train(config, {
    env,
    onEvent: (e) => {
      if (e.event === "start") {
        start = e;
        tStart = Date.now();
      }
      if (e.event === "step") {
        steps.push(e);
        stepTimes.push(Date.now());
        process.stderr.write(`  step ${e.step}/${e.total_steps} loss ${e.loss.toFixed(3)} ${Math.round(e.tokens_per_s)} tok/s\n`);
      }
    },
  });
  // Step 1 pays for one-time work (allocator warm-up, first mask build): leave it out of the rates.
  const steady = steps.slice(1);
  const stepSpan = (stepTimes.at(-1)! - stepTimes[0]) / 1000;
  return {
    tokensPerS: round(steady.reduce((s, e) => s + e.tokens_per_s, 0) / Math.max(steady.length, 1), 1),
    secondsPerStep: round(stepSpan / Math.max(steps.length - 1, 1), 2),
    peakMemoryMiB: Math.max(...steps.map((e) => e.memory_mb ?? 0)),
    packingEfficiency: start!.info.packing_efficiency as number,
    rowFill: start!.info.row_fill as number,
    wallS: round((Date.now() - t0) / 1000, 1),
    startS: round((tStart - t0) / 1000, 1),
    steps: result.metrics.steps,
    examples: start!.info.n_train_examples as number,
    tokensPerEpoch: start!.info.tokens_per_epoch as number,
    skipped: start!.info.n_skipped_too_long as number,
    firstLoss: round(steps[0].loss, 3),
    lastLoss: round(steps.at(-1)!.loss, 3),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const { records } = await corpus.sampleRecords(corpus.defaultCorpus, { n: 1000, seed: 7 });
  const trainFile = path.join(tmp, "train.jsonl");
  fs.writeFileSync(
    trainFile,
    records
      .map((r) => JSON.stringify({ messages: [{ role: "user", content: r.text }, { role: "assistant", content: taskLib.studentTarget(task, guessLabels(r.text)) }] }))
      .join("\n") + "\n",
  );
  const tiny = path.join(tmp, "tiny");
  execFileSync(paths.python, ["-m", "distill_runtime.tiny", "--out", tiny], { stdio: ["ignore", "pipe", "inherit"] });

  const common = { train_file: trainFile, eval_fraction: 0, save_steps: 1000, logging_steps: 1 } as const;
  console.error("tiny model (hidden 64, 2 layers), 8 steps of 2 x 1024 tokens");
  const tinyRun = await measure(train.trainConfig({ ...common, base_model: tiny, output_dir: path.join(tmp, "tiny-run"), preset: "cpu-default", max_steps: 8, micro_batch_size: 2, grad_accum_steps: 1 }));
  console.error("packing at the original's 4096 tokens (tiny model, 1 step)");
  const packed4096 = await measure(train.trainConfig({ ...common, base_model: tiny, output_dir: path.join(tmp, "pack-4096"), preset: "none", max_steps: 2, max_seq_len: 4096, micro_batch_size: 2, grad_accum_steps: 1 }));
  console.error("SmolLM2-135M, cpu-default batch shape, 5 LoRA steps");
  const smolConfig = train.trainConfig({ ...common, output_dir: path.join(tmp, "smol-run"), preset: "cpu-default", max_steps: 5 });
  const smol = await measure(smolConfig);
  const shape = `${smolConfig.micro_batch_size} x ${smolConfig.max_seq_len}`; // rows x tokens per micro-batch, from the preset

  let full: RunSummary | null = null;
  if (process.env.BENCH_FULL_CPU_DEFAULT !== "0") {
    console.error("the whole cpu-default preset on SmolLM2-135M");
    full = await measure(train.trainConfig({ train_file: trainFile, output_dir: path.join(tmp, "cpu-default") }));
  }

  const metrics: BenchMetric[] = [
    { name: "tiny tokens/s (CPU)", value: tinyRun.tokensPerS, unit: "tokens/s" },
    { name: "tiny peak memory", value: tinyRun.peakMemoryMiB, unit: "MiB", note: "peak RSS of the Python job" },
    { name: "SmolLM2-135M tokens/s (CPU, LoRA r16 all-linear)", value: smol.tokensPerS, unit: "tokens/s" },
    { name: `SmolLM2-135M seconds per step (${shape} packed tokens)`, value: smol.secondsPerStep, unit: "s" },
    { name: "SmolLM2-135M peak memory", value: smol.peakMemoryMiB, unit: "MiB", note: "peak RSS of the Python job" },
    // efficiency = real tokens / tokens computed (rows are padded only to the longest row of their micro-batch);
    // row fill = real tokens / (rows x max_seq_len), the number axolotl reports as packing efficiency.
    { name: `packing efficiency at ${shape} tokens (cpu-default)`, value: smol.packingEfficiency, unit: "ratio", goal: ">= 0.97", met: smol.packingEfficiency >= 0.97 },
    { name: `packed row fill at ${smolConfig.max_seq_len} tokens`, value: smol.rowFill, unit: "ratio" },
    { name: "packing efficiency at 4096 tokens (the original's, micro-batch 2)", value: packed4096.packingEfficiency, unit: "ratio", goal: ">= 0.97", met: packed4096.packingEfficiency >= 0.97 },
    { name: "packed row fill at 4096 tokens", value: packed4096.rowFill, unit: "ratio", goal: ">= 0.97", met: packed4096.rowFill >= 0.97 },
  ];
  if (full) {
    metrics.push({ name: "cpu-default preset wall time (SmolLM2-135M, incl. load; the readout alone since 2026-12-07)", value: full.wallS, unit: "s", goal: "<= 300 (a few minutes)", met: full.wallS <= 300 });
  }
  writeBenchResult("train", metrics, { examples: records.length, tiny: tinyRun, packed4096, smollm2: smol, cpuQuick: full, cpus: os.cpus().length });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
