import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { label, paths, prices as pricesLib, task as taskLib, type corpus } from "@distill/lib";
import { recipeLabels, startFakeOpenAI, type Behavior, type FakeOpenAI } from "../../support/fake-openai";

const task = taskLib.loadTask("recipes");
const prices = pricesLib.loadPrices();
const model = "gpt-4o-mini";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "teacher-test-"));
}

function openStore(): label.AnswerStore {
  return label.AnswerStore.open(path.join(tmpDir(), "store.jsonl"));
}

// Small recipes in the corpus's shape, varied enough that the fake teacher's labels differ between them.
const meats = ["beef", "chicken", "pork", "carrots", "fish", "beans", "bacon", "apples"];
const steps = ["Bake in a hot oven.", "Boil for ten minutes.", "Simmer two hours in a saucepan.", "Serve cold.", "Fry quickly.", "Roast overnight."];
function makeRecords(n: number, prefix = "r"): corpus.CorpusRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const title = `${prefix} dish ${i}`;
    const text = `${title}\n\nIngredients:\n- 1 lb ${meats[i % meats.length]}\n- salt\n\nDirections:\n- ${steps[i % steps.length]}\n- ${steps[(i * 5 + 1) % steps.length]}`;
    return { id: `${prefix}${i}`, text, group: "test", title };
  });
}

function config(fake: FakeOpenAI, extra: Partial<label.TeacherConfig> = {}): label.TeacherConfig {
  return { provider: "openai", model, baseURL: fake.url, concurrency: 4, retryBaseMs: 5, timeoutMs: 5000, ...extra };
}

function sentFor(fake: FakeOpenAI, text: string): number {
  return fake.requests.filter((r) => r.text === text).length;
}

describe("teacher with an OpenAI-protocol server", () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(async () => {
    await fake.stop();
  });
  const fresh = () => {
    fake.reset();
    fake.options.script = undefined;
    fake.options.delayMs = 0;
    fake.options.usage = undefined;
  };

  test("labels records in input order with the teacher's answers, counts usage and cost", async () => {
    fresh();
    fake.options.delayMs = (r) => (r.text.length % 7) * 3; // answers come back out of order
    const records = makeRecords(10);
    const answers = openStore();
    const run = await label.labelRecords(task, records, config(fake), { store: answers, prices });
    assert.deepEqual(run.results.map((r) => r.id), records.map((r) => r.id));
    for (const [i, r] of run.results.entries()) {
      assert.equal(r.status, "ok");
      assert.deepEqual(r.labels, recipeLabels(records[i].text));
      assert.equal(r.cached, false);
      assert.equal(r.attempts, 1);
      assert.ok(r.usage.inputTokens > 0 && r.usage.outputTokens > 0);
      assert.ok(Math.abs(r.costUsd - pricesLib.apiCallCost(prices, model, r.usage)) < 1e-12);
    }
    assert.equal(run.totals.ok, 10);
    assert.ok(Math.abs(run.totals.costUsd - run.results.reduce((a, r) => a + r.costUsd, 0)) < 1e-12);
    assert.equal(answers.size, 10);
    // The key the client stored is the hash of exactly what the server received.
    for (const req of fake.requests) assert.ok(answers.has(req.key));
    const sent = fake.requests[0].body;
    assert.deepEqual(sent.tool_choice, taskLib.toolChoice(task));
    assert.deepEqual(sent.tools, [taskLib.toolDefinition(task)]);
  });

  test("a rerun is served from the store: nothing sent, cost 0, same labels", async () => {
    fresh();
    const records = makeRecords(6);
    const answers = openStore();
    const first = await label.labelRecords(task, records, config(fake), { store: answers, prices });
    await answers.close();
    fake.reset();
    const reopened = label.AnswerStore.open(answers.file);
    const progress: number[] = [];
    const second = await label.labelRecords(task, records, config(fake), { store: reopened, prices, onProgress: (p) => progress.push(p.done) });
    assert.equal(fake.requests.length, 0);
    assert.equal(second.totals.costUsd, 0);
    assert.equal(second.totals.cached, 6);
    assert.ok(second.results.every((r) => r.cached && r.attempts === 0 && r.costUsd === 0));
    assert.deepEqual(second.results.map((r) => r.labels), first.results.map((r) => r.labels));
    assert.deepEqual(second.results.map((r) => r.usage), first.results.map((r) => r.usage), "usage of the stored answers is still reported");
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6]);
  });

  test("the same text twice in one run is bought once", async () => {
    fresh();
    fake.options.delayMs = 20;
    const [a] = makeRecords(1);
    const records = [a, { ...a, id: "copy" }];
    const run = await label.labelRecords(task, records, config(fake), { store: openStore(), prices });
    assert.equal(fake.requests.length, 1);
    assert.equal(run.totals.ok, 2);
    assert.equal(run.results.filter((r) => r.cached).length, 1);
  });

  test("429 with retry-after-ms / Retry-After is honoured, then the record succeeds", async () => {
    fresh();
    const [r1, r2] = makeRecords(2);
    fake.options.script = (req): Behavior | undefined => {
      if (req.textCount > 1) return undefined;
      return req.text === r1.text
        ? { kind: "status", status: 429, headers: { "retry-after-ms": "150" }, message: "Rate limit reached" }
        : { kind: "status", status: 429, headers: { "retry-after": "1" }, message: "Rate limit reached" };
    };
    const run = await label.labelRecords(task, [r1, r2], config(fake), { store: openStore(), prices });
    assert.deepEqual(run.results.map((r) => [r.status, r.attempts]), [["ok", 2], ["ok", 2]]);
    const gap = (text: string) => {
      const at = fake.requests.filter((r) => r.text === text).map((r) => r.at);
      return at[1] - at[0];
    };
    assert.ok(gap(r1.text) >= 140, `waited ${gap(r1.text)} ms for retry-after-ms 150`);
    assert.ok(gap(r2.text) >= 990, `waited ${gap(r2.text)} ms for Retry-After: 1`);
  });

  test("retryAfterMs reads milliseconds, seconds and HTTP dates", () => {
    const now = Date.parse("2026-11-01T12:00:00Z");
    assert.equal(label.retryAfterMs(new Headers({ "retry-after-ms": "250" }), now), 250);
    assert.equal(label.retryAfterMs(new Headers({ "retry-after": "3" }), now), 3000);
    assert.equal(label.retryAfterMs(new Headers({ "retry-after": "Sun, 01 Nov 2026 12:00:05 GMT" }), now), 5000);
    assert.equal(label.retryAfterMs(new Headers({ "retry-after": "soon" }), now), undefined);
    assert.equal(label.retryAfterMs(new Headers({ "retry-after": "86400" }), now), 120_000, "capped");
    assert.equal(label.retryAfterMs(undefined, now), undefined);
  });

  test("5xx, a dropped connection and a timeout are retried, then succeed", async () => {
    fresh();
    const [a, b, c] = makeRecords(3);
    fake.options.script = (req) => {
      if (req.textCount > 1) return undefined;
      if (req.text === a.text) return { kind: "status", status: 500 };
      if (req.text === b.text) return { kind: "drop" };
      return undefined;
    };
    fake.options.delayMs = (req) => (req.text === c.text && req.textCount === 1 ? 600 : 0);
    const run = await label.labelRecords(task, [a, b, c], config(fake, { timeoutMs: 200 }), { store: openStore(), prices });
    assert.deepEqual(run.results.map((r) => [r.status, r.attempts]), [["ok", 2], ["ok", 2], ["ok", 2]]);
    assert.equal(run.totals.ok, 3);
  });

  test("400 fails at once with the status in the reason, and the run goes on", async () => {
    fresh();
    const [a, b] = makeRecords(2);
    fake.options.script = (req) => (req.text === a.text ? { kind: "status", status: 400, message: "Invalid schema for function" } : undefined);
    const answers = openStore();
    const run = await label.labelRecords(task, [a, b], config(fake), { store: answers, prices });
    assert.equal(run.results[0].status, "failed");
    assert.equal(run.results[0].attempts, 1);
    assert.match(run.results[0].error!, /HTTP 400/);
    assert.match(run.results[0].error!, /Invalid schema/);
    assert.equal(sentFor(fake, a.text), 1);
    assert.equal(run.results[1].status, "ok");
    assert.equal(answers.failures, 1, "the failure is recorded in the store");
  });

  test("a record that keeps failing uses every attempt, then fails with the reason; others succeed", async () => {
    fresh();
    const [a, b] = makeRecords(2);
    fake.options.script = (req) => (req.text === a.text ? { kind: "status", status: 503, message: "overloaded" } : undefined);
    const run = await label.labelRecords(task, [a, b], config(fake, { maxRetries: 2 }), { store: openStore(), prices });
    assert.equal(run.results[0].status, "failed");
    assert.equal(run.results[0].attempts, 3);
    assert.match(run.results[0].error!, /HTTP 503.*overloaded.*after 3 attempts/);
    assert.equal(sentFor(fake, a.text), 3);
    assert.equal(run.results[1].status, "ok");
    assert.equal(run.totals.failed, 1);
  });

  test("invalid arguments get one repair request; twice invalid fails naming the field; a rerun tries again", async () => {
    fresh();
    const [a, b] = makeRecords(2);
    fake.options.script = (req) => {
      if (req.text === a.text && !req.repair) return { kind: "raw", text: '{"has_non_fish_meat": tru' }; // malformed JSON
      if (req.text === b.text) return { kind: "raw", text: JSON.stringify({ ...recipeLabels(b.text), requires_oven: "yes" }) };
      return undefined;
    };
    const answers = openStore();
    const run = await label.labelRecords(task, [a, b], config(fake), { store: answers, prices });
    assert.equal(run.results[0].status, "ok");
    assert.equal(run.results[0].attempts, 2);
    assert.deepEqual(run.results[0].labels, recipeLabels(a.text));
    assert.equal(run.results[1].status, "failed");
    assert.equal(run.results[1].attempts, 2);
    assert.match(run.results[1].error!, /requires_oven/);
    // The repair request shows the model its answer and the error, as a tool result.
    const repair = fake.requests.find((r) => r.text === a.text && r.repair)!;
    const messages = repair.body.messages as { role: string; content?: string }[];
    assert.deepEqual(messages.map((m) => m.role), ["system", "user", "assistant", "tool"]);
    assert.match(messages[3].content!, /malformed JSON/);
    // Both paid answers count, the invalid one included.
    assert.ok(run.results[1].costUsd > 0 && run.results[1].usage.inputTokens > 0);
    assert.equal(answers.failures, 3);
    // A repair's cost counts under the record's first request, so a budget that resumes this work sees it.
    const firstKey = fake.requests.find((r) => r.text === b.text && !r.repair)!.key;
    const repairKey = fake.requests.find((r) => r.text === b.text && r.repair)!.key;
    const lines = fs.readFileSync(answers.file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as label.StoreEntry);
    assert.equal(lines.find((e) => e.key === repairKey)?.rootKey, firstKey);
    assert.ok(Math.abs(answers.spentOn([firstKey]) - run.results[1].costUsd) < 1e-12);

    fake.reset();
    const rerun = await label.labelRecords(task, [a, b], config(fake), { store: answers, prices });
    // Failures are not cached, so the rerun asks again; a's first answer is invalid again, and its repair (same
    // request as before) is then served from the store.
    assert.equal(sentFor(fake, a.text), 1);
    assert.equal(fake.requests.filter((r) => r.text === a.text && r.repair).length, 0);
    assert.equal(rerun.results[0].status, "ok");
    assert.equal(sentFor(fake, b.text), 2);
  });

  test("abort: the run rejects, answers stored so far are kept and not bought again", async () => {
    fresh();
    fake.options.delayMs = 40;
    const records = makeRecords(20);
    const answers = openStore();
    const controller = new AbortController();
    fake.options.script = () => {
      if (fake.requests.length === 7) controller.abort(new Error("stopped by the user")); // mid-run, 2 in flight
      return undefined;
    };
    await assert.rejects(label.labelRecords(task, records, config(fake, { concurrency: 2 }), { store: answers, prices, signal: controller.signal }), /stopped by the user/);
    const kept = answers.size;
    assert.ok(kept > 0 && kept < 20, `kept ${kept}`);
    const sentBefore = fake.requests.length;
    const run = await label.labelRecords(task, records, config(fake, { concurrency: 8 }), { store: answers, prices });
    assert.equal(run.totals.ok, 20);
    assert.equal(run.totals.cached, kept);
    assert.equal(fake.requests.length - sentBefore, 20 - kept);
  });

  test("json_schema mode sends response_format and parses the content", async () => {
    fresh();
    const records = makeRecords(3);
    const run = await label.labelRecords(task, records, config(fake, { mode: "json_schema", temperature: 0 }), { store: openStore(), prices });
    assert.equal(run.totals.ok, 3);
    const body = fake.requests[0].body;
    assert.deepEqual(body.response_format, taskLib.responseFormat(task));
    assert.equal(body.tools, undefined);
    assert.equal(body.temperature, 0);
    assert.deepEqual(run.results.map((r) => r.labels), records.map((r) => recipeLabels(r.text)));
  });

  test("never more requests in flight than the concurrency", async () => {
    fresh();
    fake.options.delayMs = 30;
    const run = await label.labelRecords(task, makeRecords(15), config(fake, { concurrency: 3 }), { store: openStore(), prices });
    assert.equal(run.totals.ok, 15);
    assert.equal(fake.maxInFlight, 3);
  });

  test("budget: refuses to start when the estimate is over it, naming the estimate and how to raise it", async () => {
    fresh();
    const records = makeRecords(20);
    const estimate = await label.estimateLabelingCost(task, records, config(fake), prices);
    await assert.rejects(
      label.labelRecords(task, records, config(fake, { budgetUsd: estimate.usd / 2 }), { store: openStore(), prices }),
      (err: Error) => err.message.includes(`$${estimate.usd.toFixed(4)}`) && /Raise budgetUsd/.test(err.message),
    );
    assert.equal(fake.requests.length, 0);
  });

  test("budget: stops cleanly when the money spent reaches it, keeping the results so far", async () => {
    fresh();
    fake.options.usage = () => ({ prompt_tokens: 4000, completion_tokens: 500 }); // far above the estimate
    const records = makeRecords(20);
    const perAnswer = pricesLib.apiCallCost(prices, model, { inputTokens: 4000, outputTokens: 500 });
    const estimate = await label.estimateLabelingCost(task, records, config(fake), prices);
    const budgetUsd = Math.max(estimate.usd * 1.01, perAnswer * 5.5);
    const run = await label.labelRecords(task, records, config(fake, { budgetUsd, concurrency: 1 }), { store: openStore(), prices });
    assert.equal(run.stoppedByBudget, true);
    assert.ok(run.totals.ok >= 5 && run.totals.ok < 20, `labeled ${run.totals.ok}`);
    assert.equal(fake.requests.length, run.totals.ok, "nothing sent after the stop");
    assert.equal(run.totals.skipped, 20 - run.totals.ok);
    assert.ok(run.totals.costUsd <= budgetUsd + perAnswer);
    assert.match(run.results[19].error!, /budget/);
    assert.deepEqual(run.results.slice(0, run.totals.ok).map((r) => r.status), new Array(run.totals.ok).fill("ok"));
  });

  test("estimateLabelingCost: real token counts, standard and batch dollars, stored records left out", async () => {
    fresh();
    const records = makeRecords(4);
    const e = await label.estimateLabelingCost(task, records, config(fake), prices);
    assert.equal(e.records, 4);
    assert.equal(e.perRecord.outputTokens, 42, "compact JSON of five booleans plus the call's framing");
    assert.ok(e.inputTokens > 4 * 100, "system prompt + tool schema + recipe");
    assert.ok(Math.abs(e.usd - pricesLib.apiCallCost(prices, model, { inputTokens: e.inputTokens, outputTokens: e.outputTokens })) < 1e-12);
    assert.ok(e.usdBatch !== null && Math.abs(e.usdBatch - e.usd / 2) < 1e-12);
    const answers = openStore();
    await label.labelRecords(task, records.slice(0, 3), config(fake), { store: answers, prices });
    const rest = await label.estimateLabelingCost(task, records, config(fake), prices, { store: answers });
    assert.equal(rest.records, 1);
    assert.equal(rest.alreadyStored, 3);
  });

  test("Batch API: input JSONL has the live request bodies; importing the output fills the store at batch price", async () => {
    fresh();
    const dir = tmpDir();
    const records = makeRecords(5);
    const cfg = config(fake);
    const input = label.writeBatchInput(task, records, cfg, path.join(dir, "batch-input.jsonl"));
    assert.equal(input.requests, 5);
    const lines = fs.readFileSync(input.file, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    for (const [i, line] of lines.entries()) {
      assert.deepEqual(Object.keys(line).sort(), ["body", "custom_id", "method", "url"]);
      assert.equal(line.custom_id, records[i].id);
      assert.equal(line.method, "POST");
      assert.equal(line.url, "/v1/chat/completions");
      assert.equal(label.requestKey(line.body), label.requestKey(label.teacherRequest(task, records[i].text, cfg)));
    }
    // Play the Batch API: send each body to the server, write the output file in the Batch API's format.
    const output: string[] = [];
    for (const [i, line] of lines.entries()) {
      if (i === 3) {
        output.push(JSON.stringify({ id: `batch_req_${i}`, custom_id: line.custom_id, response: { status_code: 500, request_id: "x", body: { error: { message: "server error" } } }, error: null }));
        continue;
      }
      const res = await fetch(`${fake.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(line.body) });
      output.push(JSON.stringify({ id: `batch_req_${i}`, custom_id: line.custom_id, response: { status_code: res.status, request_id: "x", body: await res.json() }, error: null }));
    }
    output.push(JSON.stringify({ id: "batch_req_x", custom_id: "someone-else", response: { status_code: 200, body: {} }, error: null }));
    fs.writeFileSync(path.join(dir, "batch-output.jsonl"), output.join("\n") + "\n");

    const answers = openStore();
    const imported = await label.importBatchOutput(task, records, cfg, path.join(dir, "batch-output.jsonl"), answers, prices);
    assert.equal(imported.imported, 4);
    assert.equal(imported.failed, 1);
    assert.deepEqual(imported.unmatched, ["someone-else"]);
    const standard = [...answers.entries()].reduce((a, e) => a + pricesLib.apiCallCost(prices, model, e.usage!), 0);
    assert.ok(Math.abs(imported.costUsd - standard / 2) < 1e-12, "batch price is half");

    // The notebook then goes on at no cost: only the record that failed in the batch is sent live.
    fake.reset();
    const run = await label.labelRecords(task, records, cfg, { store: answers, prices });
    assert.equal(run.totals.ok, 5);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].text, records[3].text);
    assert.equal(run.results.filter((r) => r.cached).length, 4);
    assert.equal(await label.importBatchOutput(task, records, cfg, path.join(dir, "batch-output.jsonl"), answers, prices).then((r) => r.alreadyStored), 5);
  });

  test("THE KILL TEST: SIGKILLed at random instants, resumed, never resends a stored answer, same dataset", async (t) => {
    fresh();
    fake.options.delayMs = () => 5 + Math.floor(Math.random() * 40);
    const dir = tmpDir();
    const records = makeRecords(40, "k");
    const recordsFile = path.join(dir, "records.json");
    fs.writeFileSync(recordsFile, JSON.stringify(records));
    const job = { baseURL: fake.url, model, storeFile: path.join(dir, "store.jsonl"), recordsFile, outFile: path.join(dir, "out.json"), concurrency: 4 };
    const jobFile = path.join(dir, "job.json");
    fs.writeFileSync(jobFile, JSON.stringify(job));
    const child = path.join(__dirname, "..", "..", "support", "label-child.js");

    const storedKeys = (): Set<string> => {
      if (!fs.existsSync(job.storeFile)) return new Set();
      const s = label.AnswerStore.open(job.storeFile); // also what the child does on start: drop a torn line
      const keys = new Set(s.keys());
      void s.close();
      return keys;
    };

    let kills = 0;
    for (let round = 0; round < 12; round++) {
      const storedBefore = storedKeys();
      const countsBefore = new Map(fake.counts);
      const proc = spawn(process.execPath, [child, jobFile], { stdio: ["ignore", "ignore", "inherit"] });
      // Kill once the server has seen a few requests of this round (so some answers are stored and some are in
      // flight), plus a random instant; five kills, then let it finish.
      const countAtStart = fake.requests.length;
      const killAfterRequests = round < 5 ? 5 + Math.floor(Math.random() * 8) : Infinity;
      const poll = setInterval(() => {
        if (fake.requests.length - countAtStart >= killAfterRequests) {
          clearInterval(poll);
          setTimeout(() => proc.kill("SIGKILL"), Math.random() * 30);
        }
      }, 2);
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
      clearInterval(poll);
      for (const key of storedBefore) {
        assert.equal(fake.counts.get(key) ?? 0, countsBefore.get(key) ?? 0, `round ${round}: a request whose answer was stored was sent again`);
      }
      const storedAfter = storedKeys();
      for (const key of storedBefore) assert.ok(storedAfter.has(key), `round ${round}: a stored answer was lost`);
      if (exit.signal === "SIGKILL") {
        kills += 1;
        continue;
      }
      assert.equal(exit.code, 0, "the child finished cleanly");
      break;
    }
    assert.ok(kills >= 3, `killed ${kills} times`);
    const resent = [...fake.counts.values()].filter((n) => n > 1).length;
    t.diagnostic(`${kills} kills, ${fake.requests.length} requests for 40 records; ${resent} sent again (in flight at a kill, never stored)`);
    const resumed = JSON.parse(fs.readFileSync(job.outFile, "utf8")) as { id: string; status: string; labels: unknown }[];
    assert.equal(resumed.length, 40);

    // An uninterrupted run over the same records gives the same dataset.
    const reference = await label.labelRecords(task, records, config(fake), { store: openStore(), prices });
    assert.deepEqual(resumed, reference.results.map((r) => ({ id: r.id, status: r.status, labels: r.labels ?? null })));
    assert.ok(resumed.every((r) => r.status === "ok"));
  });
});

describe("provider selection", () => {
  const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
  const restore = () => {
    for (const [name, value] of [["OPENAI_API_KEY", saved.key], ["OPENAI_BASE_URL", saved.url]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  after(restore);

  test("openai with neither a key nor a base URL: a clear error naming both env vars", async () => {
    delete process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_BASE_URL;
    await assert.rejects(
      label.labelRecords(task, makeRecords(1), { provider: "openai", model }, { store: openStore(), prices }),
      (err: Error) => /OPENAI_API_KEY/.test(err.message) && /OPENAI_BASE_URL/.test(err.message),
    );
    restore();
  });

  test("an unpriced model is refused before anything is sent", async () => {
    await assert.rejects(
      label.labelRecords(task, makeRecords(1), { provider: "openai", model: "no-such-model", baseURL: "http://127.0.0.1:9/v1" }, { store: openStore(), prices }),
      /no-such-model/,
    );
  });

  test("teacherFromEnv: a base URL or key selects openai, neither the local model; overrides win", () => {
    delete process.env.OPENAI_API_KEY;
    process.env.OPENAI_BASE_URL = "http://127.0.0.1:1234/v1";
    const remote = label.teacherFromEnv();
    assert.equal(remote.provider, "openai");
    assert.equal(remote.baseURL, "http://127.0.0.1:1234/v1");
    assert.equal(label.teacherFromEnv({ model: "gpt-4o", concurrency: 16 }).concurrency, 16);
    delete process.env.OPENAI_BASE_URL;
    const local = label.teacherFromEnv();
    assert.equal(local.provider, "local");
    assert.equal(local.model, paths.smollm2Gguf());
    restore();
  });
});

describe("local teacher (SmolLM2-135M on the CPU, grammar from the task schema)", () => {
  after(async () => {
    await label.disposeLocalTeacher();
  });

  test("3 recipes: valid labels, real token counts, cost 0; a second run is served from the store", async () => {
    const records = makeRecords(3, "local");
    const cfg = label.teacherFromEnv({ provider: "local" });
    const answers = openStore();
    const first = await label.labelRecords(task, records, cfg, { store: answers });
    for (const r of first.results) {
      assert.equal(r.status, "ok", r.error);
      assert.ok(taskLib.parseLabels(task, r.labels).ok);
      assert.ok(r.usage.inputTokens > 50, "the prompt's tokens, counted by the model's tokenizer");
      assert.ok(r.usage.outputTokens >= 20, "every field written out");
      assert.equal(r.costUsd, 0);
      assert.equal(r.model, path.basename(cfg.model));
    }
    const estimate = await label.estimateLabelingCost(task, records, cfg);
    assert.equal(estimate.usd, 0);
    assert.equal(estimate.inputTokens, first.results.reduce((a, r) => a + r.usage.inputTokens, 0), "same tokenizer, same prompt");

    const second = await label.labelRecords(task, records, cfg, { store: answers });
    assert.ok(second.results.every((r) => r.cached && r.attempts === 0));
    assert.deepEqual(second.results.map((r) => r.labels), first.results.map((r) => r.labels));
  });
});
