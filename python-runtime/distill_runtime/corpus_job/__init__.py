"""The corpus job (`python -m distill_runtime label-corpus`): the student labels a whole corpus, resumably.

Two phases, each safe to kill at any instant:
1. prepare.py reads the corpus once with corpus/ (the same ids and texts as the TS readers) into numbered input parts
   of `records_per_shard` rows (Parquet: index, id, text cut as notebook 1 cut the teacher's, file, row, and why a
   row cannot be labeled: skipped by the reader, or past max_record_chars). Ids need one pass in order (a repeated
   slug is numbered), and the total is known before labeling starts (progress, ETA, cost).
2. local.py (one process) or ray_pipeline.py (Ray Data: read_parquet -> map_batches on an actor pool of engines ->
   write_parquet) labels what the manifest does not hold yet and writes Parquet shards into labels/.

manifest.py keeps the truth: which input parts exist, and which shard holds which input rows (index ranges and a
hash of the indices). A shard is written to a temporary name, fsynced and renamed; Ray's files are adopted once their
Parquet footer reads back. A resumed run labels exactly the rows no shard holds, so every input row ends up in exactly
one shard. rows.py is what both runners share: the shard schema and turning a part's rows into labeled rows.
"""
