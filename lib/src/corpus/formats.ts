// The corpus formats, in the order their extensions are tried. A new format: a reader file beside these exporting a
// CorpusFormat (reader.ts), its name added to Format, and its entry in the list below.
import * as path from "node:path";
import { arrow } from "./arrow";
import { csv } from "./csv";
import { jsonl } from "./jsonl";
import { parquet } from "./parquet";
import type { CorpusFormat, Format } from "./reader";

export const formats: readonly CorpusFormat[] = [jsonl, csv, parquet, arrow];

const extensions: [string, CorpusFormat][] = formats.flatMap((f) => f.extensions.map((e): [string, CorpusFormat] => [e, f]));

/** Every file name ending a corpus file may have, in the order they are tried. */
export const supportedExtensions: string[] = extensions.map(([e]) => e);

export function formatOf(file: string): Format {
  const lower = file.toLowerCase();
  const hit = extensions.find(([ext]) => lower.endsWith(ext));
  if (!hit) {
    throw new Error(`Unsupported corpus file ${file}: supported extensions are ${supportedExtensions.join(", ")} (or pass format: ${formats.map((f) => `"${f.name}"`).join(" | ")}).`);
  }
  return hit[1].name;
}

export function corpusFormat(name: Format): CorpusFormat {
  const format = formats.find((f) => f.name === name);
  if (!format) throw new Error(`Unknown corpus format "${name}": use one of ${formats.map((f) => `"${f.name}"`).join(" | ")}.`);
  return format;
}

/** True for a file name with a supported ending (a folder given as corpus means every such file in it). */
export function isSupported(file: string): boolean {
  const lower = file.toLowerCase();
  return extensions.some(([ext]) => lower.endsWith(ext));
}

/** The file name without its corpus extension: the default group of its records. */
export function fileStem(file: string): string {
  const base = path.basename(file);
  const ext = extensions.find(([e]) => base.toLowerCase().endsWith(e));
  return ext ? base.slice(0, -ext[0].length) : base;
}
