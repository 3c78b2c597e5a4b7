// Corpus loader speed and memory: read the shipped english-original corpus (19,491 recipes, 12 JSONL.gz files) as
// Arrow batches and as objects, sample 5,000 of it, then stream a corpus ten times its size (each recipe written
// ten times under new ids) in a child process whose JS heap is capped well below the corpus's size.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { performance } from "node:perf_hooks";
import { corpus } from "@distill/lib";
import { peakRssMiB, writeBenchResult, type BenchMetric } from "../support/bench";

const heapLimitMiB = 64;

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; cpuSeconds: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return { value, seconds: (performance.now() - start) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** The english-original corpus written `copies` times into one JSONL.gz, slugs suffixed so every id is new. */
function writeCopies(copies: number, file: string): number {
  const lines = corpus.defaultCorpus.flatMap((f) => zlib.gunzipSync(fs.readFileSync(f)).toString("utf8").split("\n").filter((l) => l.trim() !== ""));
  fs.writeFileSync(file, "");
  for (let c = 0; c < copies; c++) {
    const text = lines.map((line) => {
      const r = JSON.parse(line);
      r.slug = `${r.slug}-copy${c}`;
      return JSON.stringify(r) + "\n";
    });
    fs.appendFileSync(file, zlib.gzipSync(text.join(""), { level: 1 })); // concatenated gzip members read as one stream
  }
  return lines.length * copies;
}

/** Child process: sample the big file and report time and this process's own memory, before and at peak. */
async function sampleInChild(file: string): Promise<void> {
  for await (const _ of corpus.readRecords(corpus.defaultCorpus[0])) break; // load modules and the task first
  const before = peakRssMiB();
  const run = await timed(() => corpus.sampleRecords(file, { n: 1000, seed: 0 }));
  console.log(JSON.stringify({ seconds: run.seconds, seen: run.value.stats.seen, duplicates: run.value.stats.duplicates, rssBefore: before, rssPeak: peakRssMiB() }));
}

async function main(): Promise<void> {
  // Warm up module loading and the task file so the first timing is the reader's.
  for await (const _ of corpus.readRecords(corpus.defaultCorpus[0])) break;

  const arrow = await timed(async () => {
    let rows = 0;
    let batches = 0;
    for await (const batch of corpus.readCorpus(corpus.defaultCorpus)) {
      rows += batch.numRows;
      batches++;
    }
    return { rows, batches };
  });
  const objects = await timed(async () => {
    let rows = 0;
    for await (const _ of corpus.readRecords(corpus.defaultCorpus)) rows++;
    return rows;
  });
  const sample = await timed(() => corpus.sampleRecords(corpus.defaultCorpus, { n: 5000, seed: 0 }));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "corpus-bench-"));
  const bigFile = path.join(dir, "ten-times.jsonl.gz");
  const bigRows = writeCopies(10, bigFile);
  const bigSizeMiB = fs.statSync(bigFile).size / 2 ** 20;
  const bigJsonMiB = zlib.gunzipSync(fs.readFileSync(bigFile)).length / 2 ** 20;
  // The child gets a 64 MiB JS heap, a third of the corpus's JSON: it can only finish if sampling streams.
  const child = spawnSync(process.execPath, [`--max-old-space-size=${heapLimitMiB}`, __filename, "--sample", bigFile], { encoding: "utf8" });
  fs.rmSync(dir, { recursive: true, force: true });
  if (child.status !== 0) throw new Error(`the sampling child failed: ${child.stderr}`);
  const big = JSON.parse(child.stdout.trim().split("\n").pop()!) as { seconds: number; seen: number; duplicates: number; rssBefore: number; rssPeak: number };

  const rate = (rows: number, s: number) => Math.round(rows / s);
  const metrics: BenchMetric[] = [
    { name: "readCorpus (Arrow batches) rows/s, english-original", value: rate(arrow.value.rows, arrow.seconds), unit: "rows/s", note: `${arrow.value.rows} rows, ${arrow.value.batches} batches in ${arrow.seconds.toFixed(2)} s (CPU ${arrow.cpuSeconds.toFixed(2)} s)` },
    { name: "readRecords (objects) rows/s, english-original", value: rate(objects.value, objects.seconds), unit: "rows/s", goal: ">= 10000", met: rate(objects.value, objects.seconds) >= 10000, note: `${objects.value} rows in ${objects.seconds.toFixed(2)} s (CPU ${objects.cpuSeconds.toFixed(2)} s)` },
    { name: "sampleRecords n=5000 from english-original", value: Number(sample.seconds.toFixed(2)), unit: "s", note: `seen ${sample.value.stats.seen}, duplicates ${sample.value.stats.duplicates}, truncated ${sample.value.stats.truncated}` },
    { name: "sampleRecords n=1000 from a 10x corpus", value: rate(big.seen, big.seconds), unit: "rows/s", note: `${bigRows} rows (${bigJsonMiB.toFixed(0)} MiB of JSON, ${bigSizeMiB.toFixed(0)} MiB gzip) in ${big.seconds.toFixed(1)} s; duplicates ${big.duplicates}` },
    { name: `peak RSS sampling the 10x corpus under a ${heapLimitMiB} MiB JS heap limit`, value: big.rssPeak, unit: "MiB", goal: "< 200", met: big.rssPeak < 200, note: `child process: ${big.rssBefore} MiB after loading the lib; it finished, so the corpus was never held in memory` },
  ];
  writeBenchResult("corpus-read", metrics, { corpus: "data/recipes/open-recipe-archive/english-original (12 files)", loadAverage: os.loadavg() });
}

(process.argv[2] === "--sample" ? sampleInChild(process.argv[3]) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
