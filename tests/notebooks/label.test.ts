// Notebook 1 executed headless: against the OpenAI-protocol test server (the paid path), then again to prove a rerun
// buys nothing; once with the real local teacher; and on the default profile (the offline default: the reference
// labels teach, the local teacher is the live check), twice.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { label, paths } from "@distill/lib";
import { runNotebook } from "@distill/lib/dist/notebook";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai";
import { filesUnder, tempDir } from "../support/notebooks";

const notebook = path.join(paths.notebooksDir, "1-label.ipynb");

interface Score { n: number; agreement: number; meanKappa: number | null; perField: { field: string; agreement: number; kappa: number | null }[] }
type Quality = { reference: string; ceiling: Score | null; teachers: (Score & { name: string; role: string })[]; notes: string[] };
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
  const results = first.record.results.label as { totals: { ok: number; failed: number; costUsd: number }; counts: { train: number; test: number }; teacherQuality: Quality };
  assert.ok(results.totals.ok >= 10, `labeled ${results.totals.ok}`);
  // The API teacher labeled reference recipes (the test profile samples them): it is scored against the reference.
  const apiScore = results.teacherQuality.teachers.find((q) => q.role === "teacher")!;
  assert.equal(apiScore.name, "gpt-4o-mini");
  assert.equal(apiScore.n, results.totals.ok);
  assert.ok(apiScore.perField.length === 5 && apiScore.agreement > 0 && apiScore.agreement <= 1);
  assert.ok(results.teacherQuality.teachers.some((q) => q.role === "live check" && q.n === 2), "the local teacher labeled 2 as a live check");
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

test("1-label on the default profile: the reference labels teach (887 / 313, 8 held-out books), the local teacher is scored", async () => {
  const work = tempDir("label-default");
  const env = { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" };
  // The default profile as npm start runs it, with a live check of 3 records instead of 12 (a minute less here).
  const params = { workDir: work, liveTeacherSample: 3 };
  const r = await runNotebook({ notebook, profile: "default", params, outDir: tempDir("label-default-out"), env, quiet: true });
  assert.equal(r.ok, true, r.record.error?.text);
  type Results = { teacher: string; provider: string; totals: { ok: number; failed: number; cached: number; costUsd: number }; counts: { train: number; test: number }; groups: { test: number; shared: number }; notes: string[]; teacherQuality: Quality };
  const label1 = r.record.results.label as Results;
  assert.equal(label1.teacher, "labels:data/reference-labels/labels.jsonl");
  assert.deepEqual([label1.totals.ok, label1.totals.failed, label1.totals.costUsd], [1200, 0, 0]);
  assert.deepEqual(label1.counts, { labeled: 1200, failed: 0, train: 887, test: 313 });
  assert.deepEqual([label1.groups.test, label1.groups.shared], [8, 0]);
  assert.match(label1.notes[0], /1200 labeled records; 1200 of the 1200 records asked for are among them/);
  const q = label1.teacherQuality;
  assert.equal(q.reference, "data/reference-labels/labels.jsonl");
  assert.equal(q.ceiling?.n, 100);
  assert.equal(q.ceiling?.agreement, 0.984);
  assert.deepEqual(q.teachers.map((t) => [t.role, t.name, t.n]), [["live check", "local:SmolLM2-135M-Instruct.Q4_1", 3]]);
  assert.match(q.notes[0], /the reference itself/);
  const html = fs.readFileSync(r.html, "utf8");
  assert.match(html, /second annotator/);
  assert.match(html, /live check/);

  // Served from the store the second time: the file's labels and the local teacher's answers alike.
  const again = await runNotebook({ notebook, profile: "default", params, outDir: tempDir("label-default-again"), env, quiet: true });
  assert.equal(again.ok, true, again.record.error?.text);
  assert.equal((again.record.results.label as Results).totals.cached, 1200);
  assert.deepEqual((again.record.results.label as Results).teacherQuality, q);
});
