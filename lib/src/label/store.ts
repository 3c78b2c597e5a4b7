// The answer store: every teacher answer, paid or not, as one JSON line in an append-only file, written and fsynced
// BEFORE anyone uses it. A process killed at any instant loses at most the answers still in flight; everything
// already returned to the caller is on disk and is served from here next time instead of being bought again.
//
// Line: { key, request, response, usage, labels?, error?, costUsd?, batch?, at }. `key` is the sha256 of the exact
// request (canonical JSON), so the same request always finds its answer and any change to prompt, schema, model or
// sampling makes a new one. Only answers with labels are served back; failures are kept for the record (and the
// money they cost) but a rerun tries them again.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import * as paths from "../paths";
import type { Labels } from "../task";

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
  text: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class AnswerStore {
  readonly file: string;
  /** Problems found while opening (a torn last line), for the caller to show. Also printed with console.warn. */
  readonly warnings: string[] = [];
  private readonly answers = new Map<string, StoreEntry>();
  private failedLines = 0;
  private fd: number | null;
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
    return this.answers.size;
  }

  /** Lines recorded as failures (invalid answers, requests that failed after their last attempt). */
  get failures(): number {
    return this.failedLines;
  }

  /** The valid answer stored for this request key, if any. */
  get(key: string): StoreEntry | undefined {
    return this.answers.get(key);
  }

  has(key: string): boolean {
    return this.answers.has(key);
  }

  /** Every valid answer, in the order first stored. */
  entries(): StoreEntry[] {
    return [...this.answers.values()];
  }

  /** Append one entry; resolves once the line is written and fsynced, and only then is it served by get(). */
  async put(entry: NewEntry): Promise<StoreEntry> {
    if (this.fd === null) throw new Error(`Answer store ${this.file} is closed`);
    if (!/^[0-9a-f]{64}$/.test(entry.key)) throw new Error(`Answer store: key must be a sha256 hex string (requestKey), got ${JSON.stringify(entry.key)}`);
    const full: StoreEntry = { ...entry, at: new Date().toISOString() };
    const text = JSON.stringify(full) + "\n";
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ text, resolve, reject });
      this.flushing ??= this.flush();
    });
    if (full.labels !== undefined && full.error === undefined) {
      if (!this.answers.has(full.key)) this.answers.set(full.key, full);
    } else {
      this.failedLines += 1;
    }
    return full;
  }

  /** Wait for pending writes, then close the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        const bytes = Buffer.from(batch.map((p) => p.text).join(""), "utf8");
        let offset = 0;
        while (offset < bytes.length) offset += (await write(this.fd!, bytes, offset, bytes.length - offset)).bytesWritten;
        await fdatasync(this.fd!);
        for (const p of batch) p.resolve();
      } catch (err) {
        const e = new Error(`Could not write to the answer store ${this.file}: ${(err as Error).message}`);
        for (const p of batch) p.reject(e);
      }
    }
    this.flushing = null;
  }

  // Read every complete line. A last line with no newline (or not valid JSON) is what a kill in the middle of a
  // write leaves: it is dropped and cut off so the next append starts on a clean line. A bad line in the middle is
  // not explained by a kill, so it is an error that names the line.
  private load(): void {
    if (!fs.existsSync(this.file)) return;
    const text = fs.readFileSync(this.file, "utf8");
    const lines = text.split("\n");
    const tail = lines.pop()!; // "" when the file ends with a newline
    let keepBytes = Buffer.byteLength(text, "utf8") - Buffer.byteLength(tail, "utf8");
    let torn = tail.length > 0 ? tail : null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === "") continue;
      let entry: StoreEntry;
      try {
        entry = JSON.parse(line) as StoreEntry;
        if (typeof entry?.key !== "string") throw new Error("no key");
      } catch (err) {
        if (i === lines.length - 1 && torn === null) {
          torn = line;
          keepBytes -= Buffer.byteLength(line, "utf8") + 1;
          break;
        }
        throw new Error(
          `Answer store ${this.file}, line ${i + 1}: not a valid entry (${(err as Error).message}). ` +
            `Fix or delete that line (the other lines are intact).`,
        );
      }
      if (entry.labels !== undefined && entry.error === undefined) {
        if (!this.answers.has(entry.key)) this.answers.set(entry.key, entry);
      } else {
        this.failedLines += 1;
      }
    }
    if (torn !== null) {
      const shown = torn.length > 60 ? torn.slice(0, 60) + "…" : torn;
      const warning = `Answer store ${this.file}: dropped an incomplete last line (a write cut short, e.g. by a kill): ${JSON.stringify(shown)}`;
      this.warnings.push(warning);
      console.warn(warning);
      fs.truncateSync(this.file, keepBytes);
    }
  }
}
