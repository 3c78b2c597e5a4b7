// The budget is a hard cap (issue 15, item 8): each request's worst case is reserved before it is sent, timed-out
// requests count at their worst case, and what earlier runs into the same store spent counts. The money is counted
// as the server bills it (the fake server's `billed`: every answer it produced, also for a client that had gone).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { label, prices as pricesLib, task as taskLib, type corpus } from "@distill/lib";
import { startFakeOpenAI, type FakeOpenAI, type SeenRequest } from "../../support/fake-openai";

const task = taskLib.loadTask("recipes");
const prices = pricesLib.loadPrices();
const model = "gpt-4o-mini";

function records(n: number, prefix: string): corpus.CorpusRecord[] {
  const foods = ["beef", "carrots", "fish", "beans", "apples", "chicken", "rice"];
  return Array.from({ length: n }, (_, i) => {
    const title = `${prefix} ${i}`;
    const text = `${title}\n\nIngredients:\n- ${1 + (i % 5)} lb ${foods[i % foods.length]}\n- salt\n\nDirections:\n- ${"Simmer slowly. ".repeat(1 + (i % 4))}\n- Serve.`;
    return { id: `${prefix}-${i}`, text, group: "g", title };
  });
}

const store = () => label.AnswerStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "budget-test-")), "store.jsonl"));

/** Every answer uses all the output tokens the request allows: ~6x the estimate, as an API that beats it would. */
function maxedOut(req: SeenRequest): { completion_tokens: number } {
  return { completion_tokens: Number(req.body.max_completion_tokens ?? req.body.max_tokens ?? 256) };
}

const billedUsd = (fake: FakeOpenAI) => fake.billed.reduce((sum, b) => sum + pricesLib.apiCallCost(prices, model, { inputTokens: b.usage.prompt_tokens, outputTokens: b.usage.completion_tokens }), 0);

/** The worst case of one request for the longest of the records: its counted prompt (with the margin the budget
 *  allows) and every output token the request allows, at the output price. */
async function worstCase(fake: FakeOpenAI, recs: corpus.CorpusRecord[]): Promise<number> {
  const longest = recs.reduce((a, b) => (b.text.length > a.text.length ? b : a));
  const e = await label.estimateLabelingCost(task, [longest], { provider: "openai", model, baseURL: fake.url }, prices);
  const maxTokens = Math.max(...fake.requests.map((r) => Number(r.body.max_tokens ?? r.body.max_completion_tokens)));
  return pricesLib.apiCallCost(prices, model, { inputTokens: Math.ceil(e.inputTokens * 1.25), outputTokens: maxTokens });
}

describe("budget: a hard cap", () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(async () => {
    await fake.stop();
  });

  for (const concurrency of [8, 32]) {
    test(`concurrency ${concurrency}, answers far above the estimate: billed <= budget + one worst case`, async (t) => {
      fake.reset();
      fake.options.delayMs = () => 10 + Math.floor(Math.random() * 60);
      fake.options.usage = maxedOut;
      const recs = records(240, `c${concurrency}`);
      const cfg: label.TeacherConfig = { provider: "openai", model, baseURL: fake.url, concurrency, retryBaseMs: 5 };
      const estimate = await label.estimateLabelingCost(task, recs, cfg, prices);
      const budgetUsd = estimate.usd * 1.02; // just enough to start; the answers then cost several times the estimate
      const run = await label.labelRecords(task, recs, { ...cfg, budgetUsd }, { store: store(), prices });
      const billed = billedUsd(fake);
      const worst = await worstCase(fake, recs);
      t.diagnostic(`billed ${(billed / budgetUsd).toFixed(3)}x the budget (worst case of one request: ${(worst / budgetUsd).toFixed(3)}x); ${run.totals.ok} labeled, ${run.totals.skipped} not sent`);
      assert.equal(run.stoppedByBudget, true);
      assert.ok(billed <= budgetUsd + worst, `billed $${billed.toFixed(6)} for a budget of $${budgetUsd.toFixed(6)} (+ worst case $${worst.toFixed(6)}): ${(billed / budgetUsd).toFixed(2)}x`);
      assert.ok(billed >= 0.5 * budgetUsd, `the budget was used, not left idle: billed $${billed.toFixed(6)} of $${budgetUsd.toFixed(6)}`);
      assert.ok(Math.abs(run.totals.costUsd - billed) < 1e-9, "the run counts what the server billed");
      assert.equal(fake.requests.length, run.totals.ok + run.totals.failed - run.totals.skipped);
    });
  }

  test("timed-out requests count at their worst case (the server billed them); the store records it", async () => {
    fake.reset();
    fake.options.usage = maxedOut;
    // Every third request hangs past the client's timeout, but the server finishes (and bills) it.
    fake.options.delayMs = (req) => (fake.requests.indexOf(req) % 3 === 0 ? 400 : 20);
    const recs = records(120, "timeouts");
    const cfg: label.TeacherConfig = { provider: "openai", model, baseURL: fake.url, concurrency: 8, timeoutMs: 150, retryBaseMs: 5 };
    const budgetUsd = (await label.estimateLabelingCost(task, recs, cfg, prices)).usd * 1.02;
    const answers = store();
    const run = await label.labelRecords(task, recs, { ...cfg, budgetUsd }, { store: answers, prices });
    await new Promise((r) => setTimeout(r, 450)); // let the hung requests finish on the server, and be billed
    const billed = billedUsd(fake);
    const worst = await worstCase(fake, recs);
    assert.equal(run.stoppedByBudget, true);
    assert.ok(run.totals.unansweredUsd > 0, "timeouts were counted");
    assert.ok(billed <= budgetUsd + worst, `billed $${billed.toFixed(6)} for a budget of $${budgetUsd.toFixed(6)}: ${(billed / budgetUsd).toFixed(2)}x`);
    assert.ok(run.totals.costUsd + run.totals.unansweredUsd <= budgetUsd + 1e-12, "what the run counted stays within the budget");
    const unanswered = fs.readFileSync(answers.file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as label.StoreEntry).reduce((sum, e) => sum + (e.unansweredUsd ?? 0), 0);
    assert.ok(Math.abs(unanswered - run.totals.unansweredUsd) < 1e-12, "the store records each timed-out attempt's worst case");
    await answers.close();
  });

  test("spend carries across a resume of the same store: an aborted run, then a resume, stay within one budget", async () => {
    fake.reset();
    fake.options.usage = maxedOut;
    fake.options.delayMs = () => 20 + Math.floor(Math.random() * 40);
    const recs = records(200, "resume");
    const cfg: label.TeacherConfig = { provider: "openai", model, baseURL: fake.url, concurrency: 8, retryBaseMs: 5 };
    const budgetUsd = (await label.estimateLabelingCost(task, recs, cfg, prices)).usd * 1.02;
    const answers = store();
    // Run 1 is stopped by the user after 20 requests, with 8 in flight: their worst case is recorded.
    const controller = new AbortController();
    fake.options.script = () => {
      if (fake.requests.length === 20) controller.abort(new Error("stopped by the user"));
      return undefined;
    };
    await assert.rejects(label.labelRecords(task, recs, { ...cfg, budgetUsd }, { store: answers, prices, signal: controller.signal }), /stopped by the user/);
    fake.options.script = undefined;
    await answers.close();
    await new Promise((r) => setTimeout(r, 100));
    const spentBefore = label.AnswerStore.open(answers.file).spentUsd;
    assert.ok(spentBefore >= billedUsd(fake) - 1e-12, `the store counts what the aborted run may have cost ($${spentBefore} >= billed $${billedUsd(fake)})`);

    // Run 2, the same budget: a store that already spent part of it refuses an estimate over what is left, naming both.
    const resumed = label.AnswerStore.open(answers.file);
    await assert.rejects(label.labelRecords(task, recs, { ...cfg, budgetUsd }, { store: resumed, prices }), /earlier runs spent on these records/);
    const estimate = await label.estimateLabelingCost(task, recs, cfg, prices, { store: resumed });
    assert.ok(Math.abs(estimate.spentBeforeUsd - spentBefore) < 1e-12, "the dry run shows it");
    // What is left can still be used: the first records, in the same store, with the same budget.
    const run = await label.labelRecords(task, recs.slice(0, 60), { ...cfg, budgetUsd }, { store: resumed, prices });
    await resumed.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(run.totals.spentBeforeUsd > 0);
    const billed = billedUsd(fake);
    const worst = await worstCase(fake, recs);
    assert.ok(billed <= budgetUsd + worst, `both runs billed $${billed.toFixed(6)} for one budget of $${budgetUsd.toFixed(6)}: ${(billed / budgetUsd).toFixed(2)}x`);

    // Other work in the same store (other records, e.g. notebook 3's baseline model) has a budget of its own.
    const other = records(20, "other");
    const otherBudget = (await label.estimateLabelingCost(task, other, cfg, prices)).usd * 3;
    const again = label.AnswerStore.open(answers.file);
    const otherRun = await label.labelRecords(task, other, { ...cfg, budgetUsd: otherBudget }, { store: again, prices });
    await again.close();
    assert.equal(otherRun.totals.spentBeforeUsd, 0);
    assert.ok(otherRun.totals.ok > 0);
  });

  test("the output limit is sent: max_tokens to an OpenAI-compatible server, max_completion_tokens to api.openai.com", async () => {
    fake.reset();
    fake.options.usage = undefined;
    fake.options.delayMs = 0;
    const [r] = records(1, "limit");
    await label.labelRecords(task, [r], { provider: "openai", model, baseURL: fake.url, maxOutputTokens: 300 }, { store: store(), prices });
    assert.equal(fake.requests[0].body.max_tokens, 300);
    const openai = label.teacherRequest(task, r.text, { provider: "openai", model, baseURL: "https://api.openai.com/v1" });
    assert.equal(openai.max_completion_tokens, 256, "default: 4x a typical answer, at least 256");
    assert.equal(openai.max_tokens, undefined);
    assert.equal(label.teacherRequest(task, r.text, { provider: "openai", model: "gpt-5-mini", baseURL: "https://api.openai.com/v1" }).max_completion_tokens, 8192, "reasoning models get room to think");
    // An answer cut at the limit says so, and which setting to raise.
    fake.reset();
    fake.queue.push({ kind: "answer", finishReason: "length" }, { kind: "answer", finishReason: "length" });
    const run = await label.labelRecords(task, [r], { provider: "openai", model, baseURL: fake.url, maxOutputTokens: 300 }, { store: store(), prices });
    assert.equal(run.results[0].status, "failed");
    assert.match(run.results[0].error!, /cut off at the output limit of 300 tokens.*maxOutputTokens/);
  });
});
