// The corpus: read recipe files of any supported format as a stream of Arrow record batches (id, text, group, title),
// render each recipe as text with the task's record template, sample a deterministic subset, drop duplicates, and
// split train/test. Nothing here holds a whole corpus in memory: files are read line by line (JSONL, CSV), row group
// by row group (Parquet) or batch by batch (Arrow IPC), and sampling keeps only the n records it will return.
import { createHash, hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable, pipeline } from "node:stream";
import { isUtf8 } from "node:buffer";
import * as zlib from "node:zlib";
import { RecordBatch, RecordBatchReader, Utf8, vectorFromArray } from "apache-arrow";
import { parse as parseCsv } from "csv-parse";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import * as paths from "./paths";
import { loadTask, type Task } from "./task";

export interface CorpusRecord {
  id: string;
  text: string;
  /** What to hold out together when testing generalisation: the source book for the shipped corpus. */
  group: string;
  title: string;
}

const englishOriginalDir = path.join(paths.dataDir, "recipes", "open-recipe-archive", "english-original");

/** The 12 english-original files of the Open Recipe Archive (19,491 recipes written in English, 1796-1919). */
export const defaultCorpus: string[] = fs.existsSync(englishOriginalDir)
  ? fs.readdirSync(englishOriginalDir).filter((f) => f.endsWith(".jsonl.gz")).sort().map((f) => path.join(englishOriginalDir, f))
  : [];

export type Format = "jsonl" | "csv" | "parquet" | "arrow";

/** Which column of a user's file holds each part. Unset parts are looked up under the default names below. */
export interface ColumnMap {
  id?: string;
  text?: string;
  group?: string;
  title?: string;
  ingredients?: string;
  directions?: string;
  /** Markdown with "## Ingredients" and "## Directions" sections (the shipped corpus). */
  body?: string;
}

const defaultColumns: Record<keyof ColumnMap, string[]> = {
  id: ["id"],
  text: ["text"],
  group: ["group", "source_title"],
  title: ["title", "name"],
  ingredients: ["ingredients"],
  directions: ["directions", "instructions", "steps"],
  body: ["body"],
};

/** A row that could not become a record. `row` is the line number for JSONL and CSV, the 1-based row index otherwise. */
export interface SkippedRow {
  file: string;
  row: number;
  reason: string;
}

export interface ReadOptions {
  /** Rows per yielded batch (default 4096). */
  batchSize?: number;
  /** Overrides detection from the file extension. */
  format?: Format;
  columns?: ColumnMap;
  /** The task whose record_template renders ingredients/directions as text (default: the "recipes" task). */
  task?: Task | string;
  /** Called for each row that is skipped. Without it, readCorpus prints one warning per file that had skipped rows. */
  onSkip?: (skipped: SkippedRow) => void;
}

const extensions: [string, Format][] = [
  [".jsonl.gz", "jsonl"],
  [".jsonl", "jsonl"],
  [".ndjson.gz", "jsonl"],
  [".ndjson", "jsonl"],
  [".csv.gz", "csv"],
  [".csv", "csv"],
  [".parquet", "parquet"],
  [".arrow", "arrow"],
  [".arrows", "arrow"],
  [".feather", "arrow"],
  [".ipc", "arrow"],
];

export function formatOf(file: string): Format {
  const lower = file.toLowerCase();
  const hit = extensions.find(([ext]) => lower.endsWith(ext));
  if (!hit) {
    throw new Error(`Unsupported corpus file ${file}: supported extensions are ${extensions.map(([e]) => e).join(", ")} (or pass format: "jsonl" | "csv" | "parquet" | "arrow").`);
  }
  return hit[1];
}

/** Expand the caller's paths (relative to the project root; a folder means every supported file in it). */
function corpusFiles(input: string | string[]): string[] {
  const list = typeof input === "string" ? [input] : input;
  if (list.length === 0) throw new Error("No corpus files given (an empty list).");
  const files: string[] = [];
  for (const p of list) {
    const file = paths.resolve(p);
    if (!fs.existsSync(file)) throw new Error(`Corpus file not found: ${file}${path.isAbsolute(p) ? "" : ` (relative paths are taken from the project root ${paths.root})`}.`);
    if (fs.statSync(file).isDirectory()) {
      const inside = fs.readdirSync(file).filter((f) => extensions.some(([ext]) => f.toLowerCase().endsWith(ext))).sort();
      if (inside.length === 0) throw new Error(`Corpus folder ${file} holds no supported files (${extensions.map(([e]) => e).join(", ")}).`);
      files.push(...inside.map((f) => path.join(file, f)));
    } else {
      files.push(file);
    }
  }
  return files;
}

function resolveTask(task: Task | string | undefined): Task {
  return typeof task === "object" ? task : loadTask(task);
}

// ---------------------------------------------------------------------------------------------------------------
// Recipe text. This runs once per row of corpora with millions of rows, so it avoids work per line where it can:
// each shortcut below gives exactly what the plain rule in its comment gives.

const linkOrBold = (s: string) => s.includes("](") || s.includes("**") || s.includes("__");
/** Whitespace other than a plain space; with "  " this is /\s\s|[^\S ]/: what plainText must collapse. */
const oddWhitespace = /[^\S ]/;

/** A Markdown line without links, images and bold/underline markers: "[Pasta](/pasta)" -> "Pasta". */
function plainText(line: string): string {
  let s = line;
  if (s.includes("](")) s = s.replace(/!\[[^\]]*\]\([^)]*\)/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  if (s.includes("**") || s.includes("__")) s = s.replace(/\*\*|__/g, "");
  return oddWhitespace.test(s) || s.includes("  ") ? s.replace(/\s+/g, " ").trim() : s.trim();
}

const headingPattern = /^(#{1,6})\s+(.*?)[\s#]*$/;
const itemPattern = /^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$/;
/** itemPattern without its `(.*)$`, anchored by the sticky flag: where the item's text starts. */
const itemPrefix = /\s{0,3}(?:[-*+]|\d+[.)])\s+/y;
const nonBlank = /\S/;
/** A body without any of these has only "\n" and single spaces for whitespace (the shipped corpus, every row). */
const bodyOddWhitespace = /[^\S \n]/;

/**
 * Ingredients and directions from a recipe's Markdown body. Items are the list entries ("- x", "* x", "1. x") and
 * paragraphs under a heading that mentions ingredients, or directions/instructions/method/steps/preparation;
 * a line that continues an item (indented, or with no blank line before it) joins it; a sub-heading inside a section
 * ("### For the sauce") becomes an item "For the sauce:". Everything else (intro, emoji time lines, notes) is left out.
 */
export function parseRecipeMarkdown(body: string): { ingredients: string[]; directions: string[] } {
  const out = { ingredients: [] as string[], directions: [] as string[] };
  // With only "\n" and single spaces for whitespace, no line has "\r" or a line terminator inside it, a blank line
  // is "" or " ", `(.*)$` of itemPattern always matches, and plainText only trims unless there is markup.
  const simple = !bodyOddWhitespace.test(body) && !body.includes("  ");
  const markup = linkOrBold(body); // else no line has any
  let list: string[] | null = null; // where items go; null outside the two sections
  let sectionLevel = 0;
  let open = false; // the last item may take continuation lines
  const lines = body.split("\n"); // and a "\r" before the "\n" is dropped below: body.split(/\r?\n/)
  const lastIndex = lines.length - 1;
  for (let i = 0; i <= lastIndex; i++) {
    let line = lines[i];
    if (!simple && i < lastIndex && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    const heading = line.charCodeAt(0) === 35 ? headingPattern.exec(line) : null; // 35: "#"
    if (heading) {
      const level = heading[1].length;
      const name = plainText(heading[2]);
      if (list !== null && level > sectionLevel) {
        if (name) list.push(name.endsWith(":") ? name : `${name}:`);
      } else {
        sectionLevel = level;
        list = /ingredient/i.test(name) ? out.ingredients : /direction|instruction|method|steps|preparation/i.test(name) ? out.directions : null;
      }
      open = false;
      continue;
    }
    if (list === null) continue;
    if (simple ? line.length === 0 || line === " " : !nonBlank.test(line)) {
      open = false;
      continue;
    }
    let item: string | null;
    let text: string;
    if (simple) {
      itemPrefix.lastIndex = 0;
      item = itemPrefix.test(line) ? line.slice(itemPrefix.lastIndex) : null;
      const raw = item ?? line;
      text = markup && linkOrBold(raw) ? plainText(raw) : raw.trim();
    } else {
      item = itemPattern.exec(line)?.[1] ?? null;
      text = plainText(item ?? line);
    }
    if (!text) continue;
    if (item === null && open && list.length > 0) list[list.length - 1] += ` ${text}`;
    else list.push(text);
    open = true;
  }
  return out;
}

/** "- " bullets, one item a line (newlines inside an item become spaces); empty items are left out. */
function bullets(items: string[]): string {
  let out = "";
  for (const item of items) {
    const s = (item.includes("\n") ? item.replace(/\s*\n\s*/g, " ") : item).trim();
    if (s.length > 0) out += out.length === 0 ? `- ${s}` : `\n- ${s}`;
  }
  return out;
}

/** The task's record_template filled with the title and "- " bullet lists (one pass, so braces in values stay). */
export function renderRecord(task: Task, parts: { title: string; ingredients: string[]; directions: string[] }): string {
  const values: Record<string, string> = { title: parts.title.trim(), ingredients: bullets(parts.ingredients), directions: bullets(parts.directions) };
  return task.recordTemplate.replace(/\{(title|ingredients|directions)\}/g, (_, key: string) => values[key]);
}

// ---------------------------------------------------------------------------------------------------------------
// Raw rows of each format: { row, values } with values keyed by the file's column names, in arrays (as many rows as
// one read gives) so that a corpus of millions of rows costs one await per array, not one per row.

interface RawRow {
  row: number;
  values: Record<string, unknown>;
  /** Set when the row cannot be used at all (e.g. a line that is not JSON): why. */
  skip?: string;
}

/** True if the file starts with the gzip magic bytes (so ".jsonl" that is really gzipped still reads). */
function isGzip(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(2);
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

const readChunkBytes = 1 << 18;

/**
 * Lines of a (possibly gzipped) text file, each checked to be valid UTF-8, a read's worth at a time; lineNo is the
 * 1-based number of lines[0]. A line is what is between two "\n" bytes, less one trailing "\r" and one leading BOM
 * (as a fresh TextDecoder gives each line). Invalid UTF-8 throws naming its line, after the lines before it.
 */
async function* textLineBlocks(file: string): AsyncGenerator<{ lines: string[]; lineNo: number }> {
  const source = fs.createReadStream(file, { highWaterMark: readChunkBytes });
  let stream: NodeJS.ReadableStream = source;
  if (isGzip(file)) {
    const gunzip = zlib.createGunzip({ chunkSize: readChunkBytes });
    stream = pipeline(source, gunzip, () => {}); // an error destroys gunzip, which ends the loop below with it
  }
  let lineNo = 1; // of the next line
  let pending: Buffer[] = []; // the start of a line whose "\n" has not come yet
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lastNewline = chunk.lastIndexOf(10);
      if (lastNewline === -1) {
        if (chunk.length > 0) pending.push(chunk);
        continue;
      }
      pending.push(chunk.subarray(0, lastNewline));
      const block = pending.length === 1 ? pending[0] : Buffer.concat(pending);
      pending = lastNewline + 1 < chunk.length ? [chunk.subarray(lastNewline + 1)] : [];
      const lines = decodeLines(block, lineNo);
      if (lines.length > 0) yield { lines, lineNo };
      lineNo += lines.length;
      if (lines.invalidAt !== undefined) throw invalidUtf8(file, lines.invalidAt);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code?.startsWith("Z_")) throw new Error(`${file}: not a valid gzip file (${err.message}).`);
    throw e;
  } finally {
    source.destroy();
  }
  if (pending.length > 0) {
    const lines = decodeLines(Buffer.concat(pending), lineNo);
    if (lines.length > 0) yield { lines, lineNo };
    if (lines.invalidAt !== undefined) throw invalidUtf8(file, lines.invalidAt);
  }
}

function invalidUtf8(file: string, lineNo: number): Error {
  return new Error(`${file}, line ${lineNo}: invalid UTF-8. Corpus files must be UTF-8 encoded (re-save the file as UTF-8).`);
}

/** The "\n"-separated lines of block (lineNo: the first one's number). When a line is not valid UTF-8, the lines
 *  before it, with invalidAt set to its number. Each line is decoded on its own, so one non-Latin-1 character
 *  makes only its own line a two-byte string. */
function decodeLines(block: Buffer, lineNo: number): string[] & { invalidAt?: number } {
  const valid = isUtf8(block); // one check for the whole block; line by line only to find a bad line
  const decoder = valid ? null : new TextDecoder("utf-8", { fatal: true });
  const lines: string[] & { invalidAt?: number } = [];
  for (let start = 0; ; ) {
    const nl = block.indexOf(10, start);
    const end = nl === -1 ? block.length : nl;
    let line: string;
    if (decoder === null) {
      line = block.toString("utf8", start, end);
    } else {
      try {
        line = decoder.decode(block.subarray(start, end));
      } catch {
        lines.invalidAt = lineNo + lines.length;
        return lines;
      }
    }
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    lines.push(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line);
    if (nl === -1) return lines;
    start = nl + 1;
  }
}

async function* jsonlRows(file: string): AsyncGenerator<RawRow[]> {
  for await (const { lines, lineNo } of textLineBlocks(file)) {
    const rows: RawRow[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const row = lineNo + i;
      // A JSON object line starts with "{", which spares the trim of every line.
      if (line.charCodeAt(0) !== 123 && line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        rows.push({ row, values: {}, skip: `invalid JSON (${(e as Error).message})` });
        continue;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        rows.push({ row, values: {}, skip: "not a JSON object" });
        continue;
      }
      rows.push({ row, values: value as Record<string, unknown> });
    }
    if (rows.length > 0) yield rows;
  }
}

async function* csvRows(file: string): AsyncGenerator<RawRow[]> {
  // The text goes through textLineBlocks first, so invalid UTF-8 is reported with its line like for JSONL.
  const parser = parseCsv({ columns: true, bom: true, skip_empty_lines: true, info: true });
  const text = Readable.from((async function* () {
    for await (const { lines } of textLineBlocks(file)) yield lines.join("\n") + "\n";
  })());
  text.on("error", (e) => parser.destroy(e));
  text.pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
      yield [{ row: info.lines, values: record }];
    }
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(message.startsWith(file) ? message : `${file}: ${message}`);
  } finally {
    text.destroy();
  }
}

async function* parquetRows(file: string, wanted: Set<string>, mapped: ColumnMap): AsyncGenerator<RawRow[]> {
  const buffer = await asyncBufferFromFile(file);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new Error(`${file}: not a readable Parquet file (${(e as Error).message}).`);
  }
  // Read only the columns a record can use, one row group at a time.
  const all = parquetSchema(metadata).children.map((c) => c.element.name);
  checkMappedColumns(file, all, mapped);
  const columns = all.filter((name) => wanted.has(name));
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows = await parquetReadObjects({ file: buffer, metadata, columns, rowStart: start, rowEnd: end });
    const first = start;
    if (rows.length > 0) yield rows.map((values, i) => ({ row: first + i + 1, values }));
    start = end;
  }
}

async function* arrowRows(file: string): AsyncGenerator<RawRow[]> {
  const notArrow = (e: unknown) => new Error(`${file}: not a readable Arrow IPC file or stream (${(e as Error).message}).`);
  let reader;
  try {
    reader = await RecordBatchReader.from(fs.createReadStream(file));
  } catch (e) {
    throw notArrow(e);
  }
  const batches = reader[Symbol.asyncIterator]();
  let row = 0;
  for (;;) {
    let next;
    try {
      next = await batches.next();
    } catch (e) {
      throw notArrow(e);
    }
    if (next.done) return;
    const batch = next.value;
    const names = batch.schema.fields.map((f) => f.name);
    const vectors = names.map((n) => batch.getChild(n));
    const rows: RawRow[] = [];
    for (let i = 0; i < batch.numRows; i++) {
      const values: Record<string, unknown> = {};
      names.forEach((n, c) => (values[n] = vectors[c]?.get(i)));
      rows.push({ row: ++row, values });
    }
    if (rows.length > 0) yield rows;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Raw row -> CorpusRecord.

interface FileContext {
  file: string;
  stem: string;
  columns: ColumnMap;
  task: Task;
  slugIds: HashSet64;
}

/**
 * The ids made from slugs in one file, remembered as 64-bit hashes in one typed array (16 bytes a row at most, where
 * a Set of the strings costs ~100), so that a repeated slug can be noticed in a file of millions of rows.
 */
class HashSet64 {
  private table = new Uint32Array(2 * 1024); // (hi, lo) pairs; (0, 0) marks an empty slot
  private count = 0;

  /** Adds the key; false if it was there already. */
  add(key: string): boolean {
    const digest = hash("sha1", key, "buffer"); // one call: cheaper than createHash().update().digest() per row
    const hi = digest.readUInt32BE(0);
    const lo = digest.readUInt32BE(4) || 1; // never (0, 0)
    if (!this.insert(hi, lo)) return false;
    if (++this.count * 2 > this.table.length / 2) this.grow();
    return true;
  }

  private insert(hi: number, lo: number): boolean {
    const mask = this.table.length / 2 - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const h = this.table[2 * i];
      const l = this.table[2 * i + 1];
      if (h === 0 && l === 0) {
        this.table[2 * i] = hi;
        this.table[2 * i + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.insert(old[i], old[i + 1]);
  }
}

function fileStem(file: string): string {
  const base = path.basename(file);
  const ext = extensions.find(([e]) => base.toLowerCase().endsWith(e));
  return ext ? base.slice(0, -ext[0].length) : base;
}

function pick(values: Record<string, unknown>, key: keyof ColumnMap, columns: ColumnMap): unknown {
  const named = columns[key];
  if (named !== undefined) return values[named];
  for (const name of defaultColumns[key]) {
    const v = values[name];
    if (v !== undefined && v !== null && v !== "") return v;
  }
  return undefined;
}

function asString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : String(v);
}

/** A list of strings from an array, an Arrow list, a JSON-array string (RecipeNLG CSV) or newline-separated text. */
function asList(v: unknown, what: string): string[] | { error: string } {
  if (v === undefined || v === null) return [];
  if (typeof v === "string") {
    const s = v.trim();
    if (s.startsWith("[")) {
      try {
        v = JSON.parse(s);
      } catch (e) {
        return { error: `${what} looks like a JSON array but does not parse (${(e as Error).message})` };
      }
    } else {
      return s.split(/\r?\n/).map((x) => x.trim()).filter((x) => x.length > 0);
    }
  }
  if (typeof v === "object" && v !== null && Symbol.iterator in v) {
    return Array.from(v as Iterable<unknown>, (x) => (x === null || x === undefined ? "" : String(x)));
  }
  return { error: `${what} should be a list of strings, got ${typeof v}` };
}

function toRecord(raw: RawRow, ctx: FileContext): CorpusRecord | { skip: string } {
  const { values } = raw;
  const c = ctx.columns;
  const title = asString(pick(values, "title", c))?.trim() ?? "";
  let text = asString(pick(values, "text", c));
  if (text === undefined || text.trim() === "") {
    const body = asString(pick(values, "body", c));
    if (body !== undefined && body.trim() !== "") {
      const parts = parseRecipeMarkdown(body);
      if (parts.ingredients.length === 0 && parts.directions.length === 0) return { skip: "body has no list under an Ingredients or Directions heading" };
      text = renderRecord(ctx.task, { title, ...parts });
    } else {
      const ingredients = asList(pick(values, "ingredients", c), `column ${c.ingredients ?? "ingredients"}`);
      const directions = asList(pick(values, "directions", c), `column ${c.directions ?? "directions"}`);
      if ("error" in ingredients) return { skip: ingredients.error };
      if ("error" in directions) return { skip: directions.error };
      if (ingredients.length === 0 && directions.length === 0) {
        const textName = c.text ?? "text";
        return { skip: `no text: needs a non-empty "${textName}" column, a Markdown "${c.body ?? "body"}", or "${c.ingredients ?? "ingredients"}"/"${c.directions ?? "directions"}" lists` };
      }
      text = renderRecord(ctx.task, { title, ingredients, directions });
    }
  }
  let id = asString(pick(values, "id", c));
  if (id === undefined || id === "") {
    const slug = asString(values.slug);
    if (slug) {
      // Shipped corpus: <collection>/<slug>, with -2, -3 ... should a slug repeat inside a collection.
      const base = `${asString(values.collection) || ctx.stem}/${slug}`;
      id = base;
      for (let k = 2; !ctx.slugIds.add(id); k++) id = `${base}-${k}`;
    } else {
      id = `${path.basename(ctx.file)}#${raw.row}`;
    }
  }
  const group = asString(pick(values, "group", c)) || ctx.stem;
  return { id, text, group, title };
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming API.

function makeBatch(rows: CorpusRecord[]): RecordBatch {
  const column = (key: keyof CorpusRecord) => vectorFromArray(rows.map((r) => r[key]), new Utf8()).data[0];
  return new RecordBatch({ id: column("id"), text: column("text"), group: column("group"), title: column("title") });
}

/** Records in arrays of batchSize: the engine under readCorpus (Arrow batches) and readRecords (objects). */
async function* recordChunks(input: string | string[], opts: ReadOptions, maxChunk = Infinity): AsyncGenerator<CorpusRecord[]> {
  const batchSize = opts.batchSize ?? 4096;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  const chunkSize = Math.min(batchSize, maxChunk);
  const files = corpusFiles(input);
  const formats = files.map((f) => opts.format ?? formatOf(f)); // fail on an unknown extension before reading anything
  const task = resolveTask(opts.task);
  const columns = opts.columns ?? {};
  // Columns a record can use (Parquet reads only these).
  const wanted = new Set<string>(["slug", "collection", ...Object.values(defaultColumns).flat(), ...Object.values(columns).filter((v): v is string => v !== undefined)]);

  let pending: CorpusRecord[] = [];
  for (const [i, file] of files.entries()) {
    if (fs.statSync(file).size === 0) throw new Error(`Corpus file ${file} is empty.`);
    const skippedHere: SkippedRow[] = [];
    let skippedCount = 0;
    const skip = (row: number, reason: string) => {
      const s = { file, row, reason };
      if (skippedHere.length < 5) skippedHere.push(s);
      skippedCount++;
      opts.onSkip?.(s);
    };
    let good = 0;
    const ctx: FileContext = { file, stem: fileStem(file), columns, task, slugIds: new HashSet64() };
    const format = formats[i];
    const blocks = format === "jsonl" ? jsonlRows(file) : format === "csv" ? csvRows(file) : format === "parquet" ? parquetRows(file, wanted, columns) : arrowRows(file);
    let first = true;
    for await (const rows of blocks) {
      for (const raw of rows) {
        if (raw.skip !== undefined) {
          skip(raw.row, raw.skip);
          continue;
        }
        if (first) {
          first = false;
          checkMappedColumns(file, Object.keys(raw.values), columns);
        }
        const rec = toRecord(raw, ctx);
        if ("skip" in rec) {
          skip(raw.row, rec.skip);
          continue;
        }
        good++;
        pending.push(rec);
        if (pending.length >= chunkSize) {
          yield pending;
          pending = [];
        }
      }
    }
    if (good === 0) {
      if (skippedCount === 0) throw new Error(`Corpus file ${file} has no rows.`);
      const where = format === "jsonl" || format === "csv" ? "line" : "row";
      const examples = skippedHere.map((s) => `${where} ${s.row}: ${s.reason}`).join("; ");
      throw new Error(`Corpus file ${file}: none of its ${skippedCount} rows could be used (${examples}).`);
    }
    if (skippedCount > 0 && !opts.onSkip) {
      const where = format === "jsonl" || format === "csv" ? "line" : "row";
      console.warn(`readCorpus: skipped ${skippedCount} row(s) of ${file}, e.g. ${where} ${skippedHere[0].row}: ${skippedHere[0].reason}`);
    }
  }
  if (pending.length > 0) yield pending;
}

/**
 * Stream the corpus as Arrow record batches with string columns id, text, group, title, about batchSize rows each.
 * Rows that cannot become a record are skipped (see onSkip); a file whose every row is bad, an empty file, a file
 * with invalid UTF-8, a missing file or an unknown extension throws an error naming the file (and line).
 */
export async function* readCorpus(input: string | string[], opts: ReadOptions = {}): AsyncGenerator<RecordBatch> {
  for await (const chunk of recordChunks(input, opts)) yield makeBatch(chunk);
}

/** A column named in opts.columns must exist: say so with the file's real column names rather than skip every row. */
function checkMappedColumns(file: string, present: string[], columns: ColumnMap): void {
  for (const [part, name] of Object.entries(columns)) {
    if (name !== undefined && !present.includes(name)) {
      throw new Error(`Corpus file ${file} has no column "${name}" (given as columns.${part}). Its columns: ${present.join(", ")}.`);
    }
  }
}

/** The same stream as plain objects (without the round trip through Arrow). */
export async function* readRecords(input: string | string[], opts: ReadOptions = {}): AsyncGenerator<CorpusRecord> {
  // Small chunks: records reach the caller while they are young, so the garbage collector need not copy them (with
  // 4096 at a time, reading the shipped corpus took half as long again).
  for await (const chunk of recordChunks(input, opts, 256)) yield* chunk;
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling and dedupe.

/** Lower case, and every run of non-letters (punctuation, digits, symbols, whitespace) one space: "2 cups Flour," ~ "3 cups flour". */
export function normalizeForDedupe(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}]+/gu, " ")
    .trim();
}

/** A seeded position in [0, 2^48) for a key; the same for the same (seed, key) on any machine and in any order. */
function seededRank(seed: number, key: string): number {
  return createHash("sha1").update(`${seed}\u0000${key}`).digest().readUIntBE(0, 6);
}

interface Ranked {
  rank: number;
  record: CorpusRecord;
  truncated: boolean;
  key: string | null;
  heapIndex: number;
}

const before = (a: Ranked, b: Ranked) => a.rank < b.rank || (a.rank === b.rank && a.record.id < b.record.id);

/** Max-heap on (rank, id): the top is the record to drop first when a better one arrives. */
class MaxHeap {
  items: Ranked[] = [];
  get size() {
    return this.items.length;
  }
  top(): Ranked {
    return this.items[0];
  }
  push(x: Ranked) {
    x.heapIndex = this.items.length;
    this.items.push(x);
    this.up(x.heapIndex);
  }
  pop(): Ranked {
    const top = this.items[0];
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    return top;
  }
  /** Restore order after x's rank went down. */
  lowered(x: Ranked) {
    this.down(x.heapIndex);
  }
  private swap(i: number, j: number) {
    const a = this.items[i];
    const b = this.items[j];
    this.items[i] = b;
    this.items[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }
  private up(i: number) {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.items[parent], this.items[i])) return;
      this.swap(i, parent);
      i = parent;
    }
  }
  private down(i: number) {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let largest = i;
      if (l < this.items.length && before(this.items[largest], this.items[l])) largest = l;
      if (r < this.items.length && before(this.items[largest], this.items[r])) largest = r;
      if (largest === i) return;
      this.swap(i, largest);
      i = largest;
    }
  }
}

export interface SampleOptions {
  n: number;
  seed: number;
  /** Drop exact and near duplicates (same normalizeForDedupe text), keeping the one ranked first. Default true. */
  dedupe?: boolean;
  /** Cut longer texts to this many characters (default: task.student.maxInputTokens * 4). */
  maxChars?: number;
}

export interface SampleStats {
  /** Usable records read. */
  seen: number;
  /** Records dropped because a duplicate ranked before them was held at the time (duplicates met while sampling). */
  duplicates: number;
  /** Returned records whose text was cut to maxChars. */
  truncated: number;
  /** Skipped rows (the first 1000; skippedTotal counts them all). */
  skipped: SkippedRow[];
  skippedTotal: number;
}

const maxSkippedKept = 1000;

/**
 * n records chosen by seed, independent of file order: each record is ranked by a hash of (seed, id) and the n
 * lowest ranks are kept in a bounded heap (memory O(n)). With dedupe, records with the same normalised text count
 * once, as the lowest-ranked of them. The result comes sorted by rank.
 */
export async function sampleRecords(
  input: string | string[],
  opts: SampleOptions & ReadOptions,
): Promise<{ records: CorpusRecord[]; stats: SampleStats }> {
  const { n, seed } = opts;
  if (!Number.isInteger(n) || n < 1) throw new Error(`sampleRecords: n must be a positive integer, got ${n}.`);
  if (!Number.isFinite(seed)) throw new Error(`sampleRecords: seed must be a number, got ${seed}.`);
  const task = resolveTask(opts.task);
  const maxChars = opts.maxChars ?? task.student.maxInputTokens * 4;
  if (!Number.isInteger(maxChars) || maxChars < 1) throw new Error(`sampleRecords: maxChars must be a positive integer, got ${maxChars}.`);
  const dedupe = opts.dedupe ?? true;

  const heap = new MaxHeap();
  const byText = new Map<string, Ranked>(); // dedupe key -> the held record with that key
  const stats: SampleStats = { seen: 0, duplicates: 0, truncated: 0, skipped: [], skippedTotal: 0 };
  const onSkip = (s: SkippedRow) => {
    stats.skippedTotal++;
    if (stats.skipped.length < maxSkippedKept) stats.skipped.push(s);
    opts.onSkip?.(s);
  };

  const cut = (record: CorpusRecord): { record: CorpusRecord; truncated: boolean } => {
    if (record.text.length <= maxChars) return { record, truncated: false };
    let end = maxChars;
    const code = record.text.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--; // do not split a surrogate pair
    return { record: { ...record, text: record.text.slice(0, end) }, truncated: true };
  };

  for await (const record of readRecords(input, { ...opts, task, onSkip })) {
    stats.seen++;
    const candidate: Ranked = { rank: seededRank(seed, record.id), record, truncated: false, key: null, heapIndex: -1 };
    if (dedupe) {
      candidate.key = createHash("sha1").update(normalizeForDedupe(record.text)).digest("base64");
      const held = byText.get(candidate.key);
      if (held) {
        stats.duplicates++;
        if (before(candidate, held)) {
          Object.assign(held, { rank: candidate.rank, ...cut(record) });
          heap.lowered(held);
        }
        continue;
      }
    }
    if (heap.size === n) {
      if (!before(candidate, heap.top())) continue;
      const dropped = heap.pop();
      if (dropped.key !== null) byText.delete(dropped.key);
    }
    Object.assign(candidate, cut(record));
    heap.push(candidate);
    if (candidate.key !== null) byText.set(candidate.key, candidate);
  }

  const kept = heap.items.slice().sort((a, b) => (before(a, b) ? -1 : 1));
  stats.truncated = kept.filter((k) => k.truncated).length;
  if (stats.truncated > 0) {
    console.warn(`sampleRecords: ${stats.truncated} of ${kept.length} records were longer than ${maxChars} characters and were cut (maxChars).`);
  }
  return { records: kept.map((k) => k.record), stats };
}

// ---------------------------------------------------------------------------------------------------------------
// Train/test split.

export interface SplitOptions {
  testFraction: number;
  seed: number;
  /** Put whole groups (source books) in test, so the test set measures generalisation to unseen books. */
  holdOutGroups?: boolean;
}

/**
 * Deterministic split by seed; each side keeps the input order. Without holdOutGroups the round(testFraction * n)
 * records with the lowest seeded hash of their id go to test. With it, whole groups go to test: each group in
 * seeded-hash order is taken if that brings the test side closer to that size (so it lands near it, not far past).
 */
export function splitTrainTest<T extends { id: string; group: string }>(records: T[], opts: SplitOptions): { train: T[]; test: T[] } {
  const { testFraction, seed } = opts;
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`splitTrainTest: testFraction must be between 0 and 1 (exclusive), got ${testFraction}.`);
  if (records.length < 2) throw new Error(`splitTrainTest: need at least 2 records to split, got ${records.length}.`);
  const target = Math.min(records.length - 1, Math.max(1, Math.round(testFraction * records.length)));
  const inTest = new Set<T>();

  if (opts.holdOutGroups) {
    const sizes = new Map<string, number>();
    for (const r of records) sizes.set(r.group, (sizes.get(r.group) ?? 0) + 1);
    if (sizes.size < 2) throw new Error(`splitTrainTest: holdOutGroups needs at least 2 groups, but every record is in group "${records[0].group}".`);
    const order = [...sizes.keys()].map((g) => ({ g, rank: seededRank(seed, g) })).sort((a, b) => a.rank - b.rank || (a.g < b.g ? -1 : 1));
    // Take a group only if it brings the test side closer to the target, and never the whole data set.
    const testGroups = new Set<string>();
    let count = 0;
    for (const { g } of order) {
      const size = sizes.get(g)!;
      if (count + size - target > target - count || count + size >= records.length) continue;
      testGroups.add(g);
      count += size;
    }
    if (testGroups.size === 0) testGroups.add([...sizes].sort((a, b) => a[1] - b[1])[0][0]); // every group was too big: the smallest
    for (const r of records) if (testGroups.has(r.group)) inTest.add(r);
  } else {
    const order = records.map((r) => ({ r, rank: seededRank(seed, r.id) })).sort((a, b) => a.rank - b.rank || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0));
    for (const { r } of order.slice(0, target)) inTest.add(r);
  }
  return { train: records.filter((r) => !inTest.has(r)), test: records.filter((r) => inTest.has(r)) };
}
