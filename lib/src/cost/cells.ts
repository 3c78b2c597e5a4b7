// What notebook 4 (cost) calls besides the cost table: tokens per labeling request with each API model's tokenizer,
// the student's fixed costs, and the break-even, Pareto and utilisation figures.
import * as fs from "node:fs";
import * as path from "node:path";
import { readRecords, sampleRecords } from "../corpus";
import { estimateLabelingCost, readLabeled } from "../label";
import type { Workspace } from "../paths";
import type { Prices } from "../prices";
import type { OnProgress } from "../progress";
import { bar, lines, type Figure } from "../report/plots";
import { teacherMessages, toolDefinition, type Task } from "../task";
import { cachedCounter, corpusTokenStats, encodingForModel, estimateChatTokens, type ChatMessage, type TokenStats } from "../tokens";
import { gpuPeak, loadHardware } from "./gpu-estimate";

export interface ApiTokens {
  /** Average input and output tokens per record, per API model (its own encoding). */
  byModel: Record<string, { input: number; output: number }>;
  /** Input-token statistics per encoding over the sample. */
  stats: Record<string, TokenStats>;
  records: number;
}

/**
 * Tokens per labeling request with each model's real tokenizer: the teacher's messages and forced function counted
 * as OpenAI bills them (input), and the expected answer (output, from the schema, as the labeling estimate does).
 * Streams the corpus; `sample` > 0 counts a seeded sample instead of every record.
 */
export async function apiTokens(task: Task, corpus: string | string[], models: string[], o: { sample: number; seed: number; prices: Prices; onProgress?: OnProgress }): Promise<ApiTokens> {
  const byEncoding = new Map<string, string>();
  for (const m of models) if (!byEncoding.has(encodingForModel(m))) byEncoding.set(encodingForModel(m), m);
  const tools = [toolDefinition(task)];
  const records = o.sample > 0 ? (await sampleRecords(corpus, { n: o.sample, seed: o.seed, dedupe: false })).records : null;
  const stats: Record<string, TokenStats> = {};
  for (const [encoding, model] of byEncoding) {
    const count = cachedCounter((text: string) => estimateChatTokens(model, teacherMessages(task, text) as ChatMessage[], tools));
    stats[encoding] = await corpusTokenStats(records ?? readRecords(corpus), count, { onProgress: o.onProgress });
  }
  const byModel: ApiTokens["byModel"] = {};
  for (const m of models) {
    const probe = await estimateLabelingCost(task, [{ id: "probe", text: "x", group: "", title: "" }], { provider: "openai", model: m }, o.prices);
    byModel[m] = { input: stats[encodingForModel(m)].mean, output: probe.perRecord.outputTokens };
  }
  return { byModel, stats, records: stats[encodingForModel(models[0])].count };
}

/** Total cost against number of records: API (per record) vs the student (labeling + training once, then per record). */
export function breakEvenFigure(o: { api: { name: string; usdPerRecord: number }[]; student: { usdPerRecord: number; fixedUsd: number }; maxRecords: number }): Figure {
  const xs = Array.from({ length: 60 }, (_, i) => Math.round(10 ** ((i / 59) * Math.log10(o.maxRecords))));
  return lines(
    [
      ...o.api.map((a) => ({ name: a.name, x: xs, y: xs.map((n) => n * a.usdPerRecord), mode: "lines" })),
      { name: "student (labeling + training + inference)", x: xs, y: xs.map((n) => o.student.fixedUsd + n * o.student.usdPerRecord), mode: "lines" },
    ],
    { title: "Total cost by number of records", xTitle: "records", yTitle: "USD", logX: true, logY: true },
  );
}

/**
 * What the student costs once, before it labels anything: the labeled sample priced at the teacher's rate (what a
 * real teacher would charge for it, even when this run used the free local one), plus the training time at a GPU rate.
 */
export function fixedCosts(ws: Workspace, teacherUsdPerRecord: number, gpu: { usd_per_hour: number; gpu: string } | undefined): { labeling: number; training: number; total: number; labeledRecords: number; trainingHours: number; note: string } {
  const labeledRecords = fs.existsSync(ws.labeled) ? readLabeled(ws.labeled).filter((r) => r.status === "ok").length : 0;
  const trainFile = path.join(ws.student, "training.json");
  const trained = fs.existsSync(trainFile) ? (JSON.parse(fs.readFileSync(trainFile, "utf8")) as { runtime_s: number; device: string | null }) : null;
  const trainingHours = (trained?.runtime_s ?? 0) / 3600;
  const labeling = labeledRecords * teacherUsdPerRecord;
  const training = trainingHours * (gpu?.usd_per_hour ?? 0);
  const note = `${labeledRecords} labeled records at the teacher's price; ${(trainingHours * 60).toFixed(1)} min of training (on ${trained?.device ?? "?"}) at ${gpu ? `$${gpu.usd_per_hour}/h (${gpu.gpu})` : "$0"}`;
  return { labeling, training, total: labeling + training, labeledRecords, trainingHours, note };
}

/** Agreement (notebook 3) against corpus cost (the cost table) for every option measured in both. */
export function paretoPoints(agreements: { name: string; agreement: number }[], table: { option: string; kind: string; usdPerCorpus: number }[]): { name: string; x: number; y: number }[] {
  return agreements.flatMap((a) => {
    const row = a.name === "student" ? table.find((r) => r.kind === "student") : table.find((r) => r.option === a.name && r.kind === "api");
    return row ? [{ name: a.name === "student" ? `student (${row.option})` : a.name, x: row.usdPerCorpus, y: a.agreement }] : [];
  });
}

/**
 * Model FLOPs utilization of a measured inference run against its GPU's peak (data/hardware.json): the job is
 * prefill-bound, so 2 x params FLOP per token is the yardstick. On a CPU there is no meaningful peak: returns null
 * with the reason, and the notebook says so instead of drawing.
 */
export function utilization(measured: { tokensPerSecond: number; hardware: string }, paramsTotal: number | null): { figure: Figure | null; mfu: number | null; note: string } {
  const gpu = gpuPeak(loadHardware(), measured.hardware);
  if (!gpu) return { figure: null, mfu: null, note: `measured on ${measured.hardware}: MFU is reported for GPU runs only (run this notebook on a GPU, or import a GPU run's throughput)` };
  if (!paramsTotal) return { figure: null, mfu: null, note: "the student's parameter count is unknown (run notebook 2 in this workDir)" };
  const achieved = (2 * paramsTotal * measured.tokensPerSecond) / 1e12;
  const bars = [{ name: "achieved", v: achieved }, ...(gpu.measured_matmul_tflops ? [{ name: "measured matmul peak", v: gpu.measured_matmul_tflops }] : []), { name: "datasheet peak", v: gpu.bf16_dense_tflops }];
  const mfu = achieved / gpu.bf16_dense_tflops;
  return { figure: bar(bars.map((b) => b.name), bars.map((b) => b.v), { title: `TFLOP/s on ${measured.hardware}: MFU ${(100 * mfu).toFixed(1)}%`, yTitle: "TFLOP/s (bf16)" }), mfu, note: `MFU ${(100 * mfu).toFixed(1)}% of ${gpu.bf16_dense_tflops} TFLOP/s` };
}
