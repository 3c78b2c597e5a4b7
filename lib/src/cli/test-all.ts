#!/usr/bin/env node
// `npm test` (after setup): every test. TypeScript tests (lib units, notebooks executed headless, the browser test)
// run under node's test runner; python-runtime tests under pytest; ruff checks the Python. Ends with one line
// "N passed, N failed, N skipped" for CI. `npm test -- lib` (or notebooks, browser, python) runs one group.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";

const groups = ["lib", "notebooks", "browser", "python"] as const;
type Group = (typeof groups)[number];

interface Tally { passed: number; failed: number; skipped: number }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): number {
  const r = spawnSync(cmd, args, { cwd: paths.root, stdio: "inherit", env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function testFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".test.js")).map((f) => path.join(dir, f)).sort();
}

function nodeTests(selected: Group[]): Tally {
  const tsc = run(process.execPath, [path.join(paths.root, "node_modules/typescript/bin/tsc"), "-p", "tests"]);
  if (tsc !== 0) return { passed: 0, failed: 1, skipped: 0 };
  const build = path.join(paths.root, "tests", ".build");
  const files = selected.filter((g) => g !== "python").flatMap((g) => testFiles(path.join(build, g)));
  if (files.length === 0) return { passed: 0, failed: 0, skipped: 0 };
  const tap = path.join(build, "results.tap");
  fs.rmSync(tap, { force: true });
  const code = run(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tap}`, ...files]);
  const text = fs.existsSync(tap) ? fs.readFileSync(tap, "utf8") : "";
  const count = (k: string): number => Number(new RegExp(`^# ${k} (\\d+)`, "m").exec(text)?.[1] ?? 0);
  const tally = { passed: count("pass"), failed: count("fail") + count("cancelled"), skipped: count("skipped") + count("todo") };
  if (code !== 0 && tally.failed === 0) tally.failed = 1; // the runner itself failed
  return tally;
}

function pythonTests(): Tally {
  const xml = path.join(paths.root, "tests", ".build", "pytest.xml");
  fs.mkdirSync(path.dirname(xml), { recursive: true });
  fs.rmSync(xml, { force: true });
  const code = run(paths.python, ["-m", "pytest", "python-runtime/tests", "-q", `--junitxml=${xml}`]);
  const text = fs.existsSync(xml) ? fs.readFileSync(xml, "utf8") : "";
  const attr = (k: string): number => Number(new RegExp(`<testsuite [^>]*${k}="(\\d+)"`).exec(text)?.[1] ?? 0);
  const total = attr("tests");
  const failed = attr("failures") + attr("errors");
  const skipped = attr("skipped");
  const tally = { passed: total - failed - skipped, failed, skipped };
  if (code !== 0 && code !== 5 && failed === 0) tally.failed = 1;
  const ruff = run(paths.python, ["-m", "ruff", "check", "python-runtime"]);
  tally[ruff === 0 ? "passed" : "failed"] += 1;
  return tally;
}

function main(): number {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith("-")) as Group[];
  for (const g of asked) if (!groups.includes(g)) {
    process.stderr.write(`error: unknown test group "${g}"; groups: ${groups.join(", ")}\n`);
    return 2;
  }
  const selected = asked.length ? asked : [...groups];
  const total: Tally = { passed: 0, failed: 0, skipped: 0 };
  const add = (t: Tally): void => {
    total.passed += t.passed;
    total.failed += t.failed;
    total.skipped += t.skipped;
  };
  const started = Date.now();
  add(nodeTests(selected));
  if (selected.includes("python")) add(pythonTests());
  process.stdout.write(`\ntests took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  process.stdout.write(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n`);
  return total.failed === 0 && total.passed > 0 ? 0 : 1;
}

process.exit(main());
