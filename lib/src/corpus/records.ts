// Reading a corpus: files of any supported format (formats.ts) as a stream of records (id, text, group, title), as
// Arrow record batches (readCorpus) or plain objects (readRecords). Nothing here holds a whole corpus in memory: a
// format's reader yields rows a read at a time (lines for JSONL and CSV, row groups for Parquet, batches for Arrow
// IPC) and each row becomes a record here: its text from a text column, a Markdown body, or ingredient and
// direction lists rendered with the task's record_template.
import { hash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { RecordBatch, Utf8, vectorFromArray } from "apache-arrow";
import * as paths from "../paths";
import { loadTask, type Task } from "../task";
import { asList, asString, checkMappedColumns, defaultColumns, pick, type ColumnMap } from "./columns";
import { corpusFormat, fileStem, formatOf, isSupported, supportedExtensions } from "./formats";
import type { Format, RawRow } from "./reader";
import { parseRecipeMarkdown, renderRecord } from "./recipe";

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

/** A notebook's corpus parameter as readers take it: "default" is the shipped English recipes (defaultCorpus),
 *  anything else a file or folder. (A function, not `corpus === "default"` in a cell: TypeScript types an injected
 *  parameter as its literal and then rejects that comparison as always false.) */
export function corpusInput(corpus: string): string | string[] {
  return corpus === "default" ? defaultCorpus : corpus;
}

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

/** Expand the caller's paths (relative to the project root; a folder means every supported file in it). */
function corpusFiles(input: string | string[]): string[] {
  const list = typeof input === "string" ? [input] : input;
  if (list.length === 0) throw new Error("No corpus files given (an empty list).");
  const files: string[] = [];
  for (const p of list) {
    const file = paths.resolve(p);
    if (!fs.existsSync(file)) throw new Error(`Corpus file not found: ${file}${path.isAbsolute(p) ? "" : ` (relative paths are taken from the project root ${paths.root})`}.`);
    if (fs.statSync(file).isDirectory()) {
      const inside = fs.readdirSync(file).filter((f) => isSupported(f)).sort();
      if (inside.length === 0) throw new Error(`Corpus folder ${file} holds no supported files (${supportedExtensions.join(", ")}).`);
      files.push(...inside.map((f) => path.join(file, f)));
    } else {
      files.push(file);
    }
  }
  return files;
}

export function resolveTask(task: Task | string | undefined): Task {
  return typeof task === "object" ? task : loadTask(task);
}

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
  const fileFormats = files.map((f) => corpusFormat(opts.format ?? formatOf(f))); // fail on an unknown extension before reading anything
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
    const format = fileFormats[i];
    const blocks = format.read(file, { wanted, columns });
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
      const where = format.unit;
      const examples = skippedHere.map((s) => `${where} ${s.row}: ${s.reason}`).join("; ");
      throw new Error(`Corpus file ${file}: none of its ${skippedCount} rows could be used (${examples}).`);
    }
    if (skippedCount > 0 && !opts.onSkip) {
      const where = format.unit;
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

/** The same stream as plain objects (without the round trip through Arrow). */
export async function* readRecords(input: string | string[], opts: ReadOptions = {}): AsyncGenerator<CorpusRecord> {
  // Small chunks: records reach the caller while they are young, so the garbage collector need not copy them (with
  // 4096 at a time, reading the shipped corpus took half as long again).
  for await (const chunk of recordChunks(input, opts, 256)) yield* chunk;
}
