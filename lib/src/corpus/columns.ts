// Which column of a corpus file holds each part of a record (id, text, title, group, ingredients, directions or a
// Markdown body), and turning a cell's value into a string or a list of strings, whatever the format stored.

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

export const defaultColumns: Record<keyof ColumnMap, string[]> = {
  id: ["id"],
  text: ["text"],
  group: ["group", "source_title"],
  title: ["title", "name"],
  ingredients: ["ingredients"],
  directions: ["directions", "instructions", "steps"],
  body: ["body"],
};

export function pick(values: Record<string, unknown>, key: keyof ColumnMap, columns: ColumnMap): unknown {
  const named = columns[key];
  if (named !== undefined) return values[named];
  for (const name of defaultColumns[key]) {
    const v = values[name];
    if (v !== undefined && v !== null && v !== "") return v;
  }
  return undefined;
}

export function asString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : String(v);
}

/** A cell that should hold text: a string, or a number or boolean written out. A JSON object or a list is not text
 *  (String() would make it "[object Object]"): the error says what the column holds instead. */
export function asText(v: unknown, what: string): string | undefined | { error: string } {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (typeof v === "object" && !(v instanceof Date)) {
    const kind = Array.isArray(v) || Symbol.iterator in v ? "a list" : "a JSON object";
    return { error: `${what} holds ${kind}, not text` };
  }
  return String(v);
}

/** A list of strings from an array, an Arrow list, a JSON-array string (RecipeNLG CSV) or newline-separated text. */
export function asList(v: unknown, what: string): string[] | { error: string } {
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

/** A column named in opts.columns must exist: say so with the file's real column names rather than skip every row. */
export function checkMappedColumns(file: string, present: string[], columns: ColumnMap): void {
  for (const [part, name] of Object.entries(columns)) {
    if (name !== undefined && !present.includes(name)) {
      throw new Error(`Corpus file ${file} has no column "${name}" (given as columns.${part}). Its columns: ${present.join(", ")}.`);
    }
  }
}
