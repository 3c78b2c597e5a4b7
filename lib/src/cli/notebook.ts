#!/usr/bin/env node
// `npm run notebook -- notebooks/<name>.ipynb -p name=value ... [--profile P] [--out DIR] [--timeout S]`
import { describeFailure, parseCliValue, runNotebook, UsageError, type ParamValue } from "../notebook";
import { stopWithNpm } from "../processes";
import { formatHeadline } from "../report";
import { runCli } from "./exit";

const USAGE = "usage: npm run notebook -- notebooks/<name>.ipynb [-p name=value ...] [--profile P] [--out DIR] [--timeout S]";

export function parseArgs(argv: string[]): { notebook: string; params: Record<string, ParamValue>; profile: string | null; outDir?: string; timeoutS?: number } {
  const params: Record<string, ParamValue> = {};
  let notebook: string | undefined;
  let profile: string | null = null;
  let outDir: string | undefined;
  let timeoutS: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "-p" || a === "--param") {
      const kv = next();
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new UsageError(`malformed parameter "${kv}": expected name=value`);
      params[kv.slice(0, eq)] = parseCliValue(kv.slice(eq + 1));
    } else if (a === "--profile") profile = next();
    else if (a === "--out") outDir = next();
    else if (a === "--timeout") {
      timeoutS = Number(next());
      if (!(timeoutS > 0)) throw new UsageError("--timeout must be a positive number of seconds");
    } else if (a === "-h" || a === "--help") throw new UsageError(USAGE);
    else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}\n${USAGE}`);
    else if (!notebook) notebook = a;
    else throw new UsageError(`only one notebook at a time (got ${notebook} and ${a})`);
  }
  if (!notebook) throw new UsageError(`no notebook given\n${USAGE}`);
  return { notebook, params, profile, outDir, timeoutS };
}

async function main(): Promise<number> {
  stopWithNpm(); // `kill -9` of `npm run notebook` must not leave the run going (processes.ts)
  const args = parseArgs(process.argv.slice(2));
  const r = await runNotebook({ notebook: args.notebook, params: args.params, profile: args.profile, outDir: args.outDir, timeoutS: args.timeoutS });
  if (!r.ok) {
    process.stderr.write(describeFailure(r) + "\n");
    return 1;
  }
  process.stdout.write(`report: ${r.html}\nrun record: ${r.runJson}\n`);
  for (const h of r.record.headline) process.stdout.write(`  ${formatHeadline(h)}\n`);
  return 0;
}

if (require.main === module) runCli(main, { stack: true });
