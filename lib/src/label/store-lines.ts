// The answer store's file, read a line at a time (no string ever holds more than one line, so a store can be larger
// than V8's longest string), and the index an open store keeps instead of its answers: where each answer's line is,
// and the money spent per request.
import * as fs from "node:fs";

/** Bytes read at a time when opening a store. */
const readChunkBytes = 1 << 22;

/** Where each valid answer's line is: slot i's byte offset and length, slots in the order first stored. */
export class LineIndex {
  private readonly slots = new Map<string, number>();
  private offsets = new Float64Array(1024);
  private lengths = new Float64Array(1024);
  /** USD spent under each served key (all its lines, and its repair's); keys without a served answer: `others`. */
  private spent = new Float64Array(1024);
  private readonly others = new Map<string, number>();

  get size(): number {
    return this.slots.size;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** Keeps the first line of a key (the answer every later run was served). */
  add(key: string, offset: number, length: number): void {
    if (this.slots.has(key)) return;
    const slot = this.slots.size;
    if (slot === this.offsets.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.offsets = grow(this.offsets);
      this.lengths = grow(this.lengths);
      this.spent = grow(this.spent);
    }
    this.offsets[slot] = offset;
    this.lengths[slot] = length;
    this.slots.set(key, slot);
  }

  addSpend(key: string, usd: number): void {
    if (usd === 0) return;
    const slot = this.slots.get(key);
    if (slot !== undefined) this.spent[slot] += usd;
    else this.others.set(key, (this.others.get(key) ?? 0) + usd);
  }

  spentOn(key: string): number {
    const slot = this.slots.get(key);
    return (slot === undefined ? 0 : this.spent[slot]) + (this.others.get(key) ?? 0);
  }

  get(key: string): { offset: number; length: number } | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : { offset: this.offsets[slot], length: this.lengths[slot] };
  }

  *keys(): IterableIterator<string> {
    yield* this.slots.keys();
  }
}

export function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 32 && b !== 9 && b !== 13) return false;
  return true;
}

/** A line as a JSON object with a string key (the caller knows the rest of its shape). */
export function parseEntry<T extends { key: string }>(bytes: Buffer): { ok: true; entry: T } | { ok: false; error: string } {
  try {
    const entry = JSON.parse(bytes.toString("utf8")) as T;
    if (typeof entry?.key !== "string") return { ok: false, error: "no key" };
    return { ok: true, entry };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/**
 * Calls onLine for each complete line of the file from byte `from` on (without its "\n"; offset: where it starts),
 * reading a chunk at a time, so no string ever holds more than one line. Returns the bytes after the last newline.
 */
export function eachLine(fd: number, from: number, onLine: (bytes: Buffer, offset: number) => void): { offset: number; bytes: Buffer } {
  const chunk = Buffer.allocUnsafe(readChunkBytes);
  let carry: Buffer[] = []; // the start of a line whose newline has not been read yet
  let carryOffset = from;
  let position = from;
  for (;;) {
    const n = fs.readSync(fd, chunk, 0, chunk.length, position);
    if (n === 0) break;
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1 && nl < n; nl = chunk.indexOf(10, start)) {
      if (carry.length > 0) {
        carry.push(chunk.subarray(start, nl));
        onLine(Buffer.concat(carry), carryOffset);
        carry = [];
      } else {
        onLine(chunk.subarray(start, nl), position + start);
      }
      start = nl + 1;
    }
    if (start < n) {
      if (carry.length === 0) carryOffset = position + start;
      carry.push(Buffer.from(chunk.subarray(start, n))); // a copy: the chunk is read into again
    }
    position += n;
  }
  return carry.length > 0 ? { offset: carryOffset, bytes: Buffer.concat(carry) } : { offset: position, bytes: Buffer.alloc(0) };
}
