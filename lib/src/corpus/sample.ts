// A deterministic sample of a corpus: n records chosen by seed, independent of file order, with exact and near
// duplicates dropped. Memory O(n): the corpus is streamed and only the n records to return are held.
import { createHash } from "node:crypto";
import { readRecords, resolveTask, type CorpusRecord, type ReadOptions, type SkippedRow } from "./records";

/** Lower case, and every run of non-letters (punctuation, digits, symbols, whitespace) one space: "2 cups Flour," ~ "3 cups flour". */
export function normalizeForDedupe(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}]+/gu, " ")
    .trim();
}

/** A seeded position in [0, 2^48) for a key; the same for the same (seed, key) on any machine and in any order. */
export function seededRank(seed: number, key: string): number {
  return createHash("sha1").update(`${seed}\u0000${key}`).digest().readUIntBE(0, 6);
}

interface Ranked {
  rank: number;
  record: CorpusRecord;
  truncated: boolean;
  key: string | null;
  heapIndex: number;
}

const before = (a: Ranked, b: Ranked) => a.rank < b.rank || (a.rank === b.rank && a.record.id < b.record.id);

/** Max-heap on (rank, id): the top is the record to drop first when a better one arrives. */
class MaxHeap {
  items: Ranked[] = [];
  get size() {
    return this.items.length;
  }
  top(): Ranked {
    return this.items[0];
  }
  push(x: Ranked) {
    x.heapIndex = this.items.length;
    this.items.push(x);
    this.up(x.heapIndex);
  }
  pop(): Ranked {
    const top = this.items[0];
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    return top;
  }
  /** Restore order after x's rank went down. */
  lowered(x: Ranked) {
    this.down(x.heapIndex);
  }
  private swap(i: number, j: number) {
    const a = this.items[i];
    const b = this.items[j];
    this.items[i] = b;
    this.items[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }
  private up(i: number) {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.items[parent], this.items[i])) return;
      this.swap(i, parent);
      i = parent;
    }
  }
  private down(i: number) {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let largest = i;
      if (l < this.items.length && before(this.items[largest], this.items[l])) largest = l;
      if (r < this.items.length && before(this.items[largest], this.items[r])) largest = r;
      if (largest === i) return;
      this.swap(i, largest);
      i = largest;
    }
  }
}

export interface SampleOptions {
  n: number;
  seed: number;
  /** Drop exact and near duplicates (same normalizeForDedupe text), keeping the one ranked first. Default true. */
  dedupe?: boolean;
  /** Cut longer texts to this many characters (default: task.student.maxInputTokens * 4). */
  maxChars?: number;
}

export interface SampleStats {
  /** Usable records read. */
  seen: number;
  /** Records dropped because a duplicate ranked before them was held at the time (duplicates met while sampling). */
  duplicates: number;
  /** Returned records whose text was cut to maxChars. */
  truncated: number;
  /** Of the skipped rows: those whose id an earlier row already had (the first is kept; see ids.ts). */
  duplicateIds: number;
  /** Skipped rows (the first 1000; skippedTotal counts them all). */
  skipped: SkippedRow[];
  skippedTotal: number;
}

const maxSkippedKept = 1000;

/**
 * n records chosen by seed, independent of file order: each record is ranked by a hash of (seed, id) and the n
 * lowest ranks are kept in a bounded heap (memory O(n)). With dedupe, records with the same normalised text count
 * once, as the lowest-ranked of them. The result comes sorted by rank.
 */
export async function sampleRecords(
  input: string | string[],
  opts: SampleOptions & ReadOptions,
): Promise<{ records: CorpusRecord[]; stats: SampleStats }> {
  const { n, seed } = opts;
  if (!Number.isInteger(n) || n < 1) throw new Error(`sampleRecords: n must be a positive integer, got ${n}.`);
  if (!Number.isFinite(seed)) throw new Error(`sampleRecords: seed must be a number, got ${seed}.`);
  const task = resolveTask(opts.task);
  const maxChars = opts.maxChars ?? task.student.maxInputTokens * 4;
  if (!Number.isInteger(maxChars) || maxChars < 1) throw new Error(`sampleRecords: maxChars must be a positive integer, got ${maxChars}.`);
  const dedupe = opts.dedupe ?? true;

  const heap = new MaxHeap();
  const byText = new Map<string, Ranked>(); // dedupe key -> the held record with that key
  const stats: SampleStats = { seen: 0, duplicates: 0, truncated: 0, duplicateIds: 0, skipped: [], skippedTotal: 0 };
  const onSkip = (s: SkippedRow) => {
    stats.skippedTotal++;
    if (s.duplicateId) stats.duplicateIds++;
    if (stats.skipped.length < maxSkippedKept) stats.skipped.push(s);
    opts.onSkip?.(s);
  };

  const cut = (record: CorpusRecord): { record: CorpusRecord; truncated: boolean } => {
    if (record.text.length <= maxChars) return { record, truncated: false };
    let end = maxChars;
    const code = record.text.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end--; // do not split a surrogate pair
    return { record: { ...record, text: record.text.slice(0, end) }, truncated: true };
  };

  for await (const record of readRecords(input, { ...opts, task, onSkip })) {
    stats.seen++;
    const candidate: Ranked = { rank: seededRank(seed, record.id), record, truncated: false, key: null, heapIndex: -1 };
    if (dedupe) {
      candidate.key = createHash("sha1").update(normalizeForDedupe(record.text)).digest("base64");
      const held = byText.get(candidate.key);
      if (held) {
        stats.duplicates++;
        if (before(candidate, held)) {
          Object.assign(held, { rank: candidate.rank, ...cut(record) });
          heap.lowered(held);
        }
        continue;
      }
    }
    if (heap.size === n) {
      if (!before(candidate, heap.top())) continue;
      const dropped = heap.pop();
      if (dropped.key !== null) byText.delete(dropped.key);
    }
    Object.assign(candidate, cut(record));
    heap.push(candidate);
    if (candidate.key !== null) byText.set(candidate.key, candidate);
  }

  const kept = heap.items.slice().sort((a, b) => (before(a, b) ? -1 : 1));
  stats.truncated = kept.filter((k) => k.truncated).length;
  if (stats.truncated > 0) {
    console.warn(`sampleRecords: ${stats.truncated} of ${kept.length} records were longer than ${maxChars} characters and were cut (maxChars).`);
  }
  return { records: kept.map((k) => k.record), stats };
}
