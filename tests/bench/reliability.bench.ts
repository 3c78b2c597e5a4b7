// Reliability of labeling (issue 15), against the fake OpenAI server:
//  1. kill -9: a labeling child (tests/support/label-child.ts) SIGKILLed at random instants and started again, until
//     it finishes: answers lost per kill (stored before, missing after), stored answers bought again, requests that
//     were in flight at the kill (paid, never stored: sent again by the next run), torn lines dropped on reopening;
//  2. budget overshoot: what the server billed over budgetUsd when every answer uses all the output tokens it may
//     (~6x the estimate), at concurrency 8 and 32, and with a third of the requests timing out (the server still does
//     and bills them); goal: within the budget plus one request's worst case;
//  3. faults: throttling (429 + Retry-After), 500s, dropped connections, hangs past the timeout, malformed and wrongly
//     typed answers, usage far above the estimate, all in one run: what became of each record.
//   node tests/.build/bench/reliability.bench.js                     (all; writes bench/results/reliability.json)
//   node tests/.build/bench/reliability.bench.js --budget-with LIB   (part 2 only, against another build of the lib,
//                                                                     e.g. <repo>/lib/dist/index.js: prints JSON)
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as distill from "@distill/lib";
import { corpus, label, paths, prices as pricesLib, task as taskLib } from "@distill/lib";
import { writeBenchResult, type BenchMetric } from "../support/bench";
import { recipeLabels, startFakeOpenAI, type Behavior, type FakeOpenAI, type SeenRequest } from "../support/fake-openai";

const model = "gpt-4o-mini";
const KILLS = 20;
const KILL_RECORDS = 400;
const BUDGET_RECORDS = 240;
const FAULT_RECORDS = 160;
const prices = pricesLib.loadPrices();
const task = taskLib.loadTask("recipes");

// Part 2 on main at 79a72d4, before the budget reserved worst cases: the same scenarios, this 2-core machine (busy with
// other jobs), `--budget-with <repo>/lib/dist/index.js`, three runs: c8 1.03 each time, c32 1.13-1.14, timeouts
// 1.54-1.66 (which requests time out varies with the load), c32small 1.74 (one run).
const BEFORE = { c8: 1.03, c32: 1.14, c32small: 1.74, timeouts: 1.6 };

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function recipes(n: number): Promise<corpus.CorpusRecord[]> {
  const out: corpus.CorpusRecord[] = [];
  const seen = new Set<string>();
  for await (const r of corpus.readRecords(corpus.defaultCorpus)) {
    if (seen.has(r.text) || r.text.length > 3000) continue;
    seen.add(r.text);
    out.push(r);
    if (out.length >= n) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. kill -9

interface KillRound { kill: boolean; afterRequests: number; msAfterReady: number; sent: number; lost: number; reBought: number; inFlightLost: number; torn: number }

async function killRounds(fake: FakeOpenAI, records: corpus.CorpusRecord[], tmp: string) {
  fake.reset();
  fake.options.delayMs = () => 5 + Math.floor(Math.random() * 55);
  const recordsFile = path.join(tmp, "records.json");
  fs.writeFileSync(recordsFile, JSON.stringify(records));
  const job = { baseURL: fake.url, model, storeFile: path.join(tmp, "kill-store.jsonl"), recordsFile, outFile: path.join(tmp, "out.json"), concurrency: 8 };
  const jobFile = path.join(tmp, "job.json");
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const child = path.join(__dirname, "..", "support", "label-child.js");
  const open = () => {
    const warn = console.warn;
    console.warn = () => {};
    try {
      const s = label.AnswerStore.open(job.storeFile); // what the child does on start: a torn last line is dropped
      const keys = new Set(s.keys());
      const torn = s.warnings.length;
      void s.close();
      return { keys, torn };
    } finally {
      console.warn = warn;
    }
  };
  const rounds: KillRound[] = [];
  for (let i = 0; i < 200; i++) {
    const before = fs.existsSync(job.storeFile) ? open().keys : new Set<string>();
    const sentBefore = fake.requests.length;
    const proc = spawn(process.execPath, [child, jobFile], { stdio: ["ignore", "ignore", "inherit"] });
    const kill = rounds.filter((r) => r.kill).length < KILLS;
    // Kill at a random instant while answers are being bought and stored: once the server has seen 1-40 requests of
    // this run, 0-40 ms later. (Starting the child takes longer than a fixed delay could guess on a busy machine.)
    const afterRequests = 1 + Math.floor(Math.random() * 40);
    const msAfterReady = Math.random() * 40;
    const poll = setInterval(() => {
      if (kill && fake.requests.length - sentBefore >= afterRequests) {
        clearInterval(poll);
        setTimeout(() => proc.kill("SIGKILL"), msAfterReady);
      }
    }, 2);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
    clearInterval(poll);
    const sent = fake.requests.slice(sentBefore);
    await sleep(80); // let requests in flight at the kill reach the server's log
    const after = open();
    const result: KillRound = {
      kill: exit.signal === "SIGKILL",
      afterRequests,
      msAfterReady: Math.round(msAfterReady),
      sent: sent.length,
      lost: [...before].filter((k) => !after.keys.has(k)).length,
      reBought: sent.filter((r) => before.has(r.key)).length,
      inFlightLost: fake.requests.slice(sentBefore).filter((r) => !after.keys.has(r.key)).length,
      torn: after.torn,
    };
    rounds.push(result);
    if (!result.kill) {
      if (exit.code !== 0) throw new Error(`the label child failed (exit ${exit.code})`);
      break;
    }
  }
  const out = JSON.parse(fs.readFileSync(job.outFile, "utf8")) as { id: string; status: string; labels: unknown }[];
  const wrong = out.filter((r, i) => r.status !== "ok" || JSON.stringify(r.labels) !== JSON.stringify(recipeLabels(records[i].text))).length;
  return { rounds, records: records.length, requests: fake.requests.length, wrongOrMissing: wrong };
}

// ---------------------------------------------------------------------------------------------------------------
// 2. budget overshoot (also run against another build of the lib, for the before figures)

type Lib = typeof distill;

/** Every answer uses all the output tokens the request allows (256 where a request names no limit). */
function maxedOut(req: SeenRequest): { completion_tokens: number } {
  return { completion_tokens: Number(req.body.max_completion_tokens ?? req.body.max_tokens ?? 256) };
}

async function overshoot(lib: Lib, fake: FakeOpenAI, records: corpus.CorpusRecord[], concurrency: number, withTimeouts: boolean) {
  fake.reset();
  fake.options.usage = maxedOut;
  fake.options.delayMs = withTimeouts ? (req) => (fake.requests.indexOf(req) % 3 === 0 ? 400 : 20 + Math.floor(Math.random() * 40)) : () => 10 + Math.floor(Math.random() * 60);
  const cfg = { provider: "openai" as const, model, baseURL: fake.url, concurrency, retryBaseMs: 5, ...(withTimeouts ? { timeoutMs: 150 } : {}) };
  const estimate = await lib.label.estimateLabelingCost(task, records, cfg, prices);
  const budgetUsd = estimate.usd * 1.02;
  const store = lib.label.AnswerStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "reliability-budget-")), "store.jsonl"));
  const run = await lib.label.labelRecords(task, records, { ...cfg, budgetUsd }, { store, prices });
  await store.close();
  await sleep(500); // requests that timed out finish on the server, and are billed
  const billed = fake.billed.reduce((sum, b) => sum + pricesLib.apiCallCost(prices, model, { inputTokens: b.usage.prompt_tokens, outputTokens: b.usage.completion_tokens }), 0);
  const longest = records.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const inputTokens = (await label.estimateLabelingCost(task, [longest], cfg, prices)).inputTokens;
  const worst = pricesLib.apiCallCost(prices, model, { inputTokens: Math.ceil(inputTokens * 1.25), outputTokens: 256 });
  return {
    concurrency,
    withTimeouts,
    budgetUsd,
    billedUsd: billed,
    overshoot: billed / budgetUsd,
    worstCaseUsd: worst,
    withinOneWorstCase: billed <= budgetUsd + worst,
    labeled: run.totals.ok,
    notSent: run.totals.skipped,
    countedByRunUsd: run.totals.costUsd + ((run.totals as { unansweredUsd?: number }).unansweredUsd ?? 0),
  };
}

async function budgetFigures(lib: Lib, records: corpus.CorpusRecord[]) {
  const fake = await startFakeOpenAI();
  try {
    return {
      c8: await overshoot(lib, fake, records, 8, false),
      c32: await overshoot(lib, fake, records, 32, false),
      c32small: await overshoot(lib, fake, records.slice(0, 48), 32, false),
      timeouts: await overshoot(lib, fake, records, 8, true),
    };
  } finally {
    await fake.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. faults

const faults: { name: string; behavior: Behavior | "hang" }[] = [
  { name: "429 with retry-after-ms", behavior: { kind: "status", status: 429, headers: { "retry-after-ms": "60" }, message: "Rate limit reached" } },
  { name: "500", behavior: { kind: "status", status: 500, message: "server error" } },
  { name: "connection dropped", behavior: { kind: "drop" } },
  { name: "hang past the timeout", behavior: "hang" },
  { name: "malformed JSON arguments", behavior: { kind: "raw", text: '{"has_non_fish_meat": tru' } },
  { name: "wrongly typed field", behavior: { kind: "raw", text: JSON.stringify({ has_non_fish_meat: "yes", requires_oven: true, requires_stove: true, cook_time_over_30_mins: true, main_dish: true }) } },
  { name: "usage 20x the estimate", behavior: { kind: "answer", usage: { prompt_tokens: 12_000, completion_tokens: 900 } } },
];

async function faultRun(records: corpus.CorpusRecord[]) {
  const fake = await startFakeOpenAI();
  try {
    const faultOf = new Map<string, string>(); // record text -> the fault its first request met
    fake.options.delayMs = (req) => (faultOf.get(req.text) === "hang past the timeout" && req.textCount === 1 ? 500 : 10 + Math.floor(Math.random() * 30));
    fake.options.script = (req) => {
      if (req.textCount > 1 || req.repair) return undefined; // a fault on the first request of a record only
      const i = records.findIndex((r) => r.text === req.text);
      if (i % 2 === 1) return undefined; // every other record meets no fault
      const fault = faults[(i / 2) % faults.length];
      faultOf.set(req.text, fault.name);
      return fault.behavior === "hang" ? undefined : fault.behavior;
    };
    const store = label.AnswerStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "reliability-faults-")), "store.jsonl"));
    const run = await label.labelRecords(task, records, { provider: "openai", model, baseURL: fake.url, concurrency: 8, timeoutMs: 200, retryBaseMs: 20 }, { store, prices });
    await store.close();
    const byFault: Record<string, { records: number; ok: number; failed: number; reasons: string[] }> = {};
    for (const [i, r] of run.results.entries()) {
      const name = faultOf.get(records[i].text) ?? "none";
      const f = (byFault[name] ??= { records: 0, ok: 0, failed: 0, reasons: [] });
      f.records += 1;
      if (r.status === "ok" && JSON.stringify(r.labels) === JSON.stringify(recipeLabels(records[i].text))) f.ok += 1;
      else {
        f.failed += 1;
        if (f.reasons.length < 2) f.reasons.push(r.error ?? "(no reason)");
      }
    }
    const resent = [...fake.counts.values()].filter((n) => n > 1).length;
    return { byFault, ok: run.totals.ok, failed: run.totals.failed, requests: fake.requests.length, maxInFlight: fake.maxInFlight, keysSentMoreThanOnce: resent };
  } finally {
    await fake.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const withIndex = process.argv.indexOf("--budget-with");
  if (withIndex > 0) {
    const lib = require(path.resolve(process.argv[withIndex + 1])) as Lib;
    const figures = await budgetFigures(lib, await recipes(BUDGET_RECORDS));
    console.log(JSON.stringify(figures, null, 2));
    return;
  }
  const tmp = fs.mkdtempSync(path.join(paths.ensureDir(paths.workDir), "reliability-bench-"));
  try {
    const pool = await recipes(KILL_RECORDS);
    const fake = await startFakeOpenAI();
    let kills;
    try {
      kills = await killRounds(fake, pool, tmp);
    } finally {
      await fake.stop();
    }
    const budget = await budgetFigures(distill, pool.slice(0, BUDGET_RECORDS));
    const faultResult = await faultRun(pool.slice(0, FAULT_RECORDS));

    const killed = kills.rounds.filter((r) => r.kill);
    const sum = (f: (r: KillRound) => number) => killed.reduce((a, r) => a + f(r), 0);
    const perKill = (f: (r: KillRound) => number) => round(sum(f) / Math.max(1, killed.length), 2);
    const budgetMetric = (key: keyof typeof BEFORE, what: string): BenchMetric => {
      const b = budget[key];
      return {
        name: `budget overshoot, ${what}`,
        value: round(b.overshoot),
        unit: "x budget",
        goal: "<= 1 + one worst case",
        met: b.withinOneWorstCase,
        note: `billed $${b.billedUsd.toFixed(5)} for a budget of $${b.budgetUsd.toFixed(5)} (one request's worst case $${b.worstCaseUsd.toFixed(5)} = ${round(b.worstCaseUsd / b.budgetUsd)}x); ${b.labeled} labeled, ${b.notSent} not sent; before the fix (main 79a72d4): ${BEFORE[key]}x`,
      };
    };
    const metrics: BenchMetric[] = [
      { name: `kill -9 of a labeling child at random instants: answers lost (${killed.length} kills)`, value: sum((r) => r.lost), unit: "answers", goal: "0", met: sum((r) => r.lost) === 0, note: `${KILL_RECORDS} recipes at concurrency 8; each kill 0-40 ms after the server saw 1-40 requests of that run; the last run finished, its dataset ${kills.wrongOrMissing === 0 ? "equal to" : "DIFFERENT from"} the teacher's labels` },
      { name: "kill -9: stored answers bought again, per kill", value: perKill((r) => r.reBought), unit: "requests/kill", goal: "0", met: sum((r) => r.reBought) === 0 },
      {
        name: "kill -9: requests paid but not yet stored at the kill (sent again by the next run), per kill",
        value: perKill((r) => r.inFlightLost),
        unit: "requests/kill",
        goal: "<= 2 x concurrency (16)",
        met: killed.every((r) => r.inFlightLost <= 16),
        note: `max ${Math.max(...killed.map((r) => r.inFlightLost))}: up to 8 in flight plus answers in hand waiting for their fsync (a send slot is freed before the disk write); ${kills.requests} requests for ${KILL_RECORDS} records in all`,
      },
      { name: "kill -9: torn last lines dropped on reopening", value: sum((r) => r.torn), unit: "lines", note: "a kill mid-write leaves at most one; it is cut off, never a bad line in the middle" },
      budgetMetric("c8", "concurrency 8, every answer using all 256 output tokens it may (6x the estimate)"),
      budgetMetric("c32", "concurrency 32, every answer using all 256 output tokens it may (6x the estimate)"),
      budgetMetric("c32small", "concurrency 32, the same, a budget for 48 records (one wave of requests)"),
      budgetMetric("timeouts", "concurrency 8, a third of the requests time out (billed by the server)"),
      {
        name: "faults in one run (429, 500, dropped, hung, malformed, mistyped, usage 20x): records labeled",
        value: faultResult.ok,
        unit: `of ${FAULT_RECORDS}`,
        goal: `${FAULT_RECORDS} (every fault retried or repaired)`,
        met: faultResult.ok === FAULT_RECORDS && faultResult.keysSentMoreThanOnce <= faultResult.requests,
        note: Object.entries(faultResult.byFault).map(([name, f]) => `${name}: ${f.ok}/${f.records} ok`).join("; ") + `; max in flight ${faultResult.maxInFlight}`,
      },
    ];
    writeBenchResult("reliability", metrics, { kills, budget, beforeFix: BEFORE, faults: faultResult });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
