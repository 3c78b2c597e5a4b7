import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as buffer from "node:buffer";
import * as v8 from "node:v8";
import * as vm from "node:vm";
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
    // Kill at a random instant once it is writing (on a busy machine, starting node alone can take 300 ms).
    const writing = new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    await writing;
    await new Promise((r) => setTimeout(r, Math.random() * 300));
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const confirmed = out.split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l));
    assert.ok(confirmed.length > 0, "the child stored something before the kill");
    const s = AnswerStore.open(file);
    for (const key of confirmed) assert.ok(s.has(key), `answer ${key} was confirmed stored but is missing after the kill`);
    await s.close();
  }
});

test("spentUsd and spentOn(keys): every line's costUsd and unansweredUsd, failures and repairs included, after reopening", async () => {
  const file = tmpFile();
  const s = AnswerStore.open(file);
  await s.put({ key: requestKey({ n: 1 }), request: {}, usage, labels: { a: true }, costUsd: 0.25 });
  await s.put({ key: requestKey({ n: 2 }), request: {}, error: "timed out", costUsd: 0, unansweredUsd: 0.5 });
  await s.put({ key: requestKey({ n: 3 }), request: {}, usage, error: "invalid", costUsd: 0.125 });
  // A repair request's cost counts under the record's first request (rootKey).
  await s.put({ key: requestKey({ n: 4 }), request: {}, usage, labels: { a: true }, costUsd: 0.0625, rootKey: requestKey({ n: 3 }) });
  assert.equal(s.spentUsd, 0.9375);
  assert.equal(s.spentOn([requestKey({ n: 3 })]), 0.1875);
  assert.equal(s.spentOn([requestKey({ n: 1 }), requestKey({ n: 2 }), requestKey({ n: 2 })]), 0.75, "each key once");
  await s.close();
  const again = AnswerStore.open(file);
  assert.equal(again.spentUsd, 0.9375);
  assert.equal(again.spentOn([requestKey({ n: 3 })]), 0.1875);
  assert.equal(again.size, 2);
  assert.equal(again.failures, 2);
  await again.close();
});

test("two stores open on one file (two runs at once): each serves its own answers and the other's", async () => {
  const file = tmpFile();
  const a = AnswerStore.open(file);
  const b = AnswerStore.open(file);
  const keys = Array.from({ length: 6 }, (_, i) => requestKey({ i }));
  for (const [i, key] of keys.entries()) await (i % 2 === 0 ? a : b).put({ key, request: { i }, usage, labels: { i } });
  await Promise.all([a.put({ key: requestKey({ i: 6 }), request: {}, usage, labels: { i: 6 } }), b.put({ key: requestKey({ i: 7 }), request: {}, usage, labels: { i: 7 } })]);
  // a's last write found b's lines before it, so a knows every answer written up to its own; each get() is right.
  for (const [i, key] of keys.entries()) if (a.has(key)) assert.equal(a.get(key)?.labels?.i, i);
  for (const [i, key] of keys.entries()) if (b.has(key)) assert.equal(b.get(key)?.labels?.i, i);
  assert.ok(a.has(keys[1]) && a.has(keys[5]), "a read b's lines when it found the file longer than its own writes");
  await a.close();
  await b.close();
  const reopened = AnswerStore.open(file);
  assert.equal(reopened.size, 8);
  await reopened.close();
});

test("a store larger than V8's longest string (~512 MiB) reopens, streamed, without holding its answers in memory", async () => {
  // gc() so that the heap figure below is what the open store keeps, not garbage from reading it.
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "store-big-"));
  const file = path.join(dir, "store.jsonl");
  try {
    // ~1 MiB a line (a long response), written straight to disk: 560 MiB, past buffer.constants.MAX_STRING_LENGTH.
    const pad = "x".repeat(1 << 20);
    const lines = Math.ceil((buffer.constants.MAX_STRING_LENGTH + (48 << 20)) / pad.length);
    const fd = fs.openSync(file, "w");
    const small = { key: requestKey({ small: 1 }), request: { small: 1 }, usage, labels: { small: true }, costUsd: 0.5, at: "2026-01-01T00:00:00Z" };
    fs.writeSync(fd, JSON.stringify(small) + "\n" + JSON.stringify({ key: requestKey({ failed: 1 }), request: {}, error: "HTTP 500", costUsd: 0, unansweredUsd: 0.25, at: "x" }) + "\n");
    for (let i = 0; i < lines; i++) {
      fs.writeSync(fd, JSON.stringify({ key: requestKey({ i }), request: { i }, response: { pad }, usage, labels: { i }, costUsd: 0.001, at: "x" }) + "\n");
    }
    const torn = '{"key":"' + requestKey({ torn: 1 }) + '","request":{"i":';
    fs.writeSync(fd, torn);
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    assert.ok(bytes > buffer.constants.MAX_STRING_LENGTH, `the file is ${bytes} bytes`);

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const warn = console.warn;
    console.warn = () => {};
    let s: store.AnswerStore;
    try {
      s = AnswerStore.open(file);
    } finally {
      console.warn = warn;
    }
    gc();
    const heldMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    assert.ok(heldMiB < 64, `the open store holds ${heldMiB.toFixed(0)} MiB of heap for a ${(bytes / 2 ** 20).toFixed(0)} MiB file`);
    assert.equal(s.size, lines + 1);
    assert.equal(s.failures, 1);
    assert.ok(Math.abs(s.spentUsd - (0.75 + lines * 0.001)) < 1e-9, `spent ${s.spentUsd}`);
    assert.deepEqual(s.get(small.key)?.labels, { small: true });
    const last = s.get(requestKey({ i: lines - 1 }));
    assert.equal(last?.labels?.i, lines - 1);
    assert.equal((last?.response as { pad: string }).pad.length, pad.length);
    assert.equal(s.warnings.length, 1, "the torn last line is dropped");
    assert.equal(fs.statSync(file).size, bytes - torn.length, "and cut off");
    const next = requestKey({ after: 1 });
    await s.put({ key: next, request: {}, usage, labels: { after: true } });
    assert.deepEqual(s.get(next)?.labels, { after: true });
    await s.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
