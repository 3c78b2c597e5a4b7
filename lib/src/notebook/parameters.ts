// A notebook's parameters, papermill's way for a TypeScript kernel: the cell tagged `parameters` declares them
// (`const name = <JSON literal>;`), and the runner inserts a cell tagged `injected-parameters` after it with the given
// values (validated: known name, same type).
import * as fs from "node:fs";
import * as paths from "../paths";

/** A mistake in how the runner was called: reported as one line with exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface NotebookJson {
  cells: { cell_type: string; source: string | string[]; metadata: { tags?: string[]; [k: string]: unknown }; outputs?: unknown[]; [k: string]: unknown }[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type ParamValue = string | number | boolean | null | ParamValue[] | { [k: string]: ParamValue };
/** A declared parameter: its default, the default's JSON type (for validation), and the TypeScript type the injected
 * value is declared with: the cell's own annotation when it has one, else the default's widened type (tsTypeOf). */
export interface Parameter { name: string; value: ParamValue; type: string; tsType: string | null }

const cellText = (source: string | string[]): string => (Array.isArray(source) ? source.join("") : source);
const typeOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

export function readNotebook(file: string): NotebookJson {
  if (!fs.existsSync(file)) {
    const available = fs.existsSync(paths.notebooksDir) ? fs.readdirSync(paths.notebooksDir).filter((f) => f.endsWith(".ipynb")) : [];
    throw new UsageError(`notebook not found: ${file} (available: ${available.join(", ") || "none"})`);
  }
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as NotebookJson;
  } catch (e) {
    throw new UsageError(`${file} is not a valid notebook: ${(e as Error).message}`);
  }
}

const PARAM_LINE = /^\s*(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::([^=]+))?=\s*(.+?)\s*;?\s*(?:\/\/.*)?$/;

/**
 * The TypeScript type a parameter's injected value is declared with, from its default: what TypeScript infers for a
 * `let` of that value (string, number, boolean, an array of them). Without it, `const corpus = "my.csv";` would have
 * the literal type "my.csv" and a cell's `corpus === "default"` would not compile ("no overlap"). null: leave the
 * value's own type (null defaults; objects, whose properties TypeScript already widens and which the lib's typed
 * parameters check field by field; empty arrays).
 */
export function tsTypeOf(value: ParamValue): string | null {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return typeof value;
  if (Array.isArray(value)) {
    const items = [...new Set(value.map((v) => tsTypeOf(v)))];
    if (items.length === 0 || items.includes(null)) return null;
    return items.length === 1 ? `${items[0]}[]` : `(${items.join(" | ")})[]`;
  }
  return null;
}

/**
 * A value as a TypeScript literal that survives every way a cell is handled: JSON, plus escapes for the characters
 * that JSON leaves raw but that split lines elsewhere (U+2028/U+2029, which Python's splitlines and older JS parsers
 * take for line breaks, and U+0085).
 */
export function tsLiteral(value: ParamValue): string {
  return JSON.stringify(value).replace(/[\u2028\u2029\u0085]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The parameters a notebook declares in its `parameters` cell (JSON-literal values only, so they can be checked). */
export function parametersOf(nb: NotebookJson, file = "notebook"): Parameter[] {
  const cell = nb.cells.find((c) => c.metadata?.tags?.includes("parameters"));
  if (!cell) throw new UsageError(`${file} has no cell tagged "parameters"`);
  const params: Parameter[] = [];
  for (const line of cellText(cell.source).split("\n")) {
    const m = PARAM_LINE.exec(line);
    if (!m) continue;
    let value: ParamValue;
    try {
      value = JSON.parse(m[3]) as ParamValue;
    } catch {
      throw new Error(`${file}: parameter ${m[1]} must have a JSON literal default, got: ${m[3]}`);
    }
    params.push({ name: m[1], value, type: typeOf(value), tsType: m[2]?.trim() || tsTypeOf(value) });
  }
  return params;
}

/** A command-line value: a JSON literal, or else a bare word taken as a string (papermill's -p convention). */
export function parseCliValue(text: string): ParamValue {
  try {
    return JSON.parse(text) as ParamValue;
  } catch {
    if (/^[\[{"]/.test(text.trim())) throw new UsageError(`malformed value: ${text} (it starts like JSON but does not parse)`);
    return text;
  }
}

export function validateParameters(declared: Parameter[], given: Record<string, ParamValue>, file = "notebook"): void {
  const byName = new Map(declared.map((p) => [p.name, p]));
  for (const [name, value] of Object.entries(given)) {
    const p = byName.get(name);
    if (!p) throw new UsageError(`unknown parameter "${name}" for ${file}; valid names: ${declared.map((d) => d.name).join(", ")}`);
    const t = typeOf(value);
    if (p.type !== "null" && t !== p.type && !(t === "null")) {
      throw new UsageError(`parameter "${name}" of ${file} expects a ${p.type} (default ${JSON.stringify(p.value)}), got ${t} ${JSON.stringify(value)}`);
    }
  }
}

/** The notebook with a cell tagged `injected-parameters` after its parameters cell: `const name: <type> = <value>;`,
 * each value declared with its parameter's type (Parameter.tsType) so that cells type-check as with the default. */
export function injectParameters(nb: NotebookJson, values: Record<string, ParamValue>): NotebookJson {
  const copy = JSON.parse(JSON.stringify(nb)) as NotebookJson;
  copy.cells = copy.cells.filter((c) => !c.metadata?.tags?.includes("injected-parameters"));
  const at = copy.cells.findIndex((c) => c.metadata?.tags?.includes("parameters"));
  const declared = new Map(parametersOf(nb).map((p) => [p.name, p]));
  const lines = Object.entries(values).map(([k, v]) => {
    const tsType = declared.get(k)?.tsType;
    return `const ${k}${tsType ? `: ${tsType}` : ""} = ${tsLiteral(v)};`;
  });
  copy.cells.splice(at + 1, 0, {
    id: "injected-parameters",
    cell_type: "code",
    execution_count: null,
    metadata: { tags: ["injected-parameters"] },
    outputs: [],
    source: ["// Parameters injected by the runner\n", ...lines.map((l, i) => (i < lines.length - 1 ? `${l}\n` : l))],
  });
  return copy;
}
