// Notebook 1 executed headless: against the OpenAI-protocol test server (the paid path), then again to prove a rerun
// buys nothing, and once with the real local teacher (the offline default).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { label, paths } from "@distill/lib";
import { runNotebook } from "@distill/lib/dist/notebook";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai";
import { filesUnder, tempDir } from "../support/notebooks";

const notebook = path.join(paths.notebooksDir, "1-label.ipynb");
const FAKE_KEY = "fake-openai-key-NOTEBOOK-0123456789";
const URL_PASSWORD = "pw-NOTEBOOK-s3cret-0123"; // OPENAI_BASE_URL carries credentials: they must reach no file
let server: FakeOpenAI;

before(async () => {
  server = await startFakeOpenAI({ delayMs: 5 });
});
after(async () => {
  await server.stop();
});

test("1-label with an OpenAI-compatible teacher: labels, splits, writes valid files; a rerun sends nothing", async () => {
  const work = tempDir("label-work");
  const env = { OPENAI_API_KEY: FAKE_KEY, OPENAI_BASE_URL: server.url.replace("http://", `http://alice:${URL_PASSWORD}@`) };
  const params = { workDir: work, teacherProvider: "openai", teacherModel: "gpt-4o-mini" };
  const first = await runNotebook({ notebook, profile: "test", params, outDir: tempDir("label-a"), env, quiet: true });
  assert.equal(first.ok, true, first.record.error?.text);
  const results = first.record.results.label as { totals: { ok: number; failed: number; costUsd: number }; counts: { train: number; test: number } };
  assert.ok(results.totals.ok >= 10, `labeled ${results.totals.ok}`);
  assert.ok(results.totals.costUsd > 0, "the paid path reports a cost");
  assert.equal(results.counts.train + results.counts.test, results.totals.ok);
  const rows = label.readLabeled(path.join(work, "labeled.arrow"));
  assert.equal(rows.filter((r) => r.status === "ok").length, results.totals.ok);
  for (const file of ["train.jsonl", "test.jsonl"]) assert.deepEqual(label.validateFineTuneFile(path.join(work, file)).errors, []);
  assert.ok(fs.existsSync(path.join(work, "batch-input.jsonl")));
  const sent = server.requests.length;
  assert.ok(sent >= results.totals.ok);
  assert.ok(server.requests.every((r) => r.authorization === `Basic ${Buffer.from(`alice:${URL_PASSWORD}`).toString("base64")}`), "the URL's credentials are sent as Basic auth");

  const second = await runNotebook({ notebook, profile: "test", params, outDir: tempDir("label-b"), env, quiet: true });
  assert.equal(second.ok, true, second.record.error?.text);
  assert.equal(server.requests.length, sent, "a rerun is served from the store: no request sent");
  const again = second.record.results.label as { totals: { cached: number; ok: number; costUsd: number } };
  assert.equal(again.totals.cached, again.totals.ok);
  assert.equal(again.totals.costUsd, 0);

  for (const f of [...filesUnder(first.outDir), ...filesUnder(second.outDir), ...filesUnder(work)]) {
    assert.ok(!fs.readFileSync(f).includes(FAKE_KEY), `${f} contains the API key`);
    assert.ok(!fs.readFileSync(f).includes(URL_PASSWORD), `${f} contains the password of OPENAI_BASE_URL`);
  }
});

test("1-label offline: the local SmolLM2 teacher labels through the same store", async () => {
  const work = tempDir("label-local");
  const r = await runNotebook({ notebook, profile: "test", params: { workDir: work, teacherProvider: "local", sampleSize: 4 }, outDir: tempDir("label-local-out"), quiet: true, env: { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" } });
  assert.equal(r.ok, true, r.record.error?.text);
  const label = r.record.results.label as { teacher: string; totals: { ok: number; costUsd: number } };
  assert.match(label.teacher, /^local:SmolLM2-135M-Instruct/);
  assert.ok(label.totals.ok >= 2);
  assert.equal(label.totals.costUsd, 0);
  assert.ok(r.record.headline.some((h) => h.label === "Records labeled"));
});
