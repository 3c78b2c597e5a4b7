#!/usr/bin/env node
// `npm run label-corpus -- --corpus FILE_OR_FOLDER ... --out DIR [options]`: the student labels a whole corpus into
// Parquet shards (infer/corpus-job.ts). Rerun the same command to resume after a crash or a kill.
import { gpuRate, labelCorpus, labelCorpusConfig, type LabelCorpusOverrides } from "../infer";
import { UsageError } from "../notebook";
import { stopWithNpm } from "../processes";
import { bar } from "../progress";
import { runCli } from "./exit";

const USAGE = `usage: npm run label-corpus -- --corpus FILE_OR_FOLDER [--corpus ...] --out DIR
  the student:  [--student DIR (a notebook 2 student folder: DIR/adapter)] [--adapter DIR] [--model SPEC] [--merged DIR]
  the corpus:   [--limit N] [--format jsonl|csv|parquet|arrow] [--column key=name ...]
  the job:      [--batch-size N] [--records-per-shard N] [--max-new-tokens N] [--engine auto|transformers|vllm]
  scale-out:    [--ray] [--workers N] [--cpus-per-worker N] [--gpus-per-worker N] (RAY_ADDRESS picks a cluster)
  cost:         [--gpu NAME [--provider P] [--tier T]] (a row of data/prices.json) or [--usd-per-hour X]`;

export function parseArgs(argv: string[]): LabelCorpusOverrides {
  const o: Partial<LabelCorpusOverrides> & { corpus: string[] } = { corpus: [] };
  const columns: Record<string, string> = {};
  let gpu: string | undefined;
  let provider: string | undefined;
  let tier: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const int = (): number => {
      const v = Number(next());
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`${a} needs a whole number`);
      return v;
    };
    const num = (): number => {
      const v = Number(next());
      if (!Number.isFinite(v) || v < 0) throw new UsageError(`${a} needs a number`);
      return v;
    };
    if (a === "--corpus") o.corpus.push(next());
    else if (a === "--out") o.output_dir = next();
    else if (a === "--student") o.adapter_dir = `${next().replace(/\/$/, "")}/adapter`;
    else if (a === "--adapter") o.adapter_dir = next();
    else if (a === "--model") o.model = next();
    else if (a === "--merged") o.merged_dir = next();
    else if (a === "--limit") o.limit = int();
    else if (a === "--format") o.format = next() as LabelCorpusOverrides["format"];
    else if (a === "--column") {
      const kv = next();
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new UsageError(`malformed --column "${kv}": expected key=name, e.g. text=body`);
      columns[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === "--batch-size") o.batch_size = int();
    else if (a === "--records-per-shard") o.records_per_shard = int();
    else if (a === "--max-new-tokens") o.max_new_tokens = int();
    else if (a === "--engine") o.engine = next() as LabelCorpusOverrides["engine"];
    else if (a === "--ray") o.ray = true;
    else if (a === "--workers") o.workers = int();
    else if (a === "--cpus-per-worker") o.cpus_per_worker = num();
    else if (a === "--gpus-per-worker") o.gpus_per_worker = num();
    else if (a === "--gpu") gpu = next();
    else if (a === "--provider") provider = next();
    else if (a === "--tier") tier = next();
    else if (a === "--usd-per-hour") o.gpu_usd_per_hour = num();
    else if (a === "-h" || a === "--help") throw new UsageError(USAGE);
    else throw new UsageError(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.corpus.length === 0) throw new UsageError(`no --corpus given\n${USAGE}`);
  if (!o.output_dir) throw new UsageError(`no --out folder given\n${USAGE}`);
  if (Object.keys(columns).length) o.columns = columns;
  if (gpu !== undefined) o.gpu_usd_per_hour = gpuRate(gpu, provider, tier);
  return o as LabelCorpusOverrides;
}

async function main(): Promise<number> {
  stopWithNpm(); // `kill -9` of `npm run label-corpus` stops the job too; rerunning resumes it
  const config = labelCorpusConfig(parseArgs(process.argv.slice(2)));
  const result = await labelCorpus(config, { onProgress: bar("label-corpus") });
  const m = result.metrics;
  process.stdout.write(`${m.done}/${m.total} rows in ${m.shards} shard(s) under ${result.labelsDir} (manifest ${result.manifest})\n`);
  process.stdout.write(`  ok ${m.counts.ok} · invalid output ${m.counts.invalid_output} · skipped ${m.counts.skipped} · too long ${m.counts.too_long}\n`);
  return m.complete ? 0 : 1;
}

if (require.main === module) runCli(main); // a job's error says what to fix: its message, not a stack
