import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { List, Field, Table, Utf8, tableToIPC, vectorFromArray } from "apache-arrow";
import { corpus, paths, task, type corpus as D } from "@distill/lib";

const fixtures = path.join(paths.root, "tests", "fixtures");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "data-test-"));
const recipes = task.loadTask();

/** A record in the shipped corpus's format. */
function shipped(collection: string, slug: string, title: string, ingredients: string[], steps: string[], source = "Book One"): Record<string, unknown> {
  const body = `## Ingredients\n\n${ingredients.map((i) => `- ${i}`).join("\n")}\n\n## Directions\n\n${steps.map((s, i) => `${i + 1}. ${s}`).join("\n")}`;
  return { title, slug, collection, collection_name: collection, culture: collection, author: "", body, source_title: source, source_url: "", source_year: "1900", license: "public-domain", tags: [], export_date: "1900-01-01" };
}

function writeJsonl(name: string, rows: unknown[], gzip = true): string {
  const file = path.join(tmp, name);
  const text = rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n";
  fs.writeFileSync(file, gzip ? zlib.gzipSync(text) : text);
  return file;
}

async function collect(input: string | string[], opts: D.ReadOptions = {}): Promise<D.CorpusRecord[]> {
  const out: D.CorpusRecord[] = [];
  for await (const r of corpus.readRecords(input, opts)) out.push(r);
  return out;
}

/** n synthetic, all different recipes (different ingredient words, not just numbers) in the shipped format. */
function synthetic(collection: string, n: number, book = (i: number) => `Book ${i % 7}`): Record<string, unknown>[] {
  const words = ["apple", "bean", "carrot", "date", "egg", "fig", "grape", "ham", "ice", "jam"];
  const word = (i: number) => `${words[i % 10]}${words[Math.floor(i / 10) % 10]}${words[Math.floor(i / 100) % 10]}${words[Math.floor(i / 1000) % 10]}${words[Math.floor(i / 10000) % 10]}`;
  return Array.from({ length: n }, (_, i) => shipped(collection, `dish-${i}`, `${collection} dish ${word(i)}`, [`a ${word(i)}`, "salt"], [`Cook the ${word(i)}.`], book(i)));
}

test("parseRecipeMarkdown reads the shipped body shape", () => {
  const body = "## Ingredients\n\n- two pounds of mutton\n- one onion\n\n## Directions\n\n1. Wash the mutton\n2. Stew it for two hours";
  assert.deepEqual(corpus.parseRecipeMarkdown(body), { ingredients: ["two pounds of mutton", "one onion"], directions: ["Wash the mutton", "Stew it for two hours"] });
});

test("parseRecipeMarkdown reads public-domain-recipes bodies: intro, emoji lines, sub-headings, continuations", () => {
  const body = [
    "",
    "![Goulash](/pix/goulash.webp)",
    "",
    "A hearty stew. See [Pasta](/pasta).",
    "",
    "- 🍳 Cook time: 90 min",
    "- 🍽️ Servings: 4",
    "",
    "## Ingredients",
    "",
    "### For the stew",
    "- 1 kg **beef**",
    "- 2 onions",
    "",
    "Feel free to vary these.",
    "",
    "## Prep Directions (30 min)",
    "",
    "1. Cut the beef into cubes and",
    "   season it well.",
    "2. Chop the onions, see [Onions](/onions).",
    "",
    "![step](/pix/step.webp)",
    "",
    "## Notes",
    "",
    "- Freezes well.",
    "",
    "## Cooking Directions",
    "",
    "Fry everything, then simmer",
    "for an hour.",
  ].join("\n");
  assert.deepEqual(corpus.parseRecipeMarkdown(body), {
    ingredients: ["For the stew:", "1 kg beef", "2 onions", "Feel free to vary these."],
    directions: ["Cut the beef into cubes and season it well.", "Chop the onions, see Onions.", "Fry everything, then simmer for an hour."],
  });
});

test("renderRecord fills the task's record template with '- ' bullets", () => {
  const text = corpus.renderRecord(recipes, { title: "Tea {directions}", ingredients: ["tea", " water\n(hot) "], directions: ["Steep."] });
  assert.equal(text, "Tea {directions}\n\nIngredients:\n- tea\n- water (hot)\n\nDirections:\n- Steep.");
});

test("JSONL.gz in the shipped format: id, group, rendered text; a repeated slug gets a unique id", async () => {
  const file = writeJsonl("kitchen.jsonl.gz", [
    shipped("kitchen", "tea", "Tea", ["tea", "water"], ["Boil the water", "Pour"], "Book A"),
    shipped("kitchen", "tea", "Tea Again", ["tea"], ["Steep"], "Book B"),
  ]);
  const rows = await collect(file);
  assert.deepEqual(rows.map((r) => r.id), ["kitchen/tea", "kitchen/tea-2"]);
  assert.deepEqual(rows.map((r) => r.group), ["Book A", "Book B"]);
  assert.equal(rows[0].title, "Tea");
  assert.equal(rows[0].text, "Tea\n\nIngredients:\n- tea\n- water\n\nDirections:\n- Boil the water\n- Pour");
  // The same content uncompressed (and gzip detected by content, not by name) reads the same.
  const plain = writeJsonl("kitchen-plain.jsonl", [shipped("kitchen", "tea", "Tea", ["tea", "water"], ["Boil the water", "Pour"], "Book A")], false);
  assert.equal((await collect(plain))[0].text, rows[0].text);
});

test("CSV in RecipeNLG style: JSON-array columns, quoted newlines; an empty row is skipped with its line", async () => {
  const file = path.join(fixtures, "recipenlg.csv");
  const skipped: D.SkippedRow[] = [];
  const rows = await collect(file, { onSkip: (s) => skipped.push(s) });
  assert.deepEqual(rows.map((r) => r.title), ["No-Bake Nut Cookies", "Jewell Ball'S Chicken", "Creamy Corn"]);
  assert.ok(rows[0].text.includes("Ingredients:\n- 1 c. firmly packed brown sugar\n- 1/2 c. evaporated milk"));
  assert.ok(rows[1].text.endsWith("- Bake, uncovered, at 275° for 3 hours."), rows[1].text);
  assert.ok(rows.every((r) => r.id.startsWith("recipenlg.csv#")), "no id column: <file>#<line>");
  assert.equal(new Set(rows.map((r) => r.id)).size, 3);
  assert.deepEqual(rows.map((r) => r.group), ["recipenlg", "recipenlg", "recipenlg"], "no group column: the file name");
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0].file, file);
  assert.equal(skipped[0].row, 5);
  assert.match(skipped[0].reason, /no text/);
});

test("CSV with a plain text column and a mapped group column", async () => {
  const rows = await collect(path.join(fixtures, "text-column.csv"), { columns: { group: "book" } });
  assert.deepEqual(rows.map((r) => [r.id, r.group]), [["a1", "Breakfasts"], ["a2", "Drinks"]]);
  assert.equal(rows[1].text, "Tea\n\nIngredients:\n- tea leaves\n- water\n\nDirections:\n- Boil the water.\n- Pour it over the leaves.");
});

test("Parquet, read row group by row group, with mapped columns and list columns", async () => {
  const file = path.join(fixtures, "recipes.parquet");
  const skipped: D.SkippedRow[] = [];
  const rows = await collect(file, { columns: { id: "recipe_id", group: "book" }, onSkip: (s) => skipped.push(s) });
  assert.deepEqual(rows.map((r) => r.id), ["101", "102", "103", "105"]);
  assert.deepEqual(rows.map((r) => r.group), ["Book A", "Book A", "Book B", "Book C"]);
  assert.equal(rows[1].text, "Roast Chicken\n\nIngredients:\n- 1 chicken\n- butter\n- salt\n\nDirections:\n- Rub the chicken with butter and salt.\n- Roast in a hot oven for an hour.");
  assert.deepEqual(skipped.map((s) => s.row), [4]);
  let batches = 0;
  for await (const batch of corpus.readCorpus(file, { batchSize: 3, columns: { id: "recipe_id" } })) {
    batches++;
    assert.deepEqual(batch.schema.fields.map((f) => [f.name, String(f.type)]), [["id", "Utf8"], ["text", "Utf8"], ["group", "Utf8"], ["title", "Utf8"]]);
  }
  assert.equal(batches, 2, "4 rows in batches of 3");
});

test("Arrow IPC, file and stream format", async () => {
  const table = new Table({
    id: vectorFromArray(["x1", "x2"], new Utf8()),
    title: vectorFromArray(["Jam", "Toast"], new Utf8()),
    ingredients: vectorFromArray([["plums", "sugar"], ["bread"]], new List(new Field("item", new Utf8(), true))),
    directions: vectorFromArray([["Boil."], ["Toast it."]], new List(new Field("item", new Utf8(), true))),
  });
  for (const [name, format] of [["t.arrow", "file"], ["t.arrows", "stream"]] as const) {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, tableToIPC(table, format));
    const rows = await collect(file);
    assert.deepEqual(rows.map((r) => r.id), ["x1", "x2"], name);
    assert.equal(rows[0].text, "Jam\n\nIngredients:\n- plums\n- sugar\n\nDirections:\n- Boil.", name);
    assert.equal(rows[1].group, "t", name);
  }
});

test("a bigger JSONL.gz streams in bounded batches", async () => {
  const file = writeJsonl("big.jsonl.gz", synthetic("big", 10_000));
  const sizes: number[] = [];
  for await (const batch of corpus.readCorpus(file, { batchSize: 1000 })) sizes.push(batch.numRows);
  assert.deepEqual(sizes, Array(10).fill(1000));
  const odd: number[] = [];
  for await (const batch of corpus.readCorpus(file, { batchSize: 3333 })) odd.push(batch.numRows);
  assert.deepEqual(odd, [3333, 3333, 3333, 1]);
});

test("sampling is deterministic, independent of file order, and a smaller n is a prefix of a larger one", async () => {
  const a = writeJsonl("sample-a.jsonl.gz", synthetic("a", 300));
  const b = writeJsonl("sample-b.jsonl.gz", synthetic("b", 300));
  const ab = await corpus.sampleRecords([a, b], { n: 50, seed: 7 });
  const ba = await corpus.sampleRecords([b, a], { n: 50, seed: 7 });
  assert.equal(ab.records.length, 50);
  assert.deepEqual(ab.records.map((r) => r.id), ba.records.map((r) => r.id));
  assert.equal(ab.stats.seen, 600);
  const other = await corpus.sampleRecords([a, b], { n: 50, seed: 8 });
  assert.notDeepEqual(other.records.map((r) => r.id), ab.records.map((r) => r.id));
  const small = await corpus.sampleRecords([b, a], { n: 10, seed: 7 });
  assert.deepEqual(small.records.map((r) => r.id), ab.records.slice(0, 10).map((r) => r.id));
  assert.ok(ab.records.some((r) => r.id.startsWith("a/")) && ab.records.some((r) => r.id.startsWith("b/")));
  const all = await corpus.sampleRecords([a, b], { n: 1000, seed: 7 });
  assert.equal(all.records.length, 600, "n above the corpus size returns everything");
});

test("dedupe drops exact and near duplicates, keeping the same one whatever the order", async () => {
  const base = shipped("d", "soup", "Tomato Soup", ["2 cups tomatoes", "salt"], ["Boil for 10 minutes."]);
  const near = shipped("d2", "soup-copy", "TOMATO SOUP!", ["3 cups Tomatoes", "salt."], ["Boil  for 20 minutes"]);
  const other = shipped("d", "stew", "Bean Stew", ["beans"], ["Stew the beans."]);
  assert.equal(corpus.normalizeForDedupe("Boil  for 10 minutes."), corpus.normalizeForDedupe("boil for 20 MINUTES"));
  const one = writeJsonl("dup-1.jsonl.gz", [base, other]);
  const two = writeJsonl("dup-2.jsonl.gz", [near]);
  const x = await corpus.sampleRecords([one, two], { n: 10, seed: 1 });
  const y = await corpus.sampleRecords([two, one], { n: 10, seed: 1 });
  assert.equal(x.records.length, 2);
  assert.equal(x.stats.duplicates, 1);
  assert.deepEqual(x.records.map((r) => r.id), y.records.map((r) => r.id));
  const kept = x.records.find((r) => r.id !== "d/stew")!.id;
  assert.ok(kept === "d/soup" || kept === "d2/soup-copy");
  const noDedupe = await corpus.sampleRecords([one, two], { n: 10, seed: 1, dedupe: false });
  assert.equal(noDedupe.records.length, 3);
});

test("over-long records are cut to maxChars (default from the task) and counted", async () => {
  const long = shipped("l", "feast", "Feast", Array.from({ length: 4000 }, (_, i) => `ingredient number ${i} of the feast`), ["Cook it all."]);
  const file = writeJsonl("long.jsonl.gz", [long, shipped("l", "tea", "Tea", ["tea"], ["Steep."])]);
  const cut = await corpus.sampleRecords(file, { n: 5, seed: 3, maxChars: 1000 });
  const feast = cut.records.find((r) => r.id === "l/feast")!;
  assert.equal(feast.text.length, 1000);
  assert.equal(cut.stats.truncated, 1);
  const byTask = await corpus.sampleRecords(file, { n: 5, seed: 3 });
  assert.equal(byTask.records.find((r) => r.id === "l/feast")!.text.length, recipes.student.maxInputTokens * 4);
});

test("split without groups: deterministic, exact size, order independent", () => {
  const records = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}`, group: `g${i % 9}` }));
  const s1 = corpus.splitTrainTest(records, { testFraction: 0.1, seed: 5 });
  const s2 = corpus.splitTrainTest(records.slice().reverse(), { testFraction: 0.1, seed: 5 });
  assert.equal(s1.test.length, 20);
  assert.equal(s1.train.length, 180);
  assert.deepEqual(new Set(s1.test.map((r) => r.id)), new Set(s2.test.map((r) => r.id)));
  assert.notDeepEqual(new Set(corpus.splitTrainTest(records, { testFraction: 0.1, seed: 6 }).test.map((r) => r.id)), new Set(s1.test.map((r) => r.id)));
});

test("split with holdOutGroups puts every group on one side only", () => {
  const records = Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, group: `book${i % 12}` }));
  for (const seed of [1, 2, 3]) {
    const { train, test: held } = corpus.splitTrainTest(records, { testFraction: 0.2, seed, holdOutGroups: true });
    const trainGroups = new Set(train.map((r) => r.group));
    const testGroups = new Set(held.map((r) => r.group));
    assert.ok([...testGroups].every((g) => !trainGroups.has(g)), `seed ${seed}: a group on both sides`);
    assert.equal(train.length + held.length, 300);
    assert.ok(Math.abs(held.length - 60) <= 25 / 2, `seed ${seed}: test holds ${held.length}, want 60 give or take half a group`);
  }
  // One book holds most records: it is passed over rather than making the test side 80% of the corpus.
  const skewed = Array.from({ length: 100 }, (_, i) => ({ id: `s${i}`, group: i < 80 ? "big" : `small${i % 4}` }));
  for (const seed of [1, 2, 3, 4, 5]) {
    const { test: held } = corpus.splitTrainTest(skewed, { testFraction: 0.1, seed, holdOutGroups: true });
    assert.ok(held.length >= 5 && held.length <= 20 && held.every((r) => r.group !== "big"), `seed ${seed}: test holds ${held.length}`);
  }
  assert.throws(() => corpus.splitTrainTest([{ id: "a", group: "g" }, { id: "b", group: "g" }], { testFraction: 0.5, seed: 1, holdOutGroups: true }), /at least 2 groups/);
  assert.throws(() => corpus.splitTrainTest(records, { testFraction: 1, seed: 1 }), /testFraction/);
});

test("the shipped english-original corpus parses: 19,491 records, each with ingredients", async () => {
  assert.equal(corpus.defaultCorpus.length, 12);
  let count = 0;
  const ids = new Set<string>();
  for await (const r of corpus.readRecords(corpus.defaultCorpus)) {
    count++;
    ids.add(r.id);
    assert.ok(r.text.startsWith(`${r.title}\n\nIngredients:\n- `), `${r.id} has no ingredients`);
    assert.ok(r.group.length > 0, `${r.id} has no group`);
  }
  assert.equal(count, 19491);
  assert.equal(ids.size, count, "ids are unique");
});

test("the public-domain-recipes supplement parses too", async () => {
  const rows = await collect("data/recipes/public-domain-recipes/public-domain-recipes.jsonl.gz");
  assert.equal(rows.length, 410);
  const borscht = rows.find((r) => r.id === "public-domain-recipes/modern-borscht")!;
  assert.ok(borscht.text.includes("Directions:\n- Finely dice onion and garlic cloves."), "directions from 'Prep Directions'");
  assert.ok(!borscht.text.includes("Servings"), "the emoji lines of the intro are left out");
});

test("bad input: missing file, unknown extension, empty file, invalid UTF-8, bad gzip, missing mapped column", async () => {
  await assert.rejects(collect(path.join(tmp, "nope.jsonl")), /Corpus file not found: .*nope\.jsonl/);
  const xlsx = path.join(tmp, "book.xlsx");
  fs.writeFileSync(xlsx, "x");
  await assert.rejects(collect(xlsx), /Unsupported corpus file .*book\.xlsx: supported extensions are .*\.jsonl.*\.csv.*\.parquet.*\.arrow/);
  const empty = path.join(tmp, "empty.jsonl");
  fs.writeFileSync(empty, "");
  await assert.rejects(collect(empty), /empty\.jsonl is empty/);
  const blank = path.join(tmp, "blank.csv");
  fs.writeFileSync(blank, "title,text\n");
  await assert.rejects(collect(blank), /blank\.csv has no rows/);
  const latin1 = path.join(tmp, "latin1.jsonl");
  fs.writeFileSync(latin1, Buffer.concat([Buffer.from(JSON.stringify({ id: "1", text: "fine" }) + "\n"), Buffer.from('{"id": "2", "text": "cr\xe8me"}\n', "latin1")]));
  await assert.rejects(collect(latin1), /latin1\.jsonl, line 2: invalid UTF-8/);
  const latin1Csv = path.join(tmp, "latin1.csv");
  fs.writeFileSync(latin1Csv, Buffer.from("id,text\n1,fine\n2,cr\xe8me\n", "latin1"));
  await assert.rejects(collect(latin1Csv), /latin1\.csv, line 3: invalid UTF-8/);
  const notGzip = path.join(tmp, "broken.jsonl.gz");
  fs.writeFileSync(notGzip, Buffer.concat([zlib.gzipSync('{"text": "a"}\n').subarray(0, 12), Buffer.from("garbage")]));
  await assert.rejects(collect(notGzip), /broken\.jsonl\.gz/);
  await assert.rejects(collect(path.join(fixtures, "text-column.csv"), { columns: { text: "recipe_text" } }), /no column "recipe_text" \(given as columns\.text\)\. Its columns: id, text, book/);
  await assert.rejects(collect(path.join(fixtures, "recipes.parquet"), { columns: { group: "source" } }), /recipes\.parquet has no column "source" \(given as columns\.group\)\. Its columns: recipe_id, name, ingredients, directions, book/);
  const shortRow = path.join(tmp, "short.csv");
  fs.writeFileSync(shortRow, "id,text\n1,fine\n2\n");
  await assert.rejects(collect(shortRow), /short\.csv: .*line 3/);
  for (const name of ["garbage.arrow", "garbage.parquet"]) {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, "this is not a columnar file at all");
    await assert.rejects(collect(file), new RegExp(`${name}: not a readable (Arrow|Parquet)`));
  }
});

test("bad rows are skipped with file and line; a file whose every row is bad throws", async () => {
  const mixed = writeJsonl("mixed.jsonl", [JSON.stringify({ id: "ok", text: "Tea" }), "{not json", JSON.stringify({ id: "none", title: "No text" }), "[1, 2]"], false);
  const { records, stats } = await corpus.sampleRecords(mixed, { n: 10, seed: 1 });
  assert.deepEqual(records.map((r) => r.id), ["ok"]);
  assert.equal(stats.skippedTotal, 3);
  assert.deepEqual(stats.skipped.map((s) => [path.basename(s.file), s.row]), [["mixed.jsonl", 2], ["mixed.jsonl", 3], ["mixed.jsonl", 4]]);
  assert.match(stats.skipped[0].reason, /invalid JSON/);
  assert.match(stats.skipped[1].reason, /no text/);
  assert.match(stats.skipped[2].reason, /not a JSON object/);
  const allBad = writeJsonl("all-bad.jsonl", [JSON.stringify({ title: "a" }), JSON.stringify({ title: "b" })], false);
  await assert.rejects(collect(allBad), /all-bad\.jsonl: none of its 2 rows could be used \(line 1: no text.*line 2: no text/);
});
