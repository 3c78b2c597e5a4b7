// What one corpus format provides: a reader from a file to raw rows ({ row, values }, values keyed by the file's own
// column names), an array of rows per read, so that a corpus of millions of rows costs one await per array, not one
// per row. records.ts turns raw rows into records; formats.ts lists the formats. A new format: a file beside
// jsonl.ts / csv.ts / parquet.ts / arrow.ts exporting a CorpusFormat, its name added to Format, its entry in formats.ts.
import type { ColumnMap } from "./columns";

export type Format = "jsonl" | "csv" | "parquet" | "arrow";

export interface RawRow {
  row: number;
  values: Record<string, unknown>;
  /** Set when the row cannot be used at all (e.g. a line that is not JSON): why. */
  skip?: string;
}

export interface CorpusFormat {
  name: Format;
  /** File name endings, tried in order (".jsonl.gz" before ".jsonl"). */
  extensions: string[];
  /** What a skipped row's number counts in messages: "line" for text formats, "row" (1-based index) otherwise. */
  unit: "line" | "row";
  /** The file's rows. `wanted`: the columns a record can use (a columnar format reads only these); `columns`: the
   *  caller's column map, whose named columns a reader that knows its schema up front checks before reading. */
  read(file: string, o: { wanted: Set<string>; columns: ColumnMap }): AsyncGenerator<RawRow[]>;
}
