import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { label as store } from "@distill/lib";

const { AnswerStore, requestKey, canonicalJson } = store;

function tmpFile(name = "store.jsonl"): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "store-test-")), name);
}

const usage = { inputTokens: 10, cachedInputTokens: 0, outputTokens: 5 };

test("requestKey: same request in any key order gives the same key; any change gives another", () => {
  const a = { model: "m", messages: [{ role: "user", content: "x" }], temperature: 0, tools: [{ type: "function" }] };
  const b = { tools: [{ type: "function" }], temperature: 0, messages: [{ content: "x", role: "user" }], model: "m" };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(requestKey(a), requestKey(b));
  assert.match(requestKey(a), /^[0-9a-f]{64}$/);
  assert.notEqual(requestKey(a), requestKey({ ...a, temperature: 1 }));
  assert.notEqual(requestKey(a), requestKey({ ...a, messages: [{ role: "user", content: "y" }] }));
  // Array order is part of the request.
  assert.notEqual(requestKey({ xs: [1, 2] }), requestKey({ xs: [2, 1] }));
  // Undefined fields are not sent, so they do not change the key.
  assert.equal(requestKey({ ...a, response_format: undefined }), requestKey(a));
});

test("put is on disk when it resolves; reopening serves valid answers and not failures", async () => {
  const file = tmpFile();
  const s = AnswerStore.open(file);
  const ok = requestKey({ n: 1 });
  const bad = requestKey({ n: 2 });
  await s.put({ key: ok, request: { n: 1 }, response: { r: 1 }, usage, labels: { a: true }, costUsd: 0.001 });
  assert.match(fs.readFileSync(file, "utf8"), new RegExp(ok)); // written before put resolved
  await s.put({ key: bad, request: { n: 2 }, response: { r: 2 }, usage, error: "field a: expected boolean", costUsd: 0.001 });
  assert.equal(s.get(ok)?.labels?.a, true);
  assert.equal(s.get(bad), undefined, "a failure is recorded but not served");
  assert.equal(s.failures, 1);
  await s.close();

  const again = AnswerStore.open(file);
  assert.equal(again.size, 1);
  assert.deepEqual(again.get(ok)?.response, { r: 1 });
  assert.equal(again.has(bad), false);
  assert.equal(again.failures, 1);
  assert.deepEqual(again.warnings, []);
  await again.close();
});

test("a torn last line (no newline) is dropped with a warning and cut off; appending then works", async () => {
  const file = tmpFile();
  const s = AnswerStore.open(file);
  const k1 = requestKey({ n: 1 });
  await s.put({ key: k1, request: {}, usage, labels: { a: true } });
  await s.close();
  const whole = fs.readFileSync(file, "utf8");
  fs.appendFileSync(file, '{"key":"abc","request":{"model":"gp'); // a kill in the middle of a write

  const reopened = AnswerStore.open(file);
  assert.equal(reopened.warnings.length, 1);
  assert.match(reopened.warnings[0], /incomplete last line/);
  assert.equal(fs.readFileSync(file, "utf8"), whole, "the torn bytes are truncated away");
  const k2 = requestKey({ n: 2 });
  await reopened.put({ key: k2, request: {}, usage, labels: { a: false } });
  await reopened.close();

  const third = AnswerStore.open(file);
  assert.equal(third.size, 2);
  assert.deepEqual(third.warnings, []);
  await third.close();
});

test("a last line that ends in a newline but is not JSON is dropped too; a bad middle line is an error naming it", async () => {
  const file = tmpFile();
  const s = AnswerStore.open(file);
  await s.put({ key: requestKey({ n: 1 }), request: {}, usage, labels: { a: true } });
  await s.close();
  fs.appendFileSync(file, "\u0000\u0000garbage\n");
  const reopened = AnswerStore.open(file);
  assert.equal(reopened.size, 1);
  assert.equal(reopened.warnings.length, 1);
  await reopened.put({ key: requestKey({ n: 2 }), request: {}, usage, labels: { a: true } });
  await reopened.close();

  const lines = fs.readFileSync(file, "utf8").split("\n");
  lines.splice(1, 0, "not json at all");
  fs.writeFileSync(file, lines.join("\n"));
  assert.throws(() => AnswerStore.open(file), (err: Error) => err.message.includes("line 2") && err.message.includes(file));
});

test("many concurrent puts are all durable (group commit) and keep the first answer per key", async () => {
  const file = tmpFile();
  const s = AnswerStore.open(file);
  const keys = Array.from({ length: 200 }, (_, i) => requestKey({ i }));
  await Promise.all(keys.map((key, i) => s.put({ key, request: { i }, usage, labels: { i } })));
  await s.put({ key: keys[0], request: { i: 0 }, usage, labels: { i: 999 } });
  assert.equal(s.get(keys[0])?.labels?.i, 0);
  await s.close();
  const again = AnswerStore.open(file);
  assert.equal(again.size, 200);
  for (const [i, key] of keys.entries()) assert.equal(again.get(key)?.labels?.i, i);
  await again.close();
});

test("rejects a key that is not a requestKey", async () => {
  const s = AnswerStore.open(tmpFile());
  await assert.rejects(s.put({ key: "record-1", request: {}, labels: {} }), /requestKey/);
  await s.close();
});

test("SIGKILL while writing: every put that resolved is there after reopening, and the file opens cleanly", async () => {
  const file = tmpFile();
  const libStore = require.resolve("@distill/lib/dist/label/store");
  // The child stores answers as fast as it can and prints each key once put() has resolved.
  const script = `
    const { AnswerStore, requestKey } = require(${JSON.stringify(libStore)});
    const s = AnswerStore.open(${JSON.stringify(file)});
    let i = 0;
    const pad = "x".repeat(2000);
    (async () => { for (;;) { const batch = [];
      for (let j = 0; j < 8; j++, i++) { const key = requestKey({ i }); batch.push(s.put({ key, request: { i, pad }, labels: { i } }).then(() => process.stdout.write(key + "\\n"))); }
      await Promise.all(batch); } })();`;
  for (let round = 0; round < 3; round++) {
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 300));
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const confirmed = out.split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l));
    assert.ok(confirmed.length > 0, "the child stored something before the kill");
    const s = AnswerStore.open(file);
    for (const key of confirmed) assert.ok(s.has(key), `answer ${key} was confirmed stored but is missing after the kill`);
    await s.close();
  }
});
