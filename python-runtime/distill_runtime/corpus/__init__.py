"""Reading a corpus, the same way as lib/src/corpus/ (the TypeScript readers): the same files, in the same order, give
the same records (id, text, group, title) and skip the same rows, byte for byte. tests/lib/corpus/python-parity.test.ts
reads every fixture format and the shipped corpus with both and compares.

- text.py      JavaScript's string rules where Python's differ: whitespace (trim, \\s), String(value) of numbers
- lines.py     lines of a (possibly gzipped) UTF-8 text file, as lines.ts splits and decodes them
- formats.py   one reader per format (JSONL, CSV, Parquet, Arrow IPC), each yielding raw rows (row number, values)
- values.py    which column holds each part of a record (columns.ts), cells as text or lists
- recipe.py    recipe Markdown -> ingredients and directions, and the task's record template (recipe.ts)
- ids.py       record ids unique across the files of one read (ids.ts)
- records.py   files -> records and skipped rows, streaming (records.ts)
`python -m distill_runtime.corpus FILE...` prints what records.py reads, as JSON lines (the parity test's probe).
"""

from .records import CorpusRecord, SkippedRow, corpus_files, read_corpus

__all__ = ["CorpusRecord", "SkippedRow", "corpus_files", "read_corpus"]
