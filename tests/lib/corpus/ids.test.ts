// Record ids: unique across the files of one read, never joined silently when they repeat (issue 15, item 2).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { corpus, label, prices as pricesLib, task as taskLib, type corpus as D } from "@distill/lib";
import { startFakeOpenAI } from "../../support/fake-openai";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ids-test-"));
const task = taskLib.loadTask("recipes");

function write(rel: string, text: string): string {
  const file = path.join(tmp, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

async function collect(input: string | string[], opts: D.ReadOptions = {}): Promise<D.CorpusRecord[]> {
  const out: D.CorpusRecord[] = [];
  for await (const r of corpus.readRecords(input, opts)) out.push(r);
  return out;
}

const roastBeef = "Roast Beef\n\nIngredients:\n- a rib of beef\n\nDirections:\n- Roast two hours in a hot oven";
const cucumber = "Cucumber Salad\n\nIngredients:\n- 2 cucumbers\n\nDirections:\n- Slice and dress with vinegar";

test("two files of the same name in different folders: ids carry the path from the common folder, all unique", async () => {
  const a = write("same-name/a/recipes.csv", `title,text\nRoast Beef,"${roastBeef}"\nTea,Boil water and pour\n`);
  const b = write("same-name/b/recipes.csv", `title,text\nCucumber Salad,"${cucumber}"\nToast,Toast the bread\n`);
  const rows = await collect([a, b]);
  const ids = rows.map((r) => r.id);
  assert.equal(new Set(ids).size, rows.length, `ids repeat: ${ids.join(", ")}`);
  assert.match(rows.find((r) => r.title === "Roast Beef")!.id, /^a\/recipes\.csv#\d+$/);
  assert.match(rows.find((r) => r.title === "Cucumber Salad")!.id, /^b\/recipes\.csv#\d+$/);
  assert.deepEqual([...new Set(rows.map((r) => r.group))].sort(), ["a/recipes", "b/recipes"], "the default group tells the files apart too");
  // One file alone (or files of different names) keep the short <file>#<line> ids.
  assert.deepEqual((await collect(a)).map((r) => r.id.replace(/#\d+$/, "")), ["recipes.csv", "recipes.csv"]);
  // Slug ids without a collection column take the same prefix.
  const sa = write("slugs/x/book.jsonl", JSON.stringify({ slug: "tea", text: "Tea" }) + "\n");
  const sb = write("slugs/y/book.jsonl", JSON.stringify({ slug: "tea", text: "Tea again" }) + "\n");
  assert.deepEqual((await collect([sa, sb])).map((r) => r.id), ["x/book/tea", "y/book/tea"]);
  assert.deepEqual((await collect(sa)).map((r) => r.id), ["book/tea"]);
});

test("a file named twice, or a folder and a file in it, is read once", async () => {
  const dir = path.join(tmp, "twice");
  const file = write("twice/one.jsonl", JSON.stringify({ text: "Tea" }) + "\n" + JSON.stringify({ text: "Toast" }) + "\n");
  assert.equal((await collect([file, file])).length, 2);
  assert.equal((await collect([dir, file])).length, 2);
});

test("a repeated id is a counted, reported skip (first row kept), within a file and across files", async () => {
  const one = write("dupes/one.jsonl", [
    JSON.stringify({ id: "r1", title: "Roast Beef", text: roastBeef }),
    JSON.stringify({ id: "r2", title: "Tea", text: "Boil water" }),
    JSON.stringify({ id: "r1", title: "Cucumber Salad", text: cucumber }),
  ].join("\n") + "\n");
  const two = write("dupes/two.csv", `id,title,text\nr2,Toast,Toast the bread\nr3,Soup,Simmer the soup\n`);
  const skipped: D.SkippedRow[] = [];
  const rows = await collect([one, two], { onSkip: (s) => skipped.push(s) });
  assert.deepEqual(rows.map((r) => [r.id, r.title]), [["r1", "Roast Beef"], ["r2", "Tea"], ["r3", "Soup"]]);
  assert.deepEqual(skipped.map((s) => [path.basename(s.file), s.row, s.duplicateId]), [["one.jsonl", 3, true], ["two.csv", 2, true]]);
  assert.match(skipped[0].reason, /duplicate id "r1"/);

  const { records, stats } = await corpus.sampleRecords([one, two], { n: 10, seed: 1 });
  assert.equal(records.length, 3);
  assert.equal(stats.duplicateIds, 2, "counted for the notebook's table");
  assert.equal(stats.skippedTotal, 2);
  // Without onSkip, readCorpus warns about them (one line per file).
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    await collect([one, two]);
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /skipped 1 row\(s\) of .*one\.jsonl.*duplicate id "r1"/);
});

test("labelRecords and joinAnswers refuse records that share an id instead of swapping their labels", async () => {
  const records = [
    { id: "same", title: "Roast Beef", group: "g", text: roastBeef },
    { id: "same", title: "Cucumber Salad", group: "g", text: cucumber },
  ];
  const fake = await startFakeOpenAI();
  try {
    const answers = label.AnswerStore.open(path.join(tmp, "store.jsonl"));
    await assert.rejects(
      label.labelRecords(task, records, { provider: "openai", model: "gpt-4o-mini", baseURL: fake.url }, { store: answers, prices: pricesLib.loadPrices() }),
      /records\[0\] and records\[1\] have the same id "same"/,
    );
    assert.equal(fake.requests.length, 0, "refused before anything was bought");
    // With distinct ids the run works; joining answers that repeat an id (e.g. results of two runs concatenated) throws.
    const distinct = [records[0], { ...records[1], id: "other" }];
    const run = await label.labelRecords(task, distinct, { provider: "openai", model: "gpt-4o-mini", baseURL: fake.url }, { store: answers, prices: pricesLib.loadPrices() });
    await answers.close();
    const rows = label.joinAnswers(distinct, run.results);
    assert.equal(rows[0].labels?.has_non_fish_meat, true, "Roast Beef keeps its own labels");
    assert.equal(rows[1].labels?.has_non_fish_meat, false);
    assert.throws(() => label.joinAnswers(records, run.results), /records\[0\] and records\[1\] have the same id/);
    assert.throws(() => label.joinAnswers(distinct, [run.results[0], { ...run.results[1], id: "same" }]), /answers\[0\] and answers\[1\] have the same id "same"/);
    assert.throws(() => label.writeDatasets(task, [rows[0], { ...rows[1], id: rows[0].id }], { dir: path.join(tmp, "ds"), testFraction: 0.5, seed: 1 }), /same id/);
  } finally {
    await fake.stop();
  }
});

test("a body (or text, title, id) that is a JSON object is skipped saying so, not as a Markdown problem", async () => {
  const file = write("objects/objects.jsonl", [
    JSON.stringify({ title: "Tea", body: { ingredients: ["tea"], directions: ["steep"] } }),
    JSON.stringify({ title: "Soup", text: { en: "Simmer" } }),
    JSON.stringify({ title: ["a", "b"], text: "Toast the bread" }),
    JSON.stringify({ id: { n: 1 }, text: "Boil an egg" }),
    JSON.stringify({ title: "Fine", text: "Fry an egg" }),
  ].join("\n") + "\n");
  const skipped: D.SkippedRow[] = [];
  const rows = await collect(file, { onSkip: (s) => skipped.push(s) });
  assert.deepEqual(rows.map((r) => r.title), ["Fine"]);
  assert.deepEqual(skipped.map((s) => s.row), [1, 2, 3, 4]);
  assert.match(skipped[0].reason, /column "body" holds a JSON object, not text/);
  assert.doesNotMatch(skipped[0].reason, /no list under/);
  assert.match(skipped[1].reason, /column "text" holds a JSON object/);
  assert.match(skipped[2].reason, /column "title" holds a list/);
  assert.match(skipped[3].reason, /column "id" holds a JSON object/);
});
