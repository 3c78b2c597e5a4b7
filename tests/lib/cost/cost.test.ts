import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cost, prices as pricesLib } from "@distill/lib";

const prices = pricesLib.loadPrices();
const cents = (usd: number) => Math.round(usd * 100) / 100;
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

function tempFile(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cost-test-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

test("the shipped price file has the rows the notebooks rely on", () => {
  for (const m of ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-0125", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano"]) {
    assert.equal(pricesLib.apiPrice(prices, m).model, m);
  }
  for (const ft of prices.api.filter((r) => r.fine_tuned)) assert.match(ft.note ?? "", /verify/, ft.model);
  assert.equal(pricesLib.gpuPrice(prices, "H100 SXM 80GB", "RunPod", "community").usd_per_hour, 2.69);
  assert.equal(pricesLib.gpuPrice(prices, "L40 48GB").usd_per_hour, 1.14);
  assert.throws(() => pricesLib.gpuPrice(prices, "H100 SXM 80GB"), /Several GPU prices match.*Name the provider and tier/);
});

test("apiCallCost: hand-computed standard, cached and batch prices", () => {
  // gpt-4o: 1,000 in x $2.50/1M + 500 out x $10/1M = 0.0025 + 0.005
  close(pricesLib.apiCallCost(prices, "gpt-4o", { inputTokens: 1000, outputTokens: 500 }), 0.0075, "gpt-4o");
  // 400 of the 1,000 input tokens cached at $1.25/1M: 600 x 2.5 + 400 x 1.25 + 500 x 10 = 7,000 / 1M
  close(pricesLib.apiCallCost(prices, "gpt-4o", { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500 }), 0.007, "gpt-4o cached");
  close(pricesLib.apiCallCost(prices, "gpt-4o", { inputTokens: 1000, outputTokens: 500 }, { batch: true }), 0.00375, "gpt-4o batch");
  // gpt-4 has no cached price: cached tokens bill as input. 276 x 30 + 42 x 60 = 10,800 / 1M
  close(pricesLib.apiCallCost(prices, "gpt-4", { inputTokens: 276, cachedInputTokens: 100, outputTokens: 42 }), 0.0108, "gpt-4");
  // The original's job at today's prices (reference figures): gpt-4o-mini $143, gpt-5-nano $66, gpt-4.1 $1,907.
  const avg = { inputTokens: 276, outputTokens: 42 };
  assert.equal(Math.round(pricesLib.apiCorpusCost(prices, "gpt-4o-mini", avg, 2_147_248)), 143);
  assert.equal(Math.round(pricesLib.apiCorpusCost(prices, "gpt-5-nano", avg, 2_147_248)), 66);
  assert.equal(Math.round(pricesLib.apiCorpusCost(prices, "gpt-4.1", avg, 2_147_248)), 1907);
  close(pricesLib.apiCostPerRecord(prices, "gpt-4.1-nano", avg), (276 * 0.1 + 42 * 0.4) / 1e6, "gpt-4.1-nano per record");
});

test("apiCallCost refuses bad usage and a batch price that does not exist", () => {
  assert.throws(() => pricesLib.apiCallCost(prices, "gpt-4o", { inputTokens: -1, outputTokens: 0 }), /inputTokens must be a number >= 0/);
  assert.throws(() => pricesLib.apiCallCost(prices, "gpt-4o", { inputTokens: 10, cachedInputTokens: 11, outputTokens: 0 }), /cannot exceed/);
  assert.throws(() => pricesLib.apiCallCost(prices, "gpt-3.5-turbo-0613", { inputTokens: 1, outputTokens: 1 }, { batch: true }), /"gpt-3.5-turbo-0613" has no Batch API price/);
});

test("a missing price row names the model and lists the known ones", () => {
  assert.throws(
    () => pricesLib.apiCallCost(prices, "gpt-9-ultra", { inputTokens: 1, outputTokens: 1 }),
    (err: Error) => /No API price for model "gpt-9-ultra"/.test(err.message) && /gpt-4o-mini/.test(err.message) && /prices\.json/.test(err.message),
  );
  // A full fine-tuned id falls back to its base row.
  assert.equal(pricesLib.apiPrice(prices, "ft:gpt-4o-mini-2024-07-18:acme:recipes:AbC123").model, "ft:gpt-4o-mini");
});

test("overrides change a row, add a row and are validated", () => {
  const custom = pricesLib.withOverrides(prices, {
    api: [{ model: "gpt-4o-mini", input_per_1m: 0.2 }, { model: "my-proxy-model", input_per_1m: 1, output_per_1m: 2 }],
    gpu: [{ gpu: "H100 SXM 80GB", provider: "RunPod", tier: "community", usd_per_hour: 2.0 }, { gpu: "RTX 4090", provider: "home", usd_per_hour: 0.3 }],
  });
  const mini = pricesLib.apiPrice(custom, "gpt-4o-mini");
  assert.equal(mini.input_per_1m, 0.2);
  assert.equal(mini.output_per_1m, 0.6); // untouched field kept
  assert.equal(mini.source, "user override");
  close(pricesLib.apiCallCost(custom, "my-proxy-model", { inputTokens: 1e6, outputTokens: 1e6 }), 3, "added row");
  assert.equal(pricesLib.apiPrice(custom, "my-proxy-model").encoding, "o200k_base");
  assert.equal(pricesLib.gpuPrice(custom, "H100 SXM 80GB", "RunPod", "community").usd_per_hour, 2.0);
  assert.equal(pricesLib.gpuPrice(custom, "RTX 4090").tier, "on-demand");
  assert.equal(pricesLib.apiPrice(prices, "gpt-4o-mini").input_per_1m, 0.15, "the original prices are not mutated");
  assert.throws(() => pricesLib.withOverrides(prices, { api: [{ model: "new-model", input_per_1m: 1 }] }), /override 0 \(model "new-model"\)[\s\S]*output_per_1m/);
  assert.throws(() => pricesLib.withOverrides(prices, { api: [{ model: "gpt-4o", input_per_1m: -2 }] }), /model "gpt-4o"[\s\S]*input_per_1m/);
});

test("loadPrices names the file, the row and the field of a bad price", () => {
  const raw = JSON.parse(fs.readFileSync(prices.file, "utf8"));
  raw.api[4].output_per_1m = "ten";
  const bad = tempFile("prices.json", JSON.stringify(raw));
  assert.throws(() => pricesLib.loadPrices(bad), (err: Error) => err.message.includes(bad) && /api\[4\] \(model "gpt-4o"\): output_per_1m/.test(err.message));
  raw.api[4].output_per_1m = 10;
  raw.api.push({ ...raw.api[4] });
  const duplicate = tempFile("prices.json", JSON.stringify(raw));
  assert.throws(() => pricesLib.loadPrices(duplicate), /api\[4\] and api\[15\] both price model "gpt-4o"/);
  assert.throws(() => pricesLib.loadPrices(tempFile("prices.json", "{ not json")), /Cannot read prices from .*prices\.json/);
});

test("gpuCost: hours, dollars and per-record cost; zero or negative inputs are refused", () => {
  // The original: 2,147,248 recipes at ~36.15 records/s = 16.5 h; 16.5 h x $1.14 = $18.81.
  const g = cost.gpuCost(1.14, 2_147_248, 2_147_248 / (16.5 * 3600));
  close(g.hours, 16.5, "hours");
  assert.equal(cents(g.usd), 18.81);
  close(g.usdPerRecord, g.usd / 2_147_248, "per record");
  // Reference: 115 recipes/s (50% MFU on an H100) at $2.69/h -> 5.19 h, ~$14.
  assert.equal(Math.round(cost.gpuCost(2.69, 2_147_248, 115).usd), 14);
  assert.throws(() => cost.gpuCost(0, 100, 1), /GPU rate \(USD per hour\) must be a number above 0, got 0/);
  assert.throws(() => cost.gpuCost(1, -5, 1), /corpus size must be a number above 0, got -5/);
  assert.throws(() => cost.gpuCost(1, 100, 0), /throughput \(records per second\) must be a number above 0, got 0/);
  assert.throws(() => pricesLib.apiCorpusCost(prices, "gpt-4o", { inputTokens: 1, outputTokens: 1 }, 0), /corpus size/);
});

test("originalTable reproduces the 2023 original's table to the cent", () => {
  const rows = cost.originalTable(prices);
  assert.deepEqual(
    rows.map((r) => [r.option, r.usdPerRecord.toFixed(6), cents(r.usdPerCorpus)]),
    [
      ["Llama-2-7B fine-tuned (L40)", "0.000009", 18.81],
      ["gpt-3.5-turbo", "0.000481", 1033.26],
      ["gpt-3.5-turbo fine-tuned", "0.004044", 8683.47],
      ["gpt-4", "0.010800", 23190.28],
    ],
  );
  // ...and agrees with the printed figures kept in the price file.
  for (const [i, published] of prices.original_2023.published.entries()) {
    assert.equal(rows[i].option, published.option);
    assert.equal(cents(rows[i].usdPerCorpus), published.usd_per_corpus);
    assert.equal(Number(rows[i].usdPerRecord.toFixed(6)), published.usd_per_record);
  }
  assert.ok(rows.every((r) => r.kind === "original-2023"));
  assert.equal(rows[0].hours, 16.5);
  assert.equal(rows[3].ratioVsTeacher, 1);
  assert.match(rows[1].note ?? "", /typo.*0\.002/);
});

test("costTable: teacher first, batch rows, the student per GPU rate, ratios against the teacher", () => {
  const measured = { recordsPerSecond: 115, tokensPerSecond: 9000, hardware: "NVIDIA H100 80GB HBM3", records: 64, engine: "transformers", tokensPerRecord: 320 };
  const student = cost.studentOnGpus(measured, { paramsTotal: 135_000_000, gpuRates: [pricesLib.gpuPrice(prices, "H100 SXM 80GB", "RunPod", "community"), pricesLib.gpuPrice(prices, "A100 40GB")], gpuBench: null });
  const rows = cost.costTable(prices, { corpusSize: 2_147_248, teacher: "gpt-4.1", models: ["gpt-4o-mini", "gpt-3.5-turbo-0613"], avgTokens: { input: 276, output: 42 }, student });
  assert.deepEqual(
    rows.map((r) => [r.option, r.kind]),
    [
      ["gpt-4.1 (teacher)", "api"],
      ["gpt-4.1 batch", "api-batch"],
      ["gpt-4o-mini", "api"],
      ["gpt-4o-mini batch", "api-batch"],
      ["gpt-3.5-turbo-0613", "api"], // no Batch API row
      ["student on H100 SXM 80GB (RunPod, community)", "student"],
      ["student on A100 40GB (Lambda, on-demand)", "student"],
    ],
  );
  const teacher = (276 * 2 + 42 * 8) / 1e6;
  close(rows[0].usdPerRecord, teacher, "teacher per record");
  assert.equal(rows[0].ratioVsTeacher, 1);
  close(rows[1].ratioVsTeacher, 0.5, "batch ratio");
  close(rows[2].ratioVsTeacher, ((276 * 0.15 + 42 * 0.6) / 1e6) / teacher, "gpt-4o-mini ratio");
  const h100 = rows[5];
  close(h100.hours!, 2_147_248 / 115 / 3600, "student hours");
  close(h100.usdPerCorpus, h100.hours! * 2.69, "student USD");
  assert.equal(h100.basis, "measured", "measured on the same chip");
  assert.equal(h100.basisNote, "measured on NVIDIA H100 80GB HBM3");
  // The A100 was not measured: an estimate, the H100's records/s scaled by the peaks (312 / 989 TFLOP/s).
  assert.equal(rows[6].basis, "estimated");
  close(rows[6].hours!, 2_147_248 / ((115 * 312) / 989) / 3600, "A100 hours scaled by the peaks");
  assert.match(rows[6].basisNote ?? "", /^estimate: 115 records\/s measured on NVIDIA H100.*312 \/ 989/);
  assert.deepEqual([...new Set(rows.filter((r) => r.kind !== "student").map((r) => r.basis))], ["list price"]);
  assert.equal(h100.asOf, "2026-11");
  assert.throws(
    () => cost.costTable(prices, { corpusSize: 10, teacher: "gpt-4.1", models: ["gpt-4o"], avgTokens: { "gpt-4.1": { input: 1, output: 1 } } }),
    /avgTokens has no entry for model "gpt-4o"/,
  );
});

test("breakEven: records after which the student wins, null when it never does", () => {
  // $54 labeling + $10 training = $64 fixed; saving 0.000481 - 0.000009 = 0.000472 per record -> 135,594 records.
  assert.equal(cost.breakEven({ apiCostPerRecord: 0.000481, fixedCostUsd: 64, studentCostPerRecord: 0.000009 }), Math.ceil(64 / 0.000472));
  assert.equal(cost.breakEven({ apiCostPerRecord: 0.01, fixedCostUsd: 100, studentCostPerRecord: 0.005 }), 20_000);
  assert.equal(cost.breakEven({ apiCostPerRecord: 0.01, fixedCostUsd: 0, studentCostPerRecord: 0.001 }), 0);
  assert.equal(cost.breakEven({ apiCostPerRecord: 0.001, fixedCostUsd: 100, studentCostPerRecord: 0.001 }), null);
  assert.equal(cost.breakEven({ apiCostPerRecord: 0.0001, fixedCostUsd: 100, studentCostPerRecord: 0.001 }), null);
  assert.throws(() => cost.breakEven({ apiCostPerRecord: 0.01, fixedCostUsd: -1, studentCostPerRecord: 0 }), /fixedCostUsd must be a number >= 0/);
});

test("mfu: 2 x params FLOP per token over the dense peak (reference: 7B on an H100)", () => {
  // Llama-2-7B (6.74e9 params), 318 tokens per recipe, H100 989 TFLOP/s: 231 recipes/s is ~100% MFU.
  const full = cost.mfu({ recordsPerSecond: 231, tokensPerRecord: 318, paramsCount: 6.74e9, peakTflops: 989 });
  close(full, (231 * 318 * 2 * 6.74e9) / 989e12, "mfu");
  assert.ok(Math.abs(full - 1) < 0.01);
  assert.equal(cost.mfu({ recordsPerSecond: 10, tokensPerRecord: 100, paramsCount: 5e9, peakTflops: 100 }), 0.1);
  assert.throws(() => cost.mfu({ recordsPerSecond: 0, tokensPerRecord: 1, paramsCount: 1, peakTflops: 1 }), /throughput/);
  assert.throws(() => cost.mfu({ recordsPerSecond: 1, tokensPerRecord: 1, paramsCount: 1, peakTflops: -1 }), /peak TFLOP\/s/);
});

test("importThroughput reads results.throughput from a run.json and names the file when it is missing", async () => {
  const good = tempFile("run.json", JSON.stringify({ job: "infer", results: { throughput: { records_per_s: 120.5, tokens_per_s: 38000, hardware: "NVIDIA H100 80GB HBM3", mfu: 0.4 } } }));
  assert.deepEqual(await cost.importThroughput(good), { recordsPerSecond: 120.5, tokensPerSecond: 38000, hardware: "NVIDIA H100 80GB HBM3" });
  const bad = tempFile("run.json", JSON.stringify({ results: { throughput: { records_per_s: 0, hardware: "x" } } }));
  await assert.rejects(cost.importThroughput(bad), (err: Error) => err.message.includes(bad) && /records_per_s/.test(err.message) && /tokens_per_s/.test(err.message));
  await assert.rejects(cost.importThroughput(path.join(os.tmpdir(), "no-such-run.json")), /Cannot read run results from .*no-such-run\.json/);
});
