import assert from "node:assert/strict";
import { test } from "node:test";
import { cost, paths } from "@distill/lib";

test("utilization: MFU against the GPU's peak; on a CPU a note instead of a number", () => {
  const cpu = cost.utilization({ tokensPerSecond: 100, hardware: "AMD EPYC (2 cores, CPU)" }, 135_000_000);
  assert.equal(cpu.mfu, null);
  assert.equal(cpu.figure, null);
  assert.match(cpu.note, /GPU runs only/);
  // 7e9 params at 36,000 tok/s = 504 TFLOP/s = 51% of the H100's 989.
  const gpu = cost.utilization({ tokensPerSecond: 36_000, hardware: "NVIDIA H100 80GB HBM3" }, 7_000_000_000);
  assert.ok(Math.abs(gpu.mfu! - 504 / 989) < 1e-9);
  assert.ok(gpu.figure);
  assert.equal(cost.utilization({ tokensPerSecond: 1, hardware: "NVIDIA H100" }, null).mfu, null);
});

test("paretoPoints joins agreement with the cost table's student and API rows", () => {
  const table = [
    { option: "gpt-4 (teacher)", kind: "api", usdPerCorpus: 30000 },
    { option: "gpt-4o-mini", kind: "api", usdPerCorpus: 150 },
    { option: "student on H100", kind: "student", usdPerCorpus: 15 },
  ];
  const points = cost.paretoPoints([{ name: "student", agreement: 0.9 }, { name: "gpt-4o-mini", agreement: 0.92 }, { name: "unpriced", agreement: 1 }], table);
  assert.deepEqual(points, [{ name: "student (student on H100)", x: 15, y: 0.9 }, { name: "gpt-4o-mini", x: 150, y: 0.92 }]);
});

test("measureThroughput with importFrom reads another run's run.json instead of running the student", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "distill-throughput-"));
  const runJson = path.join(dir, "run.json");
  fs.writeFileSync(runJson, JSON.stringify({ results: { throughput: { records_per_s: 120.5, tokens_per_s: 40000, hardware: "NVIDIA H100 80GB HBM3" } } }));
  const ws = paths.workspace(dir);
  const m = await cost.measureThroughput(ws, { model: null, merged_dir: "unused", adapter_dir: null }, { corpus: [], n: 1, seed: 0, taskName: "recipes", batchSize: 1, engine: "auto", importFrom: runJson });
  assert.equal(m.recordsPerSecond, 120.5);
  assert.equal(m.hardware, "NVIDIA H100 80GB HBM3");
  assert.match(m.engine, /imported from/);
  assert.equal(fs.existsSync(ws.throughput), false, "nothing was run");
});
