// The train/test split: deterministic by seed, optionally holding out whole groups (source books) for the test side.
import { seededRank } from "./sample";

export interface SplitOptions {
  testFraction: number;
  seed: number;
  /** Put whole groups (source books) in test, so the test set measures generalisation to unseen books. */
  holdOutGroups?: boolean;
}

/**
 * Deterministic split by seed; each side keeps the input order. Without holdOutGroups the round(testFraction * n)
 * records with the lowest seeded hash of their id go to test. With it, whole groups go to test: each group in
 * seeded-hash order is taken if that brings the test side closer to that size (so it lands near it, not far past).
 */
export function splitTrainTest<T extends { id: string; group: string }>(records: T[], opts: SplitOptions): { train: T[]; test: T[] } {
  const { testFraction, seed } = opts;
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`splitTrainTest: testFraction must be between 0 and 1 (exclusive), got ${testFraction}.`);
  if (records.length < 2) throw new Error(`splitTrainTest: need at least 2 records to split, got ${records.length}.`);
  const target = Math.min(records.length - 1, Math.max(1, Math.round(testFraction * records.length)));
  const inTest = new Set<T>();

  if (opts.holdOutGroups) {
    const sizes = new Map<string, number>();
    for (const r of records) sizes.set(r.group, (sizes.get(r.group) ?? 0) + 1);
    if (sizes.size < 2) throw new Error(`splitTrainTest: holdOutGroups needs at least 2 groups, but every record is in group "${records[0].group}".`);
    const order = [...sizes.keys()].map((g) => ({ g, rank: seededRank(seed, g) })).sort((a, b) => a.rank - b.rank || (a.g < b.g ? -1 : 1));
    // Take a group only if it brings the test side closer to the target, and never the whole data set.
    const testGroups = new Set<string>();
    let count = 0;
    for (const { g } of order) {
      const size = sizes.get(g)!;
      if (count + size - target > target - count || count + size >= records.length) continue;
      testGroups.add(g);
      count += size;
    }
    if (testGroups.size === 0) testGroups.add([...sizes].sort((a, b) => a[1] - b[1])[0][0]); // every group was too big: the smallest
    for (const r of records) if (testGroups.has(r.group)) inTest.add(r);
  } else {
    const order = records.map((r) => ({ r, rank: seededRank(seed, r.id) })).sort((a, b) => a.rank - b.rank || (a.r.id < b.r.id ? -1 : a.r.id > b.r.id ? 1 : 0));
    for (const { r } of order.slice(0, target)) inTest.add(r);
  }
  return { train: records.filter((r) => !inTest.has(r)), test: records.filter((r) => inTest.has(r)) };
}
