// npm start's arguments: a parameter no notebook declares, an unknown profile or option, stops before anything runs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { runCli, tempDir } from "../../support/notebooks";

test("npm start -p: a name no notebook of the pipeline declares is refused, listing each notebook's parameters", () => {
  const out = tempDir("start-args");
  const r = runCli("start", ["-p", "sampelSize=200", "--out", out]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no notebook of the pipeline declares a parameter "sampelSize"; each notebook's parameters: 1-label: .*sampleSize.*; 2-fine-tune: .*hyperparameters/);
  const bad = runCli("start", ["--profil", "test"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown argument --profil\nusage: npm start -- \[--profile P\] \[-p name=value \.\.\.\] \[--out DIR\]/);
  const profile = runCli("start", ["--profile", "fastest", "--out", out]);
  assert.equal(profile.code, 2);
  assert.match(profile.stderr, /unknown profile "fastest"; profiles: default, cpu-quality, test/);
  assert.deepEqual(fs.readdirSync(out), [], "nothing written before the arguments are checked");
  const malformed = runCli("start", ["-p", "sampleSize"]);
  assert.match(malformed.stderr, /malformed parameter "sampleSize": expected name=value/);
});
