// Streaming token statistics over the original's corpus size (2,147,248 recipes): the shipped english-original
// corpus (19,491 recipes) read again and again through corpus.readRecords until that many records have streamed.
// Goal: under 60 s and under 1 GB peak memory on 2 cores.
//
// Because the stream repeats the same 19,491 texts, the counter is wrapped in tokens.cachedCounter: each distinct
// text is tokenized once (exact; keyed by SHA-1). A corpus of 2.1M distinct recipes would not get that help, so the
// uncached tokenizer speed is measured on the first pass and the uncached time is projected from it.
import * as os from "node:os";
import { performance } from "node:perf_hooks";
import { corpus, tokens } from "@distill/lib";
import { peakRssMiB, writeBenchResult } from "../support/bench";

const TARGET = 2_147_248;
const MODEL = "gpt-4o-mini"; // o200k_base, the encoding of every current OpenAI model

async function* repeatedCorpus(target: number, onPass: () => void): AsyncGenerator<corpus.CorpusRecord> {
  let n = 0;
  for (;;) {
    onPass();
    for await (const record of corpus.readRecords(corpus.defaultCorpus)) {
      yield record;
      if (++n >= target) return;
    }
  }
}

async function main(): Promise<void> {
  tokens.countTokens(MODEL, "warm up: load the o200k_base ranks before timing");

  // 1. One pass: the reader alone, and the uncached tokenizer timed call by call.
  let distinct = 0;
  let distinctTokens = 0;
  let tokenizeMs = 0;
  const passStart = performance.now();
  for await (const record of corpus.readRecords(corpus.defaultCorpus)) {
    const t = performance.now();
    distinctTokens += tokens.countTokens(MODEL, record.text);
    tokenizeMs += performance.now() - t;
    distinct++;
  }
  const passMs = performance.now() - passStart;
  const readerRecordsPerSecond = distinct / ((passMs - tokenizeMs) / 1000);
  const tokenizerRecordsPerSecond = distinct / (tokenizeMs / 1000);
  const tokenizerTokensPerSecond = distinctTokens / (tokenizeMs / 1000);

  // 2. The full stream through corpusTokenStats.
  let passes = 0;
  const loadBefore = os.loadavg()[0];
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const stats = await tokens.corpusTokenStats(
    repeatedCorpus(TARGET, () => passes++),
    tokens.cachedCounter((text) => tokens.countTokens(MODEL, text)),
    {
      total: TARGET,
      progressEvery: 250_000,
      onProgress: (p) => process.stderr.write(`token stats: ${p.done.toLocaleString("en-US")} / ${p.total.toLocaleString("en-US")} records, ${((performance.now() - start) / 1000).toFixed(1)} s\n`),
    },
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const peak = peakRssMiB(); // before step 3, which holds the distinct texts in memory
  if (stats.count !== TARGET) throw new Error(`streamed ${stats.count} records, expected ${TARGET}`);

  // 3. The statistics code alone (cached counter + accumulation), fed from memory: what this module costs on top
  //    of the reader.
  const texts: { text: string }[] = [];
  for await (const record of corpus.readRecords(corpus.defaultCorpus)) texts.push({ text: record.text });
  const cycle = function* (): Generator<{ text: string }> {
    for (let i = 0; i < TARGET; i++) yield texts[i % texts.length];
  };
  const memoryStart = performance.now();
  const memoryStats = await tokens.corpusTokenStats(cycle(), tokens.cachedCounter((text) => tokens.countTokens(MODEL, text)));
  const memorySeconds = (performance.now() - memoryStart) / 1000;
  if (memoryStats.mean !== stats.mean || memoryStats.p99 !== stats.p99) throw new Error("the in-memory pass disagrees with the streamed one");

  writeBenchResult(
    "token-stats",
    [
      { name: `time for ${TARGET.toLocaleString("en-US")} records (reader + cached tokenizer + stats)`, value: round(seconds, 1), unit: "s", goal: "< 60 s", met: seconds < 60 },
      { name: "peak memory (RSS)", value: peak, unit: "MiB", goal: "< 1024 MiB", met: peak < 1024 },
      {
        name: "CPU time of this process, end to end",
        value: round((cpu.user + cpu.system) / 1e6, 1),
        unit: "s",
        note: "about the wall time on an otherwise idle machine; other processes shared the cores during this run (see loadAverage1m)",
      },
      { name: "records per second, end to end", value: Math.round(TARGET / seconds), unit: "records/s" },
      { name: "token statistics alone (cached counter + accumulation, records from memory)", value: Math.round(TARGET / memorySeconds), unit: "records/s", note: `${round(memorySeconds, 1)} s for ${TARGET.toLocaleString("en-US")} records` },
      { name: "reader alone (corpus.readRecords, gz JSONL -> text)", value: Math.round(readerRecordsPerSecond), unit: "records/s" },
      { name: "tokenizer alone, uncached (js-tiktoken o200k_base)", value: Math.round(tokenizerRecordsPerSecond), unit: "records/s", note: `${Math.round(tokenizerTokensPerSecond).toLocaleString("en-US")} tokens/s` },
      {
        name: `projected time for ${TARGET.toLocaleString("en-US")} distinct records (reader + uncached tokenizer)`,
        value: round(TARGET / readerRecordsPerSecond + TARGET / tokenizerRecordsPerSecond, 0),
        unit: "s",
        note: "what a corpus without repeats would take on this machine",
      },
    ],
    {
      // Other processes share the 2 cores: the CPU time of this process and the load average say how much.
      loadAverage1mAtStart: round(loadBefore, 2),
      loadAverage1mAtEnd: round(os.loadavg()[0], 2),
      model: MODEL,
      encoding: tokens.encodingForModel(MODEL),
      corpus: "data/recipes/open-recipe-archive/english-original/*.jsonl.gz via corpus.readRecords",
      distinctRecords: distinct,
      passes,
      caching: "tokens.cachedCounter: each distinct text tokenized once (SHA-1 key); counts are exact",
      stats: { count: stats.count, mean: round(stats.mean, 2), p50: stats.p50, p90: stats.p90, p99: stats.p99, max: stats.max },
      distinctCorpusMeanTokens: round(distinctTokens / distinct, 2),
    },
  );
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
