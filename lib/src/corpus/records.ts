// Reading a corpus: files of any supported format (formats.ts) as a stream of records (id, text, group, title), as
// Arrow record batches (readCorpus) or plain objects (readRecords). Nothing here holds a whole corpus in memory: a
// format's reader yields rows a read at a time (lines for JSONL and CSV, row groups for Parquet, batches for Arrow
// IPC) and each row becomes a record here: its text from a text column, a Markdown body, or ingredient and
// direction lists rendered with the task's record_template.
import * as fs from "node:fs";
import * as path from "node:path";
import { RecordBatch, Utf8, vectorFromArray } from "apache-arrow";
import * as paths from "../paths";
import { loadTask, type Task } from "../task";
import { asList, asString, asText, checkMappedColumns, defaultColumns, pick, type ColumnMap } from "./columns";
import { corpusFormat, fileStem, formatOf, isSupported, supportedExtensions } from "./formats";
import { fileLabels, IdRegistry } from "./ids";
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
  /** Set when the row was skipped because an earlier row has its id (the first one is kept). */
  duplicateId?: boolean;
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
  const add = (f: string) => {
    if (!files.includes(f)) files.push(f); // a file named twice (or a folder and a file in it) is read once
  };
  for (const p of list) {
    const file = paths.resolve(p);
    if (!fs.existsSync(file)) throw new Error(`Corpus file not found: ${file}${path.isAbsolute(p) ? "" : ` (relative paths are taken from the project root ${paths.root})`}.`);
    if (fs.statSync(file).isDirectory()) {
      const inside = fs.readdirSync(file).filter((f) => isSupported(f)).sort();
      if (inside.length === 0) throw new Error(`Corpus folder ${file} holds no supported files (${supportedExtensions.join(", ")}).`);
      for (const f of inside) add(path.join(file, f));
    } else {
      add(file);
    }
  }
  return files;
}

export function resolveTask(task: Task | string | undefined): Task {
  return typeof task === "object" ? task : loadTask(task);
}

interface FileContext {
  file: string;
  /** How ids name the file (ids.ts): its name, or its path from the common folder when another file shares the name. */
  label: string;
  /** The label without the corpus extension: the default group, and the slug ids' prefix without a collection. */
  stem: string;
  columns: ColumnMap;
  task: Task;
  ids: IdRegistry;
}

type Skip = { skip: string; duplicateId?: boolean };

function toRecord(raw: RawRow, ctx: FileContext): CorpusRecord | Skip {
  const { values } = raw;
  const c = ctx.columns;
  const column = (key: keyof ColumnMap) => `column "${c[key] ?? key}"`;
  const title = asText(pick(values, "title", c), column("title"));
  if (typeof title === "object") return { skip: title.error };
  let text = asText(pick(values, "text", c), column("text"));
  if (typeof text === "object") return { skip: text.error };
  if (text === undefined || text.trim() === "") {
    const body = asText(pick(values, "body", c), column("body"));
    if (typeof body === "object") return { skip: `${body.error} (a Markdown body with Ingredients and Directions headings)` };
    if (body !== undefined && body.trim() !== "") {
      const parts = parseRecipeMarkdown(body);
      if (parts.ingredients.length === 0 && parts.directions.length === 0) return { skip: "body has no list under an Ingredients or Directions heading" };
      text = renderRecord(ctx.task, { title: title?.trim() ?? "", ...parts });
    } else {
      const ingredients = asList(pick(values, "ingredients", c), `column ${c.ingredients ?? "ingredients"}`);
      const directions = asList(pick(values, "directions", c), `column ${c.directions ?? "directions"}`);
      if ("error" in ingredients) return { skip: ingredients.error };
      if ("error" in directions) return { skip: directions.error };
      if (ingredients.length === 0 && directions.length === 0) {
        const textName = c.text ?? "text";
        return { skip: `no text: needs a non-empty "${textName}" column, a Markdown "${c.body ?? "body"}", or "${c.ingredients ?? "ingredients"}"/"${c.directions ?? "directions"}" lists` };
      }
      text = renderRecord(ctx.task, { title: title?.trim() ?? "", ingredients, directions });
    }
  }
  const explicit = asText(pick(values, "id", c), column("id"));
  if (typeof explicit === "object") return { skip: explicit.error };
  const group = asText(pick(values, "group", c), column("group"));
  if (typeof group === "object") return { skip: group.error };
  const assigned = ctx.ids.assign({
    explicit: explicit === "" ? undefined : explicit,
    slug: asString(values.slug),
    collection: asString(values.collection),
    label: ctx.label,
    stem: ctx.stem,
    row: raw.row,
  });
  if ("duplicate" in assigned) {
    return { skip: `duplicate id ${JSON.stringify(assigned.duplicate)}: an earlier row has it (ids must be unique; the first row is kept)`, duplicateId: true };
  }
  return { id: assigned.id, text, group: group || ctx.stem, title: title?.trim() ?? "" };
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

  const labels = fileLabels(files);
  const ids = new IdRegistry(); // one for the whole read: ids are unique across files

  let pending: CorpusRecord[] = [];
  for (const [i, file] of files.entries()) {
    if (fs.statSync(file).size === 0) throw new Error(`Corpus file ${file} is empty.`);
    const skippedHere: SkippedRow[] = [];
    let skippedCount = 0;
    const skip = (row: number, reason: string, duplicateId?: boolean) => {
      const s: SkippedRow = { file, row, reason, ...(duplicateId ? { duplicateId } : {}) };
      if (skippedHere.length < 5) skippedHere.push(s);
      skippedCount++;
      opts.onSkip?.(s);
    };
    let good = 0;
    const label = labels.get(file)!;
    const stem = label.slice(0, label.length - (path.basename(file).length - fileStem(file).length));
    const ctx: FileContext = { file, label, stem, columns, task, ids };
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
          skip(raw.row, rec.skip, rec.duplicateId);
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
