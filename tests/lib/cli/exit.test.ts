// runCli (lib/src/cli/exit.ts): how every `npm run` entry point ends, exit code and message.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const exitModule = require.resolve("@distill/lib/dist/cli/exit");
const notebookModule = require.resolve("@distill/lib/dist/notebook");

function run(body: string, stack = false): { status: number | null; stdout: string; stderr: string } {
  const script = `const { runCli } = require(${JSON.stringify(exitModule)}); const { UsageError } = require(${JSON.stringify(notebookModule)}); runCli(async () => { ${body} }, { stack: ${stack} });`;
  return spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
}

test("runCli: main's number is the exit code", () => {
  assert.equal(run("return 0;").status, 0);
  assert.equal(run("return 3;").status, 3);
});

test("runCli: a usage error exits 2 with 'error: ' and its message; any other error exits 1", () => {
  const usage = run('throw new UsageError("no --corpus given");');
  assert.equal(usage.status, 2);
  assert.equal(usage.stderr, "error: no --corpus given\n");
  const plain = run('throw new Error("the model folder is missing");');
  assert.equal(plain.status, 1);
  assert.equal(plain.stderr, "the model folder is missing\n");
  const crash = run('throw new Error("boom");', true);
  assert.equal(crash.status, 1);
  assert.match(crash.stderr, /^Error: boom\n\s+at /);
});
