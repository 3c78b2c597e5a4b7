// The student on a GPU it never ran on is an estimate, said so; measured only where it (or the GPU bench's model of
// its size) ran on that chip. Figures are hand-computed from data/hardware.json's peaks.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { cost, prices as pricesLib } from "@distill/lib";

const prices = pricesLib.loadPrices();
const hardware = cost.loadHardware();
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual / expected - 1) < 1e-9, `${what}: ${actual} != ${expected}`);

// The case: 0.34 records/s measured on 2 CPU cores, the SmolLM2 student (135M), 330 tokens per record.
const cpu = { recordsPerSecond: 0.34, tokensPerSecond: 15, hardware: "AMD EPYC 7B13 (2 cores, CPU)", records: 32, engine: "transformers", tokensPerRecord: 330 };
const smolParams = 134_515_008;

/** A bench/results/gpu.json as python-runtime/distill_runtime/bench/gpu.py writes it (the keys notebook 4 reads). */
function gpuBenchFile(t: { hardware: string; records_per_s: number | null; mfu_2p: number | null; params_total: number }): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gpu-bench-")), "gpu.json");
  fs.writeFileSync(file, JSON.stringify({ name: "gpu", date: "2026-12-06T22:00:00Z", machine: { gpu: t.hardware }, metrics: [], details: { shape: { name: "Llama-2-7B shape (random init)" }, throughput: { ...t, tokens_per_s: 1, prompt_tokens_per_s: 1, prefill_mfu_2p: 0.5 } } }));
  return file;
}

test("hardware table: peaks matched by chip name, and the stated roofline MFU", () => {
  assert.equal(cost.gpuPeak(hardware, "H100 SXM 80GB")?.bf16_dense_tflops, 989);
  assert.equal(cost.gpuPeak(hardware, "NVIDIA A100-SXM4-80GB")?.bf16_dense_tflops, 312);
  assert.equal(cost.gpuPeak(hardware, "AMD EPYC 7B13 (2 cores, CPU)"), null);
  assert.ok(hardware.roofline.mfu > 0 && hardware.roofline.mfu < 1);
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hw-")), "hardware.json");
  fs.writeFileSync(bad, JSON.stringify({ gpus: [] }));
  assert.throws(() => cost.loadHardware(bad), (e: Error) => e.message.includes(bad) && /roofline/.test(e.message));
});

test("rooflineRecordsPerSecond: mfu x peak over 2 x params x tokens per record", () => {
  // 0.2 x 989e12 / (2 x 135e6 x 330) = 2,220 records/s
  close(cost.rooflineRecordsPerSecond({ paramsTotal: 135e6, tokensPerRecord: 330 }, 989, 0.2), (0.2 * 989e12) / (2 * 135e6 * 330), "records/s");
  assert.throws(() => cost.rooflineRecordsPerSecond({ paramsTotal: 0, tokensPerRecord: 330 }, 989, 0.2), /paramsTotal must be a number > 0/);
});

test("a CPU throughput never prices a GPU as measured: every GPU row is a labelled roofline estimate", () => {
  const gpuRates = [pricesLib.gpuPrice(prices, "H100 SXM 80GB", "RunPod", "community"), pricesLib.gpuPrice(prices, "L40 48GB")];
  const student = cost.studentOnGpus(cpu, { paramsTotal: smolParams, gpuRates, gpuBench: null });
  const rows = cost.costTable(prices, { corpusSize: 2_147_248, teacher: "gpt-4", models: [], batch: false, avgTokens: { input: 276, output: 42 }, student }).filter((r) => r.kind === "student");
  assert.equal(rows.length, 2);
  const mfu = hardware.roofline.mfu;
  for (const [row, peak] of [[rows[0], 989], [rows[1], 181]] as const) {
    assert.equal(row.basis, "estimated");
    const perSecond = (mfu * peak * 1e12) / (2 * smolParams * 330);
    close(row.hours!, 2_147_248 / perSecond / 3600, `${row.option} hours`);
    assert.match(row.basisNote ?? "", new RegExp(`^estimate, not measured: prefill-bound roofline at ${Math.round(100 * mfu)}% MFU \\(assumed, data/hardware.json\\) of ${peak} TFLOP/s, 2 x 135M params x 330 tokens per record$`));
  }
  // Not the 4,719 USD (0.34 records/s for 2.1M records at 2.69 USD/h): priced from the chip, not the CPU.
  assert.ok(rows[0].usdPerCorpus < 10, `H100 estimate ${rows[0].usdPerCorpus} USD`);
});

test("with the GPU bench's result: its measured MFU replaces the assumed one; a model of its size is measured", () => {
  const file = gpuBenchFile({ hardware: "NVIDIA H100 80GB HBM3", records_per_s: 41.5, mfu_2p: 0.31, params_total: 6_738_415_616 });
  const bench = cost.readGpuBench(file);
  assert.deepEqual(bench, { file, date: "2026-12-06T22:00:00Z", hardware: "NVIDIA H100 80GB HBM3", shape: "Llama-2-7B shape (random init)", paramsTotal: 6_738_415_616, recordsPerSecond: 41.5, mfu: 0.31 });
  // The 135M student on an H100: estimated at the bench's 31%, and the note says whose MFU it is.
  const small = cost.throughputOnGpu("H100 SXM 80GB", { measured: cpu, workload: { paramsTotal: smolParams, tokensPerRecord: 330 }, hardware, gpuBench: bench });
  assert.equal(small?.basis, "estimated");
  close(small!.recordsPerSecond, (0.31 * 989e12) / (2 * smolParams * 330), "records/s at the measured MFU");
  assert.match(small!.basisNote, /roofline at 31% MFU \(the MFU bench\/gpu.sh measured for Llama-2-7B shape \(random init\) on NVIDIA H100 80GB HBM3\)/);
  // A 7B student on an H100: the bench ran a model of its size there: measured.
  const big = cost.throughputOnGpu("H100 SXM 80GB", { measured: cpu, workload: { paramsTotal: 6_738_000_000, tokensPerRecord: 330 }, hardware, gpuBench: bench });
  assert.deepEqual(big, { recordsPerSecond: 41.5, basis: "measured", basisNote: "measured by bench/gpu.sh on NVIDIA H100 80GB HBM3 (Llama-2-7B shape (random init), 6.7B params, 2026-12-06)" });
  // ... and on an A100 it stays an estimate (the bench's MFU at the A100's peak).
  const a100 = cost.throughputOnGpu("A100 SXM 80GB", { measured: cpu, workload: { paramsTotal: 6_738_000_000, tokensPerRecord: 330 }, hardware, gpuBench: bench });
  assert.equal(a100?.basis, "estimated");
  close(a100!.recordsPerSecond, (0.31 * 312e12) / (2 * 6_738_000_000 * 330), "A100 records/s");
});

test("readGpuBench: no file, the tiny CPU check or a failed inference phase give null; a malformed file names itself", () => {
  assert.equal(cost.readGpuBench(path.join(os.tmpdir(), "no-such-gpu.json")), null);
  assert.equal(cost.readGpuBench(gpuBenchFile({ hardware: "AMD EPYC 7B13 (CPU)", records_per_s: 3, mfu_2p: null, params_total: 1e6 })), null);
  assert.equal(cost.readGpuBench(gpuBenchFile({ hardware: "NVIDIA H100 80GB HBM3", records_per_s: null, mfu_2p: null, params_total: 6.7e9 })), null);
  const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gpu-bench-")), "gpu.json");
  fs.writeFileSync(bad, JSON.stringify({ date: "x", details: {} }));
  assert.throws(() => cost.readGpuBench(bad), (e: Error) => e.message.includes(bad) && /rerun bench\/gpu.sh/.test(e.message));
});

test("a GPU nothing can say about is left out of the table rather than guessed", () => {
  const onGpu = (gpu: string) => cost.throughputOnGpu(gpu, { measured: cpu, workload: null, hardware, gpuBench: null });
  assert.equal(onGpu("H100 SXM 80GB"), null, "no parameter count or tokens per record: no roofline");
  assert.equal(onGpu("TPU v5e"), null, "not in the hardware table");
  const tpu = { gpu: "TPU v5e", provider: "GCP", usd_per_hour: 1.2 };
  const h100 = pricesLib.gpuPrice(prices, "H100 SXM 80GB", "RunPod", "community");
  const base = { corpusSize: 1000, teacher: "gpt-4", models: [], batch: false, avgTokens: { input: 276, output: 42 } };
  const measuredOnH100 = (gpu: string) => cost.throughputOnGpu(gpu, { measured: { recordsPerSecond: 50, hardware: "NVIDIA H100 80GB HBM3" }, workload: null, hardware, gpuBench: null });
  const rows = cost.costTable(prices, { ...base, student: { gpuRates: [tpu, h100], onGpu: measuredOnH100 } });
  assert.deepEqual(rows.map((r) => [r.kind, r.basis]), [["api", "list price"], ["student", "measured"]]);
  assert.throws(() => cost.costTable(prices, { ...base, student: { gpuRates: [tpu, h100], onGpu } }), /no GPU rate could price the student \(TPU v5e, H100 SXM 80GB\).*parameter count \(run notebook 2/);
  assert.equal(cost.basesOf([{ basis: "measured" }, { basis: "estimated" }, { basis: "estimated" }]), "measured and estimated");
});
