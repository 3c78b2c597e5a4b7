// The labels-file provider ("labels"): a teacher whose answers come from a file of {id, labels}: a user's own human
// labels, an earlier export, or the project's reference labels (data/reference-labels/labels.jsonl). It goes through
// labelRecords like every teacher (validation against the task, the answer store, the dataset files, progress) at
// cost 0, so users who already have labels skip paid labeling.
//
// The file: JSONL, CSV or Parquet (read by the corpus readers), one row per id, the labels either in a `labels`
// column (an object, or its JSON text in CSV) or one column per task field (CSV cells "true"/"false", numbers as
// digits). Other columns (text, title, group, unsure, ...) are ignored and named in the run's notes.
// What can go wrong, and what happens:
//   a row without an id, an unreadable row, an id twice  -> an error naming the lines, before anything is labeled
//                                                            (one label per id: which of two would be right?)
//   a record of the sample with no row in the file       -> that record fails: "no label in <file>"; the notes count
//                                                            them and name the first
//   a row for a record not in the sample                 -> not used; the notes count them
//   a wrongly typed label, a missing or unknown field    -> that record fails with the file's line and the field
// The request (the store's key) holds the record's id and its labels as the file has them, so a rerun is served
// from the store, and an edited label is a new answer, never a stale one.
import * as fs from "node:fs";
import * as path from "node:path";
import { corpusFormat, formatOf } from "../corpus";
import * as paths from "../paths";
import { parseLabels, type Task } from "../task";
import { RequestFailure, type Provider, type Settings } from "./teacher";

/** One row of a labels file: its line (text formats) or 1-based row (Parquet), and the labels as found there. */
export interface LabelsRow {
  row: number;
  labels: unknown;
}

export interface LabelsFile {
  /** The path as results show it: relative to the project root when inside it, else the file name. */
  name: string;
  byId: Map<string, LabelsRow>;
  /** "line" for JSONL and CSV, "row" for Parquet: what LabelsRow.row counts. */
  unit: "line" | "row";
  /** Columns that are neither the id, the labels nor a field of the task (not used). */
  ignoredColumns: string[];
}

/** A file's path as a result or an error message shows it (no machine path outside the project). */
export function displayPath(file: string): string {
  const abs = paths.resolve(file);
  const rel = path.relative(paths.root, abs);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : path.basename(abs);
}

// Meta columns a labels file may carry (the reference has all of them) that are not worth a note.
const knownColumns = new Set(["id", "labels", "text", "title", "group", "unsure"]);

/** CSV cells are text: "true"/"false" become booleans and digits integers for the fields of those types; anything
 *  else stays text, so the task's validator names the field and the value. An empty cell is a missing value. */
function fromCsvCell(type: string, cell: unknown): unknown {
  if (typeof cell !== "string") return cell;
  const s = cell.trim();
  if (s === "") return undefined;
  if (type === "boolean" && /^(true|false)$/i.test(s)) return s.toLowerCase() === "true";
  if (type === "integer" && /^-?\d+$/.test(s)) return Number(s);
  return cell;
}

function listLines(rows: number[], unit: string): string {
  return `${unit}s ${rows.slice(0, 5).join(", ")}${rows.length > 5 ? ` and ${rows.length - 5} more` : ""}`;
}

/** Read and check a labels file: every row has an id, no id twice; labels are checked per record later. */
export async function readLabelsFile(task: Task, file: string): Promise<LabelsFile> {
  const abs = paths.resolve(file);
  const name = displayPath(file);
  if (!fs.existsSync(abs)) throw new Error(`Labels file not found: ${abs}${path.isAbsolute(file) ? "" : ` (relative paths are taken from the project root ${paths.root})`}.`);
  const format = corpusFormat(formatOf(abs));
  const fieldNames = task.fields.map((f) => f.name);
  const wanted = new Set(["id", "labels", ...fieldNames]);
  const byId = new Map<string, LabelsRow>();
  const rowsOf = new Map<string, number[]>();
  const problems: string[] = [];
  const ignored = new Set<string>();
  let mode: "labels" | "fields" | null = null;
  for await (const block of format.read(abs, { wanted, columns: {} })) {
    for (const raw of block) {
      const where = `${format.unit} ${raw.row}`;
      if (raw.skip !== undefined) {
        problems.push(`${where}: ${raw.skip}`);
        continue;
      }
      const v = raw.values;
      if (mode === null) {
        mode = "labels" in v ? "labels" : fieldNames.some((f) => f in v) ? "fields" : null;
        if (mode === null) throw new Error(`Labels file ${name} has neither a "labels" column nor a column named after a field of task "${task.name}" (${fieldNames.join(", ")}). Its columns: ${Object.keys(v).join(", ")}.`);
      }
      const id = typeof v.id === "number" ? String(v.id) : v.id;
      if (typeof id !== "string" || id.trim() === "") {
        problems.push(`${where}: no "id" (a non-empty string)`);
        continue;
      }
      for (const k of Object.keys(v)) if (!knownColumns.has(k) && !fieldNames.includes(k)) ignored.add(k);
      let labels: unknown;
      if (mode === "labels") {
        labels = v.labels;
        if (typeof labels === "string") {
          try {
            labels = JSON.parse(labels);
          } catch (e) {
            problems.push(`${where}: the "labels" column is not JSON (${(e as Error).message})`);
            continue;
          }
        }
      } else {
        const fromCells: Record<string, unknown> = {};
        for (const f of task.fields) {
          const cell = format.name === "csv" ? fromCsvCell(f.type, v[f.name]) : v[f.name];
          if (cell !== undefined && cell !== null) fromCells[f.name] = cell;
        }
        labels = fromCells;
      }
      rowsOf.set(id, [...(rowsOf.get(id) ?? []), raw.row]);
      if (!byId.has(id)) byId.set(id, { row: raw.row, labels });
    }
  }
  const duplicates = [...rowsOf].filter(([, rows]) => rows.length > 1);
  if (duplicates.length > 0) {
    const shown = duplicates.slice(0, 5).map(([id, rows]) => `${JSON.stringify(id)} (${listLines(rows, format.unit)})`);
    problems.push(`${duplicates.length} id(s) appear more than once: ${shown.join(", ")}${duplicates.length > 5 ? ` and ${duplicates.length - 5} more` : ""}; keep one row per id`);
  }
  if (problems.length > 0) {
    throw new Error(`Labels file ${name} cannot be used:\n  - ${problems.slice(0, 10).join("\n  - ")}${problems.length > 10 ? `\n  - and ${problems.length - 10} more problems` : ""}`);
  }
  if (byId.size === 0) throw new Error(`Labels file ${name} has no rows.`);
  return { name, byId, unit: format.unit, ignoredColumns: [...ignored].sort() };
}

/** The request for one record: everything that determines the answer (the file's labels for its id). */
export function fileRequest(labels: LabelsFile, id: string): Record<string, unknown> {
  const row = labels.byId.get(id);
  return { provider: "labels", model: `labels:${labels.name}`, id, labels: row ? row.labels : null };
}

export async function fileProvider(task: Task, s: Settings): Promise<Provider> {
  const labels = await readLabelsFile(task, s.model);
  const asked = new Set<string>();
  const missing: string[] = [];
  return {
    model: `labels:${labels.name}`,
    answersAreFinal: true,
    request(_text, id) {
      if (!asked.has(id)) {
        asked.add(id);
        if (!labels.byId.has(id)) missing.push(id);
      }
      return fileRequest(labels, id);
    },
    cost: () => 0,
    costBounds: () => ({ expectedUsd: 0, worstUsd: 0 }),
    async send(request) {
      const { id, labels: found } = request as { id: string; labels: unknown };
      const row = labels.byId.get(id);
      if (!row) throw new RequestFailure(`no label in ${labels.name}`, 0);
      const usage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 };
      const response = { id, labels: found, [labels.unit]: row.row };
      const parsed = parseLabels(task, found);
      if (!parsed.ok) return { answer: { response, text: null, problem: `${labels.name} ${labels.unit} ${row.row}: ${parsed.error}`, usage }, attempts: 0, unanswered: 0 };
      return { answer: { response, text: JSON.stringify(parsed.labels), usage }, attempts: 0, unanswered: 0 };
    },
    notes() {
      const notes: string[] = [];
      const used = [...asked].filter((id) => labels.byId.has(id)).length;
      notes.push(`${labels.name}: ${labels.byId.size} labeled records; ${used} of the ${asked.size} records asked for are among them.`);
      if (missing.length > 0) {
        const shown = missing.slice(0, 5).map((id) => JSON.stringify(id)).join(", ");
        notes.push(`${missing.length} record(s) have no label in ${labels.name} and are marked failed: ${shown}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}.`);
      }
      const extra = labels.byId.size - used;
      if (extra > 0) notes.push(`${extra} label(s) in ${labels.name} are for records not asked for here (not used).`);
      if (labels.ignoredColumns.length > 0) notes.push(`Columns of ${labels.name} not used: ${labels.ignoredColumns.join(", ")}.`);
      return notes;
    },
  };
}
