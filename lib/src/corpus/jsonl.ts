// JSON Lines (.jsonl, .ndjson, gzipped or not): one JSON object per line; a line that is not one is skipped with why.
import { textLineBlocks } from "./lines";
import type { CorpusFormat, RawRow } from "./reader";

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

export const jsonl: CorpusFormat = {
  name: "jsonl",
  extensions: [".jsonl.gz", ".jsonl", ".ndjson.gz", ".ndjson"],
  unit: "line",
  read: (file) => jsonlRows(file),
};
