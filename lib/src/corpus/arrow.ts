// Arrow IPC, file or stream (.arrow, .arrows, .feather, .ipc), one record batch at a time.
import * as fs from "node:fs";
import { RecordBatchReader } from "apache-arrow";
import type { CorpusFormat, RawRow } from "./reader";

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

export const arrow: CorpusFormat = {
  name: "arrow",
  extensions: [".arrow", ".arrows", ".feather", ".ipc"],
  unit: "row",
  read: (file) => arrowRows(file),
};
