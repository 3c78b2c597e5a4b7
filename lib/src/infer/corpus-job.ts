// The student labels a whole corpus: the `label-corpus` job of the Python runtime
// (python-runtime/distill_runtime/jobs/label_corpus.py, its parts in corpus_job/), run through runtime.runJob.
// Parquet shards plus a manifest in output_dir; a rerun into the same folder resumes where the last one stopped (kill
// -9 included) and never recomputes a finished shard. With ray: true the same job runs as a Ray Data pipeline.
import * as fs from "node:fs";
import * as path from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { z } from "zod";
import { gpuPrice, loadPrices } from "../prices";
import * as paths from "../paths";
import { formatSeconds } from "../progress";
import { runJob, RuntimeJobError, type DoneEvent, type JobOptions } from "../runtime";
import { labelCorpusConfig, LabelCorpusConfigSchema, type LabelCorpusConfig } from "./corpus-config";

const statusCounts = z.strictObject({ ok: z.int(), invalid_output: z.int(), skipped: z.int(), too_long: z.int() });
export const LabelCorpusMetricsSchema = z.looseObject({
  done: z.int(),
  total: z.int(),
  complete: z.boolean(),
  shards: z.int(),
  counts: statusCounts,
  records_per_s: z.number(),
  projected_cost_usd: z.number().nullable(),
});
/** Spelled out for tslab (see InferMetrics): the schema above validates, this names the shape. */
export interface LabelCorpusMetrics {
  done: number;
  total: number;
  complete: boolean;
  shards: number;
  counts: { ok: number; invalid_output: number; skipped: number; too_long: number };
  records_per_s: number;
  projected_cost_usd: number | null;
  [extra: string]: unknown;
}

export interface LabelCorpusResult {
  outputDir: string;
  labelsDir: string;
  manifest: string;
  metrics: LabelCorpusMetrics;
  done: DoneEvent;
}

/** The hourly rate of a GPU row in data/prices.json (the projected cost's rate: gpu_usd_per_hour). */
export function gpuRate(gpu: string, provider?: string, tier?: string): number {
  return gpuPrice(loadPrices(), gpu, provider, tier).usd_per_hour;
}

/** Label every row of config.corpus that output_dir does not hold yet; resolves when all are in shards. */
export async function labelCorpus(config: LabelCorpusConfig, opts: JobOptions = {}): Promise<LabelCorpusResult> {
  const valid = LabelCorpusConfigSchema.parse(config);
  const done = await runJob("label-corpus", valid, {
    signal: opts.signal,
    env: opts.env,
    onEvent: (event) => {
      opts.onEvent?.(event);
      if (event.event !== "progress") return;
      // The job's own rate and ETA count only this run's rows (a resumed run starts with done > 0); the cost is the
      // whole corpus's at that rate, not money spent so far, so it goes in extra rather than costUsd.
      const extra: Record<string, string | number> = { "job rec/s": round(event.records_per_s, 2) };
      if (event.eta_s !== null && event.eta_s !== undefined) extra["job ETA"] = formatSeconds(event.eta_s);
      if (event.projected_cost_usd !== null && event.projected_cost_usd !== undefined) extra["corpus cost"] = `$${event.projected_cost_usd.toFixed(2)}`;
      opts.onProgress?.({ label: "label-corpus", done: event.done, total: event.total, extra });
    },
  });
  const outputs = z.object({ output_dir: z.string(), labels_dir: z.string(), manifest: z.string() }).parse(done.outputs);
  return { outputDir: outputs.output_dir, labelsDir: outputs.labels_dir, manifest: outputs.manifest, metrics: LabelCorpusMetricsSchema.parse(done.metrics), done };
}

/** One shard row: the input row's index and id, its status, every field's label (null unless status is "ok"). */
export interface CorpusLabelRow {
  index: number;
  id: string | null;
  status: "ok" | "invalid_output" | "skipped" | "too_long";
  labels: Record<string, unknown> | null;
  error: string | null;
  raw_output: string | null;
}

/** The first `limit` rows of a finished job's shards, in input order (the manifest says which files count). */
export async function readCorpusLabels(outputDir: string, fields: string[], limit = 20): Promise<CorpusLabelRow[]> {
  const dir = paths.resolve(outputDir);
  const manifest = z.object({ shards: z.array(z.object({ file: z.string(), ranges: z.array(z.tuple([z.int(), z.int()])) })) }).parse(JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")));
  const shards = [...manifest.shards].sort((a, b) => a.ranges[0][0] - b.ranges[0][0]);
  const rows: CorpusLabelRow[] = [];
  for (const shard of shards) {
    if (rows.length >= limit) break;
    const file = await asyncBufferFromFile(path.join(dir, shard.file));
    const objects = (await parquetReadObjects({ file, columns: ["index", "id", "status", "error", "raw_output", ...fields] })) as Record<string, unknown>[];
    for (const o of objects.sort((a, b) => Number(a.index) - Number(b.index))) {
      const status = o.status as CorpusLabelRow["status"];
      const labels = status === "ok" ? Object.fromEntries(fields.map((f) => [f, o[f]])) : null;
      rows.push({ index: Number(o.index), id: (o.id as string | null) ?? null, status, labels, error: (o.error as string | null) ?? null, raw_output: (o.raw_output as string | null) ?? null });
    }
  }
  return rows.sort((a, b) => a.index - b.index).slice(0, limit);
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Notebook 3's slice of the corpus: the first `limit` rows labeled by the student into <workDir>/corpus-slice. A
 * rerun with the same student resumes (nothing to do); a new student (or another slice size) replaces that folder's
 * labels, since a demo slice is cheap to redo and the job refuses to mix students in one folder. The full corpus is
 * `npm run label-corpus`'s work, into a folder of its own.
 */
export async function labelCorpusSlice(
  ws: { dir: string },
  student: { model: string | null; merged_dir: string | null; adapter_dir: string | null },
  o: { taskFile: string; corpus: string[]; limit: number; engine?: LabelCorpusConfig["engine"]; batchSize?: number; gpuUsdPerHour?: number | null },
  opts: JobOptions = {},
): Promise<LabelCorpusResult> {
  const outputDir = path.join(ws.dir, "corpus-slice");
  const config = labelCorpusConfig({ ...student, task_file: o.taskFile, corpus: o.corpus, limit: o.limit, output_dir: outputDir, engine: o.engine ?? "auto", batch_size: o.batchSize ?? 16, gpu_usd_per_hour: o.gpuUsdPerHour ?? null });
  try {
    return await labelCorpus(config, opts);
  } catch (e) {
    if (!(e instanceof RuntimeJobError && e.kind === "config" && /holds labels made from another/.test(e.message))) throw e;
    fs.rmSync(outputDir, { recursive: true, force: true });
    return labelCorpus(config, opts);
  }
}
