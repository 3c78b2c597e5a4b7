// Lines of a (possibly gzipped) UTF-8 text file, a read's worth at a time: what the JSONL and CSV readers stand on.
import * as fs from "node:fs";
import { pipeline } from "node:stream";
import { isUtf8 } from "node:buffer";
import * as zlib from "node:zlib";

/** True if the file starts with the gzip magic bytes (so ".jsonl" that is really gzipped still reads). */
function isGzip(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(2);
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

const readChunkBytes = 1 << 18;

/**
 * Lines of a (possibly gzipped) text file, each checked to be valid UTF-8, a read's worth at a time; lineNo is the
 * 1-based number of lines[0]. A line is what is between two "\n" bytes, less one trailing "\r" and one leading BOM
 * (as a fresh TextDecoder gives each line). Invalid UTF-8 throws naming its line, after the lines before it.
 */
export async function* textLineBlocks(file: string): AsyncGenerator<{ lines: string[]; lineNo: number }> {
  const source = fs.createReadStream(file, { highWaterMark: readChunkBytes });
  let stream: NodeJS.ReadableStream = source;
  if (isGzip(file)) {
    const gunzip = zlib.createGunzip({ chunkSize: readChunkBytes });
    stream = pipeline(source, gunzip, () => {}); // an error destroys gunzip, which ends the loop below with it
  }
  let lineNo = 1; // of the next line
  let pending: Buffer[] = []; // the start of a line whose "\n" has not come yet
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lastNewline = chunk.lastIndexOf(10);
      if (lastNewline === -1) {
        if (chunk.length > 0) pending.push(chunk);
        continue;
      }
      pending.push(chunk.subarray(0, lastNewline));
      const block = pending.length === 1 ? pending[0] : Buffer.concat(pending);
      pending = lastNewline + 1 < chunk.length ? [chunk.subarray(lastNewline + 1)] : [];
      const lines = decodeLines(block, lineNo);
      if (lines.length > 0) yield { lines, lineNo };
      lineNo += lines.length;
      if (lines.invalidAt !== undefined) throw invalidUtf8(file, lines.invalidAt);
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code?.startsWith("Z_")) throw new Error(`${file}: not a valid gzip file (${err.message}).`);
    throw e;
  } finally {
    source.destroy();
  }
  if (pending.length > 0) {
    const lines = decodeLines(Buffer.concat(pending), lineNo);
    if (lines.length > 0) yield { lines, lineNo };
    if (lines.invalidAt !== undefined) throw invalidUtf8(file, lines.invalidAt);
  }
}

function invalidUtf8(file: string, lineNo: number): Error {
  return new Error(`${file}, line ${lineNo}: invalid UTF-8. Corpus files must be UTF-8 encoded (re-save the file as UTF-8).`);
}

/** The "\n"-separated lines of block (lineNo: the first one's number). When a line is not valid UTF-8, the lines
 *  before it, with invalidAt set to its number. Each line is decoded on its own, so one non-Latin-1 character
 *  makes only its own line a two-byte string. */
function decodeLines(block: Buffer, lineNo: number): string[] & { invalidAt?: number } {
  const valid = isUtf8(block); // one check for the whole block; line by line only to find a bad line
  const decoder = valid ? null : new TextDecoder("utf-8", { fatal: true });
  const lines: string[] & { invalidAt?: number } = [];
  for (let start = 0; ; ) {
    const nl = block.indexOf(10, start);
    const end = nl === -1 ? block.length : nl;
    let line: string;
    if (decoder === null) {
      line = block.toString("utf8", start, end);
    } else {
      try {
        line = decoder.decode(block.subarray(start, end));
      } catch {
        lines.invalidAt = lineNo + lines.length;
        return lines;
      }
    }
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    lines.push(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line);
    if (nl === -1) return lines;
    start = nl + 1;
  }
}
