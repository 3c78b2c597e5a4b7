// Parquet (hyparquet): only the columns a record can use, one row group at a time.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { checkMappedColumns, type ColumnMap } from "./columns";
import type { CorpusFormat, RawRow } from "./reader";

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

export const parquet: CorpusFormat = {
  name: "parquet",
  extensions: [".parquet"],
  unit: "row",
  read: (file, o) => parquetRows(file, o.wanted, o.columns),
};
