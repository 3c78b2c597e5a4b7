// The labels-file teacher ("labels"): answers from a file of {id, labels} through labelRecords. Every way a file can
// be wrong is a clear error before anything is labeled, or a counted failure with its reason; never a silent wrong row.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { label, paths, prices as pricesLib, task as taskLib, type corpus } from "@distill/lib";

const task = taskLib.loadTask("recipes");
const fields = task.fields.map((f) => f.name);
const yes = Object.fromEntries(fields.map((f) => [f, true]));
const no = Object.fromEntries(fields.map((f) => [f, false]));

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "labels-file-test-"));
}

function writeFile(name: string, lines: (string | object)[]): string {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return file;
}

function records(ids: string[]): corpus.CorpusRecord[] {
  return ids.map((id) => ({ id, text: `Recipe ${id}\n\nIngredients:\n- salt\n\nDirections:\n- Serve`, group: "book", title: `Recipe ${id}` }));
}

const labelsConfig = (file: string): label.TeacherConfig => ({ provider: "labels", model: file });

async function runOn(file: string, ids: string[], store = label.AnswerStore.open(path.join(tmpDir(), "store.jsonl"))) {
  const run = await label.labelRecords(task, records(ids), labelsConfig(file), { store });
  return { run, store };
}

test("labels from a JSONL file go through the store at cost 0; missing ids fail with the reason; extra ids are counted", async () => {
  const file = writeFile("labels.jsonl", [{ id: "a", labels: yes }, { id: "b", labels: no, unsure: [] }, { id: "x", labels: yes }]);
  const progress: number[] = [];
  const store = label.AnswerStore.open(path.join(tmpDir(), "store.jsonl"));
  const run = await label.labelRecords(task, records(["a", "b", "c"]), labelsConfig(file), { store, onProgress: (p) => progress.push(p.done) });
  assert.deepEqual(run.results.map((r) => [r.id, r.status]), [["a", "ok"], ["b", "ok"], ["c", "failed"]]);
  assert.deepEqual(run.results[0].labels, yes);
  assert.deepEqual(run.results[1].labels, no);
  assert.equal(run.results[2].error, "no label in labels.jsonl");
  assert.equal(run.totals.costUsd, 0);
  assert.equal(run.results[0].model, "labels:labels.jsonl");
  assert.equal(store.size, 2, "the two answers are in the store");
  assert.deepEqual(progress, [1, 2, 3]);
  const notes = run.notes.join("\n");
  assert.match(notes, /1 record\(s\) have no label in labels\.jsonl and are marked failed: "c"/);
  assert.match(notes, /1 label\(s\) in labels\.jsonl are for records not asked for here/);
  assert.doesNotMatch(notes, /not used: .*unsure/, "the reference's own columns are not noise");
});

test("a rerun is served from the store; an edited label is a new answer, never the stale one", async () => {
  const file = writeFile("labels.jsonl", [{ id: "a", labels: yes }, { id: "b", labels: no }]);
  const { store } = await runOn(file, ["a", "b"]);
  await store.close();
  const reopened = label.AnswerStore.open(store.file);
  const again = await label.labelRecords(task, records(["a", "b"]), labelsConfig(file), { store: reopened });
  assert.equal(again.totals.cached, 2);
  assert.ok(again.results.every((r) => r.cached && r.status === "ok"));
  const estimate = await label.estimateLabelingCost(task, records(["a", "b"]), labelsConfig(file), undefined, { store: reopened });
  assert.deepEqual([estimate.records, estimate.alreadyStored, estimate.usd, estimate.model], [0, 2, 0, "labels:labels.jsonl"]);

  fs.writeFileSync(file, [{ id: "a", labels: no }, { id: "b", labels: no }].map((l) => JSON.stringify(l)).join("\n"));
  const edited = await label.labelRecords(task, records(["a", "b"]), labelsConfig(file), { store: reopened });
  assert.deepEqual(edited.results[0].labels, no, "the file's new label, not the stored old one");
  assert.equal(edited.results[0].cached, false);
  assert.equal(edited.results[1].cached, true);
});

test("a wrongly typed label or a label for an unknown field fails that record with the line and field; no repair round", async () => {
  const file = writeFile("labels.jsonl", [
    { id: "a", labels: { ...yes, requires_oven: "yes" } },
    { id: "b", labels: { ...no, spicy: true } },
    { id: "c", labels: { ...yes, main_dish: undefined } },
    { id: "d", labels: yes },
  ]);
  const { run, store } = await runOn(file, ["a", "b", "c", "d"]);
  assert.deepEqual(run.results.map((r) => r.status), ["failed", "failed", "failed", "ok"]);
  assert.match(run.results[0].error!, /^labels\.jsonl line 1: field requires_oven: expected boolean, got string "yes"/);
  assert.match(run.results[1].error!, /^labels\.jsonl line 2: unexpected field spicy/);
  assert.match(run.results[2].error!, /^labels\.jsonl line 3: missing field main_dish/);
  assert.ok(run.results.every((r) => r.attempts === 0));
  assert.equal(store.size, 1, "only the valid answer is served back");
  assert.equal(store.failures, 3, "the invalid ones are on record, once each (no repair request)");
});

test("duplicate ids, a row without an id and a line that is not JSON are errors naming the lines, before anything is stored", async () => {
  const dup = writeFile("dup.jsonl", [{ id: "a", labels: yes }, { id: "b", labels: no }, { id: "a", labels: no }, { id: "b", labels: no }]);
  const store = label.AnswerStore.open(path.join(tmpDir(), "store.jsonl"));
  await assert.rejects(label.labelRecords(task, records(["a", "b"]), labelsConfig(dup), { store }), (e: Error) => {
    assert.match(e.message, /Labels file dup\.jsonl cannot be used/);
    assert.match(e.message, /2 id\(s\) appear more than once: "a" \(lines 1, 3\), "b" \(lines 2, 4\); keep one row per id/);
    return true;
  });
  assert.equal(store.size + store.failures, 0, "nothing was stored");

  const broken = writeFile("broken.jsonl", [{ id: "a", labels: yes }, { labels: no }, "{not json", { id: "", labels: no }]);
  await assert.rejects(label.readLabelsFile(task, broken), (e: Error) => {
    assert.match(e.message, /line 2: no "id"/);
    assert.match(e.message, /line 3: invalid JSON/);
    assert.match(e.message, /line 4: no "id"/);
    return true;
  });
  await assert.rejects(label.readLabelsFile(task, writeFile("x.jsonl", [{ id: "a", verdict: true }])), /has neither a "labels" column nor a column named after a field/);
  await assert.rejects(label.readLabelsFile(task, path.join(tmpDir(), "missing.jsonl")), /Labels file not found/);
});

test("CSV: one column per field (true/false cells) or a labels JSON column; unused columns are named; a bad cell fails its record", async () => {
  const header = ["id", ...fields, "reviewer"].join(",");
  const row = (id: string, values: string[], reviewer = "ann") => [id, ...values, reviewer].join(",");
  const csv = path.join(tmpDir(), "labels.csv");
  fs.writeFileSync(csv, [header, row("a", ["true", "FALSE", "true", "false", "True"]), row("b", ["false", "false", "maybe", "false", "false"]), row("c", ["true", "true", "", "true", "true"])].join("\n") + "\n");
  const { run } = await runOn(csv, ["a", "b", "c"]);
  assert.equal(run.results[0].status, "ok");
  assert.deepEqual(run.results[0].labels, { has_non_fish_meat: true, requires_oven: false, requires_stove: true, cook_time_over_30_mins: false, main_dish: true });
  assert.match(run.results[1].error!, /labels\.csv line 3: field requires_stove: expected boolean, got string "maybe"/);
  assert.match(run.results[2].error!, /labels\.csv line 4: missing field requires_stove/);
  assert.match(run.notes.join("\n"), /Columns of labels\.csv not used: reviewer/);

  const jsonColumn = path.join(tmpDir(), "export.csv");
  fs.writeFileSync(jsonColumn, `id,labels\na,"${JSON.stringify(yes).replaceAll('"', '""')}"\nb,{oops\n`);
  await assert.rejects(label.readLabelsFile(task, jsonColumn), /line 3: the "labels" column is not JSON/);
  fs.writeFileSync(jsonColumn, `id,labels\na,"${JSON.stringify(yes).replaceAll('"', '""')}"\n`);
  const fromJson = await runOn(jsonColumn, ["a"]);
  assert.deepEqual(fromJson.run.results[0].labels, yes);
});

test("Parquet: typed columns per field, read with the corpus readers", async () => {
  const file = path.join(paths.root, "tests", "fixtures", "labels.parquet");
  const { run } = await runOn(file, ["r1", "r2", "r3", "r4"]);
  assert.deepEqual(run.results.map((r) => r.status), ["ok", "ok", "ok", "failed"]);
  assert.deepEqual(run.results[0].labels, { has_non_fish_meat: true, requires_oven: true, requires_stove: false, cook_time_over_30_mins: true, main_dish: true });
  assert.equal(run.results[3].error, `no label in ${path.join("tests", "fixtures", "labels.parquet")}`);
  assert.equal(run.results[0].model, `labels:${path.join("tests", "fixtures", "labels.parquet")}`);
});

test("the shipped reference labels are a valid labels file: 1,200 recipes, every label fits the task", async () => {
  const file = "data/reference-labels/labels.jsonl";
  const read = await label.readLabelsFile(task, file);
  assert.equal(read.byId.size, 1200);
  for (const [id, row] of read.byId) assert.ok(taskLib.parseLabels(task, row.labels).ok, id);
  assert.deepEqual(read.ignoredColumns, []);
});

test("teacherConfig: 'labels' reads labelsFile; 'auto' without a key is the labels file, with one the API; names", () => {
  const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
  const p = { model: "gpt-4o-mini", mode: "tool", concurrency: 8, budgetUsd: 1, labelsFile: "data/reference-labels/labels.jsonl" };
  try {
    delete process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_BASE_URL;
    const offline = label.teacherConfig({ ...p, provider: "auto" });
    assert.deepEqual([offline.provider, offline.model], ["labels", "data/reference-labels/labels.jsonl"]);
    assert.equal(label.teacherName(offline), "labels:data/reference-labels/labels.jsonl");
    assert.equal(label.teacherName({ provider: "labels", model: path.join(paths.root, "data", "x.csv") }), "labels:data/x.csv", "a project path, not a machine path");
    assert.equal(label.teacherName({ provider: "labels", model: "/somewhere/else/mine.csv" }), "labels:mine.csv");
    assert.throws(() => label.teacherConfig({ ...p, provider: "labels", labelsFile: "" }), /teacherProvider "labels" needs labelsFile/);
    process.env.OPENAI_API_KEY = "fake-key-for-this-test-only";
    assert.equal(label.teacherConfig({ ...p, provider: "auto" }).provider, "openai");
    assert.equal(label.teacherConfig({ ...p, provider: "labels" }).provider, "labels", "an explicit labels teacher ignores the key");
  } finally {
    if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved.key;
    if (saved.url !== undefined) process.env.OPENAI_BASE_URL = saved.url;
  }
});

test("the dry run of a labels file costs nothing and needs no prices", async () => {
  const file = writeFile("labels.jsonl", [{ id: "a", labels: yes }]);
  const e = await label.estimateLabelingCost(task, records(["a", "b"]), labelsConfig(file), pricesLib.loadPrices());
  assert.deepEqual([e.records, e.inputTokens, e.outputTokens, e.usd], [2, 0, 0, 0]);
});
