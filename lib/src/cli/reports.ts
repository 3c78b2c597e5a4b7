#!/usr/bin/env node
// `npm run reports [-- DIR]`: rebuild every run page (DIR/<run-id>/index.html) and the runs table (DIR/index.html)
// from the run.json files alone; DIR defaults to reports/. Safe to run at any time, during a run included.
import * as fs from "node:fs";
import * as paths from "../paths";
import { rebuildReports } from "../report";

function main(): number {
  const args = process.argv.slice(2);
  if (args.some((a) => a.startsWith("-")) || args.length > 1) {
    process.stderr.write("usage: npm run reports [-- DIR]   (DIR defaults to reports/)\n");
    return 2;
  }
  const dir = paths.resolve(args[0] ?? paths.reportsDir);
  if (!fs.existsSync(dir)) {
    process.stderr.write(`error: no reports folder at ${dir}: run \`npm start\` first, or name the folder that holds the runs\n`);
    return 2;
  }
  const r = rebuildReports(dir);
  process.stdout.write(`${r.runPages.length} run page(s) rebuilt\nAll runs: ${r.index}\n`);
  return 0;
}

process.exit(main());
