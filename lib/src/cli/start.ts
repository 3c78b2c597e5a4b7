#!/usr/bin/env node
// `npm start`: the whole pipeline on the offline default profile (no API key, no GPU): the four notebooks in order,
// each into reports/<run-id>/<notebook>/, then the run page reports/<run-id>/index.html (verdict, figures, facts,
// links) and reports/index.html (every run side by side). Ends by printing the run page's path and the verdict line.
// `npm start -- --profile P` picks another profile from data/profiles.json; `-p name=value` sets a parameter in every
// notebook that declares it (`-p sampleSize=200 -p 'hyperparameters={"max_steps":40}'`); `--out DIR` writes the run
// under DIR instead of reports/.
import * as fs from "node:fs";
import * as path from "node:path";
import { describeFailure, loadProfiles, newRunId, parametersOf, parseCliValue, readNotebook, runNotebook, UsageError, type ParamValue } from "../notebook";
import * as paths from "../paths";
import { stopWithNpm } from "../processes";
import { format, verdictLine, writeRunPage, writeRunsPage } from "../report";
import { runCli } from "./exit";

export const PIPELINE = ["1-label", "2-fine-tune", "3-inference", "4-cost"];
const USAGE = "usage: npm start -- [--profile P] [-p name=value ...] [--out DIR]";

export function parseStartArgs(argv: string[]): { profile: string; params: Record<string, ParamValue>; reportsDir: string } {
  let profile = "default";
  let reportsDir = paths.reportsDir;
  const params: Record<string, ParamValue> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--profile") profile = next();
    else if (a === "--out") reportsDir = paths.resolve(next());
    else if (a === "-p" || a === "--param") {
      const kv = next();
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new UsageError(`malformed parameter "${kv}": expected name=value`);
      params[kv.slice(0, eq)] = parseCliValue(kv.slice(eq + 1));
    } else throw new UsageError(`unknown argument ${a}\n${USAGE}`);
  }
  return { profile, params, reportsDir };
}

async function main(): Promise<number> {
  stopWithNpm(); // `kill -9` of `npm start` must not leave the run going (processes.ts)
  const args = parseStartArgs(process.argv.slice(2));
  const notebooks = PIPELINE.map((name) => ({ name, file: path.join(paths.notebooksDir, `${name}.ipynb`) })).filter((n) => fs.existsSync(n.file));
  const declared = new Map(notebooks.map((n) => [n.name, new Set(parametersOf(readNotebook(n.file), n.file).map((p) => p.name))]));
  for (const name of Object.keys(args.params)) {
    if (![...declared.values()].some((d) => d.has(name))) {
      throw new UsageError(`no notebook of the pipeline declares a parameter "${name}"; each notebook's parameters: ${[...declared].map(([n, d]) => `${n}: ${[...d].join(", ")}`).join("; ")}`);
    }
  }
  const profiles = loadProfiles();
  if (!profiles[args.profile]) throw new UsageError(`unknown profile "${args.profile}"; profiles: ${Object.keys(profiles).join(", ")} (data/profiles.json)`);
  const runId = newRunId();
  const outDir = paths.ensureDir(path.join(args.reportsDir, runId));
  let failed = false;
  for (const { name, file } of notebooks) {
    process.stderr.write(`\n=== ${name} (profile ${args.profile}) ===\n`);
    const own = Object.fromEntries(Object.entries(args.params).filter(([k]) => declared.get(name)!.has(k)));
    const r = await runNotebook({ notebook: file, profile: args.profile, params: own, outDir: path.join(outDir, name), runId });
    process.stderr.write(`${name}${r.ok ? "" : " (FAILED)"}: ${format.duration(r.record.seconds)}\n`);
    if (!r.ok) {
      process.stderr.write(describeFailure(r) + "\n");
      failed = true;
      break;
    }
  }
  const page = writeRunPage(outDir, runId);
  const all = writeRunsPage(args.reportsDir);
  process.stdout.write(`\nAll runs: ${all}\nRun page: ${page.file}\n${verdictLine(page.summary)}\n`);
  return failed ? 1 : 0;
}

runCli(main, { stack: true });
