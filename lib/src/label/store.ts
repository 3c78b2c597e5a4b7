// The answer store: every teacher answer, paid or not, as one JSON line in an append-only file, written and fsynced
// BEFORE anyone uses it. A process killed at any instant loses at most the answers still in flight; everything
// already returned to the caller is on disk and is served from here next time instead of being bought again.
//
// Line: { key, request, response, usage, labels?, error?, costUsd?, unansweredUsd?, rootKey?, batch?, at }. `key` is
// the sha256 of the exact request (canonical JSON), so the same request always finds its answer and any change to
// prompt, schema, model or sampling makes a new one. Only answers with labels are served back; failures are kept for the
// record (and the money they cost) but a rerun tries them again.
//
// A store can outgrow what fits in memory (or in one string: V8 stops at ~512 MiB), so opening it reads the file as
// a stream of lines and keeps an index, key -> where its line is, and the money spent per request (with its repair);
// get() reads one line back.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import * as paths from "../paths";
import { redactUrls } from "../redact";
import type { Labels } from "../task";
import { eachLine, isBlank, LineIndex, parseEntry } from "./store-lines";

export interface StoreUsage {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

export interface StoreEntry {
  key: string;
  /** The exact request (OpenAI body, or the local model's equivalent); the key is its hash. */
  request: unknown;
  /** The raw answer: an OpenAI ChatCompletion, or the local model's { text, stopReason, ... }. Absent when none came. */
  response?: unknown;
  usage?: StoreUsage;
  /** Present when the answer was valid: such entries are served back. */
  labels?: Labels;
  /** Why this answer is not usable (invalid labels, HTTP error after the last attempt, ...). */
  error?: string;
  /** USD paid for this answer (0 for a local model; batch price when it came through the Batch API). */
  costUsd?: number;
  /** The worst case of attempts that got no answer (timed out, connection lost, aborted): the server may have done
   *  and billed the work, so the budget counts them (labelRecords). */
  unansweredUsd?: number;
  /** For a repair request: the key of the record's first request, under which its cost is counted (spentOn). */
  rootKey?: string;
  batch?: boolean;
  /** ISO time the line was written. */
  at: string;
}

export type NewEntry = Omit<StoreEntry, "at">;

export function defaultStoreFile(): string {
  return path.join(paths.workDir, "teacher-store.jsonl");
}

/** JSON with object keys sorted at every depth, so equal requests give equal text whatever the key order.
 *  Undefined values are dropped as JSON.stringify drops them (the SDK sends the same bytes). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** sha256 (hex) of the canonical JSON of the exact request. */
export function requestKey(request: unknown): string {
  return createHash("sha256").update(canonicalJson(request)).digest("hex");
}

const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);

interface PendingLine {
  entry: StoreEntry;
  text: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

const servable = (e: Pick<StoreEntry, "labels" | "error">): boolean => e.labels !== undefined && e.error === undefined;
const spentOn = (e: Pick<StoreEntry, "costUsd" | "unansweredUsd">): number => (Number(e.costUsd) || 0) + (Number(e.unansweredUsd) || 0);

export class AnswerStore {
  readonly file: string;
  /** Problems found while opening (a torn last line), for the caller to show. Also printed with console.warn. */
  readonly warnings: string[] = [];
  private readonly index = new LineIndex();
  private failedLines = 0;
  private spent = 0;
  /** The file's length: where the next line goes. */
  private end = 0;
  private fd: number | null;
  private readFd: number | null = null;
  // Group commit: lines that arrive while a write+fsync is running go out together in the next one, so many
  // concurrent answers cost one fsync, not one each, and the event loop never blocks on the disk.
  private pending: PendingLine[] = [];
  private flushing: Promise<void> | null = null;

  private constructor(file: string) {
    this.file = file;
    paths.ensureDir(path.dirname(file));
    this.load();
    this.fd = fs.openSync(file, "a");
  }

  /** Open (or create) a store file: `<workDir>/teacher-store.jsonl` by default; relative paths are from the project root. */
  static open(file: string = defaultStoreFile()): AnswerStore {
    return new AnswerStore(paths.resolve(file));
  }

  /** Number of valid (served-back) answers. */
  get size(): number {
    return this.index.size;
  }

  /** Lines recorded as failures (invalid answers, requests that failed after their last attempt). */
  get failures(): number {
    return this.failedLines;
  }

  /** USD this store records as spent, every line counted (answers, failures, the worst case of unanswered attempts). */
  get spentUsd(): number {
    return this.spent;
  }

  /** USD spent on these requests (by key), their repairs included: what earlier runs paid for the same work, which a
   *  budget counts. */
  spentOn(keys: Iterable<string>): number {
    let usd = 0;
    for (const key of new Set(keys)) usd += this.index.spentOn(key);
    return usd;
  }

  /** The valid answer stored for this request key, if any (read back from the file). */
  get(key: string): StoreEntry | undefined {
    const at = this.index.get(key);
    if (at === undefined) return undefined;
    this.readFd ??= fs.openSync(this.file, "r");
    const bytes = Buffer.allocUnsafe(at.length);
    let got = 0;
    while (got < at.length) {
      const n = fs.readSync(this.readFd, bytes, got, at.length - got, at.offset + got);
      if (n === 0) throw new Error(`Answer store ${this.file} is shorter than when it was opened (was it edited meanwhile?)`);
      got += n;
    }
    const entry = JSON.parse(bytes.toString("utf8")) as StoreEntry;
    if (entry.key !== key) throw new Error(`Answer store ${this.file}: the line at byte ${at.offset} is not the answer for ${key} (was the file edited while open?)`);
    return entry;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The keys of every valid answer, in the order first stored. */
  keys(): IterableIterator<string> {
    return this.index.keys();
  }

  /** Every valid answer, in the order first stored, read from the file one at a time. */
  *entries(): IterableIterator<StoreEntry> {
    for (const key of this.index.keys()) yield this.get(key)!;
  }

  /** Append one entry; resolves once the line is written and fsynced, and only then is it served by get(). */
  async put(entry: NewEntry): Promise<StoreEntry> {
    if (this.fd === null) throw new Error(`Answer store ${this.file} is closed`);
    if (!/^[0-9a-f]{64}$/.test(entry.key)) throw new Error(`Answer store: key must be a sha256 hex string (requestKey), got ${JSON.stringify(entry.key)}`);
    // An error may quote a URL; its credentials never reach the file.
    const full: StoreEntry = { ...entry, ...(entry.error !== undefined ? { error: redactUrls(entry.error) } : {}), at: new Date().toISOString() };
    const text = JSON.stringify(full) + "\n";
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ entry: full, text, resolve, reject });
      this.flushing ??= this.flush();
    });
    return full;
  }

  /** Wait for pending writes, then close the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.fd !== null) fs.closeSync(this.fd);
    if (this.readFd !== null) fs.closeSync(this.readFd);
    this.fd = null;
    this.readFd = null;
  }

  private account(entry: StoreEntry, offset: number, length: number): void {
    const usd = spentOn(entry);
    this.spent += usd;
    if (servable(entry)) this.index.add(entry.key, offset, length);
    else this.failedLines += 1;
    this.index.addSpend(typeof entry.rootKey === "string" ? entry.rootKey : entry.key, usd);
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        const parts = batch.map((p) => Buffer.from(p.text, "utf8"));
        const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        let offset = 0;
        while (offset < bytes.length) offset += (await write(this.fd!, bytes, offset, bytes.length - offset)).bytesWritten;
        await fdatasync(this.fd!);
        const size = fs.fstatSync(this.fd!).size;
        if (size === this.end + bytes.length) {
          // Nobody else appended since: the lines are where this store's count of bytes says.
          let lineStart = this.end;
          for (const [i, p] of batch.entries()) {
            this.account(p.entry, lineStart, parts[i].length - 1);
            lineStart += parts[i].length;
          }
          this.end = size;
        } else {
          // Another process appends to the same file (two runs at once): read what is new, its lines and ours.
          this.catchUp();
        }
        for (const p of batch) p.resolve();
      } catch (err) {
        const e = new Error(`Could not write to the answer store ${this.file}: ${(err as Error).message}`);
        for (const p of batch) p.reject(e);
      }
    }
    this.flushing = null;
  }

  /** Index the complete lines appended since this.end (by any process); one that does not parse is skipped. */
  private catchUp(): void {
    const fd = fs.openSync(this.file, "r");
    try {
      const rest = eachLine(fd, this.end, (bytes, offset) => {
        if (isBlank(bytes)) return;
        const parsed = parseEntry<StoreEntry>(bytes);
        if (!parsed.ok) {
          this.warnings.push(`Answer store ${this.file}: skipped a line another writer left unreadable at byte ${offset} (${parsed.error})`);
          return;
        }
        this.account(parsed.entry, offset, bytes.length);
      });
      this.end = rest.offset; // an incomplete last line (another writer's, mid-write) is read next time
    } finally {
      fs.closeSync(fd);
    }
  }

  // Read every complete line, a chunk of the file at a time. A last line with no newline (or not valid JSON) is what
  // a kill in the middle of a write leaves: it is dropped and cut off so the next append starts on a clean line. A
  // bad line in the middle is not explained by a kill, so it is an error that names the line.
  private load(): void {
    if (!fs.existsSync(this.file)) return;
    const fd = fs.openSync(this.file, "r");
    let lineNo = 0;
    let bad: { lineNo: number; offset: number; text: string; error: string } | null = null;
    const tooEarly = (b: { lineNo: number; error: string }) =>
      new Error(`Answer store ${this.file}, line ${b.lineNo}: not a valid entry (${b.error}). Fix or delete that line (the other lines are intact).`);
    let rest: { offset: number; bytes: Buffer };
    try {
      rest = eachLine(fd, 0, (bytes, offset) => {
        lineNo++;
        if (bad !== null) throw tooEarly(bad);
        if (isBlank(bytes)) return;
        const parsed = parseEntry<StoreEntry>(bytes);
        if (!parsed.ok) bad = { lineNo, offset, text: bytes.subarray(0, 200).toString("utf8"), error: parsed.error };
        else this.account(parsed.entry, offset, bytes.length);
      });
    } finally {
      fs.closeSync(fd);
    }
    this.end = rest.offset + rest.bytes.length;
    // What may be dropped: an incomplete last line, or a last complete line that does not parse (not both).
    let torn: { offset: number; text: string } | null = bad;
    if (rest.bytes.length > 0) {
      if (bad !== null) throw tooEarly(bad);
      torn = { offset: rest.offset, text: rest.bytes.subarray(0, 200).toString("utf8") };
    }
    if (torn !== null) {
      const shown = torn.text.length > 60 ? torn.text.slice(0, 60) + "…" : torn.text;
      const warning = `Answer store ${this.file}: dropped an incomplete last line (a write cut short, e.g. by a kill): ${JSON.stringify(shown)}`;
      this.warnings.push(warning);
      console.warn(warning);
      fs.truncateSync(this.file, torn.offset);
      this.end = torn.offset;
    }
  }
}
