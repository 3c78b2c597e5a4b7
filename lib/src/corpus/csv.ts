// CSV with a header row (gzipped or not), parsed by csv-parse; the row number is the line number.
import { Readable } from "node:stream";
import { parse as parseCsv } from "csv-parse";
import { textLineBlocks } from "./lines";
import type { CorpusFormat, RawRow } from "./reader";

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

export const csv: CorpusFormat = {
  name: "csv",
  extensions: [".csv.gz", ".csv"],
  unit: "line",
  read: (file) => csvRows(file),
};
