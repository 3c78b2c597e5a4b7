#!/usr/bin/env node
// `npm run bench [-- NAME ...]`: runs the benchmarks (tests/bench/*.bench.ts, compiled with the tests), each writing
// bench/results/<name>.json, then renders bench/results/README.md, one table over all results (committed).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";

interface Result { name: string; date: string; machine: Record<string, unknown>; metrics: { name: string; value: number | null; unit: string; goal?: string; met?: boolean; note?: string }[]; notes?: string[] }

export function renderMarkdown(results: Result[]): string {
  const lines = ["# Benchmark results", "", "Written by `npm run bench` from the JSON files beside this one. Speed and memory goals live here, never in tests.", ""];
  for (const r of results.sort((a, b) => a.name.localeCompare(b.name))) {
    const m = r.machine;
    lines.push(`## ${r.name}`, "", `${r.date.slice(0, 10)} · ${m.cpu} · ${m.cores} cores · ${m.memoryGiB} GiB${m.gpu ? ` · ${m.gpu}` : ""}`, "");
    lines.push("| metric | value | unit | goal | met | note |", "|---|---:|---|---|---|---|");
    for (const x of r.metrics) {
      const v = x.value === null ? "—" : Math.abs(x.value) >= 100 ? x.value.toFixed(0) : Number(x.value.toPrecision(3)).toString();
      lines.push(`| ${x.name} | ${v} | ${x.unit} | ${x.goal ?? ""} | ${x.goal ? (x.met ? "yes" : "no") : ""} | ${x.note ?? ""} |`);
    }
    lines.push("");
    if (r.notes?.length) lines.push(...r.notes.map((n) => `- ${n}`), "");
  }
  return lines.join("\n");
}

function main(): number {
  const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const tsc = spawnSync(process.execPath, [path.join(paths.root, "node_modules/typescript/bin/tsc"), "-p", "tests"], { stdio: "inherit", cwd: paths.root });
  if (tsc.status !== 0) return 1;
  const dir = path.join(paths.root, "tests", ".build", "bench");
  const benches = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".bench.js")).sort() : [];
  let failures = 0;
  for (const file of benches) {
    const name = file.replace(/\.bench\.js$/, "");
    if (only.length && !only.includes(name)) continue;
    process.stderr.write(`\n=== bench ${name} ===\n`);
    const r = spawnSync(process.execPath, [path.join(dir, file)], { stdio: "inherit", cwd: paths.root });
    if (r.status !== 0) failures++;
  }
  const resultsDir = paths.ensureDir(path.join(paths.root, "bench", "results"));
  const results = fs.readdirSync(resultsDir).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(fs.readFileSync(path.join(resultsDir, f), "utf8")) as Result);
  fs.writeFileSync(path.join(resultsDir, "README.md"), renderMarkdown(results));
  process.stderr.write(`\nwrote ${path.join(resultsDir, "README.md")} (${results.length} benchmarks)\n`);
  return failures ? 1 : 0;
}

process.exit(main());
