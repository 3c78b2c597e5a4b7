// Record ids: unique across every file of one read, and the same on any machine. A row's id is, in order:
//   its id column (columns.id, else "id");
//   <collection>/<slug> when the row has a slug (the shipped corpus; the file's stem when there is no collection),
//     with -2, -3 ... should the same slug come again;
//   <file>#<row> otherwise (the line number for JSONL and CSV, the 1-based row index for Parquet and Arrow).
// <file> is the file's name, or, when two files of the read share a name (same name, different folders), its path
// from the files' common folder, so that "a/recipes.csv" and "b/recipes.csv" cannot give the same ids.
// An id that an earlier row already has is never joined silently: readers skip the later row, counted and reported
// as a duplicate (SkippedRow.duplicateId), and the label step refuses records whose ids repeat (checkUniqueIds).
import { hash } from "node:crypto";
import * as path from "node:path";

/**
 * Keys remembered as 64-bit hashes in one typed array (16 bytes a key at most, where a Set of the strings costs
 * ~100), so that a repeated id can be noticed in a corpus of millions of rows.
 */
export class HashSet64 {
  private table = new Uint32Array(2 * 1024); // (hi, lo) pairs; (0, 0) marks an empty slot
  private count = 0;

  /** Adds the key; false if it was there already. */
  add(key: string): boolean {
    const digest = hash("sha1", key, "buffer"); // one call: cheaper than createHash().update().digest() per row
    const hi = digest.readUInt32BE(0);
    const lo = digest.readUInt32BE(4) || 1; // never (0, 0)
    if (!this.insert(hi, lo)) return false;
    if (++this.count * 2 > this.table.length / 2) this.grow();
    return true;
  }

  private insert(hi: number, lo: number): boolean {
    const mask = this.table.length / 2 - 1;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const h = this.table[2 * i];
      const l = this.table[2 * i + 1];
      if (h === 0 && l === 0) {
        this.table[2 * i] = hi;
        this.table[2 * i + 1] = lo;
        return true;
      }
      if (h === hi && l === lo) return false;
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Uint32Array(old.length * 2);
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.insert(old[i], old[i + 1]);
  }
}

/** The folder every file is in (deepest common ancestor of their folders). */
function commonFolder(files: string[]): string {
  let common = path.dirname(files[0]).split(path.sep);
  for (const f of files.slice(1)) {
    const parts = path.dirname(f).split(path.sep);
    let n = 0;
    while (n < common.length && n < parts.length && common[n] === parts[n]) n++;
    common = common.slice(0, n);
  }
  return common.join(path.sep) || path.sep;
}

/** What names each file in ids: its base name, or its path from the common folder ("/"-separated, the same on every
 *  machine) when another file of the read has the same base name. */
export function fileLabels(files: string[]): Map<string, string> {
  const byName = new Map<string, number>();
  for (const f of files) byName.set(path.basename(f), (byName.get(path.basename(f)) ?? 0) + 1);
  const root = commonFolder(files);
  return new Map(files.map((f) => [f, byName.get(path.basename(f))! > 1 ? path.relative(root, f).split(path.sep).join("/") : path.basename(f)]));
}

/** The ids of one read: every id handed out is remembered, so a second row with the same id is noticed. */
export class IdRegistry {
  private readonly seen = new HashSet64();

  /** The row's id, or why the row cannot have one (its id is taken). `label`: the file's label, `stem`: the label
   *  without the corpus extension (the slug ids' prefix when there is no collection). */
  assign(o: { explicit?: string; slug?: string; collection?: string; label: string; stem: string; row: number }): { id: string } | { duplicate: string } {
    if (o.explicit === undefined && o.slug) {
      // Shipped corpus: <collection>/<slug>, with -2, -3 ... should a slug repeat.
      const base = `${o.collection || o.stem}/${o.slug}`;
      let id = base;
      for (let k = 2; !this.seen.add(id); k++) id = `${base}-${k}`;
      return { id };
    }
    const id = o.explicit ?? `${o.label}#${o.row}`;
    return this.seen.add(id) ? { id } : { duplicate: id };
  }
}

/** Throws when two items share an id, naming the id and both positions: joining by id would mix their answers up. */
export function checkUniqueIds(items: readonly { id: string }[], what: string): void {
  const first = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    const j = first.get(item.id);
    if (j !== undefined) {
      throw new Error(
        `${what}[${j}] and ${what}[${i}] have the same id ${JSON.stringify(item.id)}: ids must be unique, or answers would be joined to the ` +
          `wrong record. Give each record its own id (corpus.readRecords skips a repeated id and counts it in the skipped rows).`,
      );
    }
    first.set(item.id, i);
  }
}
