// corpus: the records a task runs on. Reading files of any supported format as one stream (records.ts), with ids
// unique across the files (ids.ts), one reader per format (jsonl.ts, csv.ts, parquet.ts, arrow.ts, each a
// CorpusFormat from reader.ts, listed in formats.ts), the recipe Markdown and record text (recipe.ts), a seeded
// de-duplicated sample (sample.ts), the train/test split (split.ts). May import the shared modules (paths, task,
// tokens, prices, progress) only: no other folder.
export type { ColumnMap } from "./columns";
export { corpusFormat, formatOf, supportedExtensions } from "./formats";
export { checkUniqueIds } from "./ids";
export type { CorpusFormat, Format } from "./reader";
export { parseRecipeMarkdown, renderRecord } from "./recipe";
export { corpusInput, defaultCorpus, readCorpus, readRecords, type CorpusRecord, type ReadOptions, type SkippedRow } from "./records";
export { normalizeForDedupe, sampleRecords, type SampleOptions, type SampleStats } from "./sample";
export { splitTrainTest, type SplitOptions } from "./split";
