// The TS and Python corpus readers stay in step: the corpus job (python-runtime/distill_runtime/corpus/) reads the
// corpus itself, so that it runs where there is no Node (a Ray cluster), and its ids and texts must be the ones the
// notebooks use. Every fixture format, the shipped corpus and a file of edge cases (whitespace JS and Python disagree
// on, numbers as ids, Markdown corner cases, duplicate slugs and ids, files sharing a name) are read by both:
// the records (id, text, group, title) must be the same bytes, the skipped rows the same file and row, and a read that
// fails on one side must fail on the other.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as zlib from "node:zlib";
import { Field, Float64, Int64, List, Table, Utf8, tableToIPC, vectorFromArray } from "apache-arrow";
import { corpus, paths, type corpus as C } from "@distill/lib";

const fixtures = path.join(paths.root, "tests", "fixtures");
const recipesDir = path.join(paths.dataDir, "recipes");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "corpus-parity-"));

type Line = { id: string; text: string; group: string; title: string } | { skip: { file: string; row: number; reason: string } } | { error: string };

async function readTs(files: string[], columns: C.ColumnMap = {}): Promise<Line[]> {
  const out: Line[] = [];
  try {
    for await (const r of corpus.readRecords(files, { columns, onSkip: (s) => out.push({ skip: { file: s.file, row: s.row, reason: s.reason } }) })) {
      out.push({ id: r.id, text: r.text, group: r.group, title: r.title });
    }
  } catch (e) {
    out.push({ error: (e as Error).message });
  }
  return out;
}

function readPython(files: string[], columns: C.ColumnMap = {}): Line[] {
  const run = spawnSync(paths.python, ["-m", "distill_runtime.corpus", "--columns", JSON.stringify(columns), ...files], { cwd: paths.root, encoding: "utf8", maxBuffer: 1 << 30 });
  if (run.status !== 0 && !run.stdout.includes('"error"')) throw new Error(`python reader crashed: ${run.stderr}`);
  return run.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Line);
}

/** Skip reasons from a JSON parser's message differ by language; the rest of every line must be equal. */
function comparable(lines: Line[]): unknown[] {
  return lines.map((l) => {
    if ("skip" in l) return { skip: { ...l.skip, reason: l.skip.reason.startsWith("invalid JSON") ? "invalid JSON" : l.skip.reason.replace(/ \(.*\)$/, l.skip.reason.includes("does not parse") ? " (…)" : "$&") } };
    if ("error" in l) return { error: true };
    // Compared as the UTF-8 every output file holds: a lone surrogate (JSON "\ud800") is U+FFFD there on both sides.
    const utf8 = (x: string) => Buffer.from(x, "utf8").toString("utf8");
    return { id: utf8(l.id), text: utf8(l.text), group: utf8(l.group), title: utf8(l.title) };
  });
}

async function assertSame(name: string, files: string[], columns: C.ColumnMap = {}): Promise<Line[]> {
  const ts = await readTs(files, columns);
  const py = readPython(files, columns);
  const failed = (lines: Line[]) => lines.some((l) => "error" in l);
  if (failed(ts) || failed(py)) {
    // What came out before the error depends on each side's chunking; that the read fails is what must agree.
    assert.deepEqual([failed(py), name], [failed(ts), name], `${name}: one reader failed and the other did not`);
    return ts;
  }
  // TS reports a skipped row as it meets it, before the records of its chunk come out: compare the records in order,
  // and the skipped rows in order, each on their own.
  for (const kind of ["records", "skipped"] as const) {
    const pick = (lines: Line[]) => comparable(lines.filter((l) => (kind === "records" ? "id" in l : "skip" in l)));
    const [a, b] = [pick(ts), pick(py)];
    for (let i = 0; i < Math.max(a.length, b.length); i++) assert.deepEqual(b[i], a[i], `${name}: ${kind} ${i} differs (TS first, Python second)`);
  }
  return ts;
}

function write(name: string, text: string | Buffer, gzip = false): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, gzip ? zlib.gzipSync(text) : text);
  return file;
}

const body = (ingredients: string, directions: string) => `## Ingredients\n\n${ingredients}\n\n## Directions\n\n${directions}`;

/** Rows that exercise every rule where JavaScript and Python differ, or where the record rules branch. */
function edgeRows(): unknown[] {
  const odd = ["\u00a0", "\ufeff", "\u2028", "\u0085", "\u001c", "\u3000", "\t", "\v", "\r"];
  return [
    { slug: "plain", collection: "c", title: "  Plain  ", body: body("- a\n- b", "1. Mix.\n2) Bake.") },
    { slug: "plain", collection: "c", title: "Same slug", body: body("- a", "1. Again.") },
    { slug: "plain", collection: "c", title: "Same slug again", body: body("- a", "1. Third.") },
    { slug: "no-collection", title: "Stem", body: body("* x", "+ y") },
    ...odd.map((ch, i) => ({ id: `ws-${i}`, title: `${ch}Title${ch}`, body: body(`- a${ch}${ch}b${ch}`, `1.${ch}Step ${ch} one${ch}\ncontinued${ch}`) })),
    ...odd.map((ch, i) => ({ id: `ws-list-${i}`, title: "Lists", ingredients: `${ch}line one${ch}\n${ch}\nline two\r\nline three${ch}`, directions: [`a${ch}`, null, 3, true] })),
    { id: 5, text: "numeric id" },
    { id: 5.5, text: "fraction id" },
    { id: 1e21, text: "big id" },
    { id: 12345678901234567890, text: "past 2^53" },
    { id: 0.000001, text: "small id" },
    { id: 1e-7, text: "tiny id" },
    { id: -0, text: "minus zero" },
    { id: true, text: "boolean id" },
    { id: "", slug: "empty-id", text: "empty id falls back to slug" },
    { id: "dup", text: "first" },
    { id: "dup", text: "second: a duplicate" },
    { id: "obj", text: { not: "text" } },
    { id: "list-title", title: ["a", "b"], text: "t" },
    { id: "obj-body", body: { a: 1 } },
    { id: "bad-array", ingredients: "[not json", directions: "x" },
    { id: "num-list", ingredients: 7 },
    { id: "nested", ingredients: [["a", "b"], { c: 1 }, 2.50, null], directions: "[\"json\", \"array\", 1e21]" },
    { id: "group-num", group: 12, text: "g" },
    { id: "source-title", source_title: "From a book", text: "s" },
    { id: "no-lists", body: "Just a story without headings.\n\nAnd more." },
    { id: "blank-text", text: " \u00a0 ", body: body("- from body", "- ok") },
    { id: "md", title: "[Link](/x) **bold** __u__", body: "Intro\n\n# Ingredients ##\n\n- [Pasta](/pasta) ![img](/i.png)\n- **Salt**  and  pepper\n    indented continuation\n\n### For the sauce\n- tomato\n#### Deeper:\n- basil\n\n## Method #\n\n1. Boil\nno blank line joins\n\n2. Drain\n\n## Notes\n- not a direction\n\n## Preparation\n- prep step\n## STEPS\r\n- crlf step\r\n- last\r" },
    { id: "md2", body: "## Ingredients\n-not an item\n-  two spaces\n   1. indented\n    1. four spaces\n10) ten\n- \u2028sep item\n#NoSpace heading\n####### seven\n## Instructions\n\t- tab item\n- ſteps ſ" },
    { id: "md3", body: "## INGREDIENTS\n- K\u212a kelvin\n## ſteps\n- long s heading is not a section\n## Directions\n- ok" },
    { id: "template", title: "{ingredients} {title}", body: body("- {directions}", "- $& $1 \\n") },
    { id: "emoji", title: "😀 \ud83d", text: "lone surrogate \ud800 and 😀" },
    { id: "cr", text: "line\r\nline\rline" },
  ];
}

test("Python reads the fixture formats as TS does: RecipeNLG CSV, a text-column CSV, Parquet, Arrow file and stream", async () => {
  await assertSame("recipenlg.csv", [path.join(fixtures, "recipenlg.csv")]);
  await assertSame("text-column.csv", [path.join(fixtures, "text-column.csv")], { group: "book" });
  await assertSame("recipes.parquet", [path.join(fixtures, "recipes.parquet")], { id: "recipe_id", group: "book" });
  await assertSame("recipes.parquet, unmapped", [path.join(fixtures, "recipes.parquet")]);
  const table = new Table({
    id: vectorFromArray(["x1", "x2", "x3"], new Utf8()),
    n: vectorFromArray([BigInt(1), BigInt(2), BigInt(3)], new Int64()),
    f: vectorFromArray([1.5, 2, 1e21], new Float64()),
    title: vectorFromArray(["Jam", "Toast", ""], new Utf8()),
    ingredients: vectorFromArray([["plums", "sugar"], ["bread"], []], new List(new Field("item", new Utf8(), true))),
    directions: vectorFromArray([["Boil."], ["Toast it."], []], new List(new Field("item", new Utf8(), true))),
  });
  for (const [name, format] of [["t.arrow", "file"], ["t.arrows", "stream"]] as const) {
    const file = write(name, Buffer.from(tableToIPC(table, format)));
    await assertSame(name, [file]);
    await assertSame(`${name} with numeric columns as id and group`, [file], { id: "n", group: "f" });
  }
});

test("Python reads edge cases as TS does: JS whitespace, numbers as ids, Markdown corners, duplicates, bad cells", async () => {
  const rows = edgeRows();
  const jsonl = rows.map((r) => JSON.stringify(r)).join("\n");
  const extra = ["", "   ", "\u00a0", "not json", "[1, 2]", '{"id": "nan", "text": NaN}', "\ufeff" + JSON.stringify({ id: "bom", text: "bom" }), JSON.stringify({ id: "crlf", text: "x" }) + "\r"];
  const file = write("edge.jsonl", jsonl + "\n" + extra.join("\n"));
  const lines = await assertSame("edge.jsonl", [file]);
  assert.ok(lines.filter((l) => "id" in l).length > 30, "most rows are records");
  assert.ok(lines.some((l) => "skip" in l && l.skip.reason.startsWith("duplicate id")), "a duplicate id is skipped");
  await assertSame("edge.jsonl.gz", [write("edge.jsonl.gz", jsonl, true)]);
  const csvText = "id,text,title,ingredients,directions\n" + (rows as Record<string, unknown>[]).filter((r) => typeof r.id === "string").map((r) =>
    ["id", "text", "title", "ingredients", "directions"].map((k) => {
      const v = r[k];
      const s = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
      return `"${s.replace(/"/g, '""')}"`;
    }).join(",")).join("\n") + "\n\n";
  await assertSame("edge.csv", [write("edge.csv", csvText.replace(/\ud83d"|\ud800/g, ""))]);
});

test("Python gives the same ids to files that share a name, and fails where TS fails", async () => {
  const a = write("a/recipes.jsonl", JSON.stringify({ text: "one" }) + "\n" + JSON.stringify({ slug: "s", text: "slug" }) + "\n");
  const b = write("b/recipes.jsonl", JSON.stringify({ text: "two" }) + "\n" + JSON.stringify({ slug: "s", text: "same slug, other file" }) + "\n");
  const c = write("c.jsonl", JSON.stringify({ text: "three" }) + "\n");
  await assertSame("shared names", [a, b, c]);
  await assertSame("a folder", [path.join(tmp, "a"), a]);
  await assertSame("every row bad", [write("bad.jsonl", "nope\n{}\n")]);
  await assertSame("empty file", [write("empty.jsonl", "")]);
  await assertSame("invalid UTF-8", [write("latin1.jsonl", Buffer.concat([Buffer.from('{"text": "fine"}\n'), Buffer.from('{"text": "cr\xe8me"}\n', "latin1")]))]);
  await assertSame("short CSV row", [write("short.csv", "id,text\n1,fine\n2\n")]);
  await assertSame("missing mapped column", [path.join(fixtures, "text-column.csv")], { text: "recipe_text" });
});

test("Python reads the shipped corpus as TS does: every file of data/recipes, byte for byte", async () => {
  const folders = [path.join(recipesDir, "open-recipe-archive", "english-original"), path.join(recipesDir, "open-recipe-archive", "translated"), path.join(recipesDir, "public-domain-recipes")];
  for (const folder of folders) {
    const lines = await assertSame(path.basename(folder), [folder]);
    assert.ok(lines.length > 100, `${folder}: ${lines.length} lines`);
  }
});
