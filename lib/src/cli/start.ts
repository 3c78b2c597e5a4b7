#!/usr/bin/env node
// `npm start`: the whole pipeline on the offline default profile (no API key, no GPU): the four notebooks in order,
// each into reports/<run-id>/<notebook>/, then reports/<run-id>/index.html linking them with their headline numbers.
// `npm start -- --profile P` picks another profile from data/profiles.json.
import * as fs from "node:fs";
import * as path from "node:path";
import { describeFailure, newRunId, runNotebook, UsageError } from "../notebook";
import * as paths from "../paths";
import { stopWithNpm } from "../processes";
import { formatHeadline, writeIndex } from "../report";

export const PIPELINE = ["1-label", "2-fine-tune", "3-inference", "4-cost"];

async function main(): Promise<number> {
  stopWithNpm(); // `kill -9` of `npm start` must not leave the run going (processes.ts)
  const argv = process.argv.slice(2);
  const profile = argv.includes("--profile") ? argv[argv.indexOf("--profile") + 1] : "default";
  const runId = newRunId();
  const outDir = paths.ensureDir(path.join(paths.reportsDir, runId));
  const runs: Parameters<typeof writeIndex>[1] = [];
  let failed = false;
  for (const name of PIPELINE) {
    const file = path.join(paths.notebooksDir, `${name}.ipynb`);
    if (!fs.existsSync(file)) continue;
    process.stderr.write(`\n=== ${name} (profile ${profile}) ===\n`);
    const r = await runNotebook({ notebook: file, profile, outDir: path.join(outDir, name), runId });
    runs.push({ name, html: r.html, ok: r.ok, seconds: r.record.seconds, headline: r.record.headline });
    if (!r.ok) {
      process.stderr.write(describeFailure(r) + "\n");
      failed = true;
      break;
    }
  }
  const index = writeIndex(outDir, runs, `distill-notebooks · run ${runId} · profile ${profile}`);
  process.stdout.write(`\nReport: ${index}\n`);
  for (const r of runs) {
    process.stdout.write(`${r.name}${r.ok ? "" : " (FAILED)"} — ${r.seconds.toFixed(0)} s\n`);
    for (const h of r.headline) process.stdout.write(`  ${formatHeadline(h)}\n`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(e instanceof UsageError ? `error: ${e.message}\n` : `${(e as Error).stack ?? e}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
