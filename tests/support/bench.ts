// Shared by every benchmark in tests/bench/*.bench.ts: one JSON file per benchmark under bench/results/,
// stamped with the machine it ran on. `npm run bench` runs them all and renders bench/results/README.md.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { paths } from "@distill/lib";

export interface BenchMetric { name: string; value: number | null; unit: string; goal?: string; met?: boolean; note?: string }

export function machine(): Record<string, unknown> {
  return { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()}-${os.arch()}` };
}

/** `notes`: sentences shown under the benchmark's table in bench/results/README.md (verdicts, caveats). */
export function writeBenchResult(name: string, metrics: BenchMetric[], details: Record<string, unknown> = {}, notes: string[] = []): string {
  const dir = paths.ensureDir(path.join(paths.root, "bench", "results"));
  const file = path.join(dir, `${name}.json`);
  const record = { name, date: new Date().toISOString(), machine: machine(), metrics, ...(notes.length ? { notes } : {}), details };
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + "\n");
  for (const m of metrics) console.log(`${name}: ${m.name} = ${m.value} ${m.unit}${m.goal ? ` (goal ${m.goal}: ${m.met ? "met" : "not met"})` : ""}`);
  for (const n of notes) console.log(`${name}: ${n}`);
  return file;
}

/** Peak resident memory of this process so far, in MiB (Linux VmHWM). */
export function peakRssMiB(): number {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}
