// Credentials in URLs never reach a file (issue 15, item 9): a password in OPENAI_BASE_URL is sent as HTTP Basic
// authorization and never written into the answer store, its errors, or the results; redactUrls covers any URL text.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { label, prices, task } from "@distill/lib";
import { redactUrls, splitCredentials } from "@distill/lib/dist/redact";
import { startFakeOpenAI } from "../support/fake-openai";

test("redactUrls: user:password@ and secret query values, in any text; other URLs untouched", () => {
  assert.equal(redactUrls("connect to http://alice:s3cret@host:8000/v1 failed"), "connect to http://[redacted]@host:8000/v1 failed");
  assert.equal(redactUrls('{"u":"https://tok3n@example.com/x"}'), '{"u":"https://[redacted]@example.com/x"}');
  assert.equal(redactUrls("https://r.openai.azure.com/openai?api-version=2024-10-21&api-key=abc123"), "https://r.openai.azure.com/openai?api-version=2024-10-21&api-key=[redacted]");
  assert.equal(redactUrls("GET /x?sig=AbC%2Fd&token=t0k&monkey=1"), "GET /x?sig=[redacted]&token=[redacted]&monkey=1");
  for (const plain of ["https://api.openai.com/v1/chat/completions", "mail me at bob@example.com", "http://host/path?q=a@b", "no url here"]) assert.equal(redactUrls(plain), plain);
  assert.deepEqual(splitCredentials("http://al%40ice:p%3Ass@h:1/v1"), { url: "http://h:1/v1", authorization: `Basic ${Buffer.from("al@ice:p:ss").toString("base64")}` });
  assert.deepEqual(splitCredentials("http://h:1/v1"), { url: "http://h:1/v1" });
});

test("OPENAI_BASE_URL with user:password: sent as Basic auth, and the password is in no file and no result", async () => {
  const fake = await startFakeOpenAI();
  const saved = { url: process.env.OPENAI_BASE_URL, key: process.env.OPENAI_API_KEY };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "redact-test-"));
  const password = "pw-LIB-s3cret-4242";
  try {
    delete process.env.OPENAI_API_KEY;
    process.env.OPENAI_BASE_URL = fake.url.replace("http://", `http://alice:${password}@`);
    const t = task.loadTask("recipes");
    const records = [{ id: "tea", title: "Tea", group: "g", text: "Tea\n\nIngredients:\n- tea\n\nDirections:\n- Boil the water" }];
    const answers = label.AnswerStore.open(path.join(dir, "store.jsonl"));
    const run = await label.labelRecords(t, records, label.teacherFromEnv({ model: "gpt-4o-mini", maxRetries: 0 }), { store: answers, prices: prices.loadPrices() });
    assert.equal(run.results[0].status, "ok", run.results[0].error);
    assert.equal(fake.requests[0].authorization, `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`);

    // A server that cannot be reached, with credentials in its URL: the failure is stored without them.
    process.env.OPENAI_BASE_URL = `http://alice:${password}@127.0.0.1:1/v1`;
    const failed = await label.labelRecords(t, [{ ...records[0], text: records[0].text + "\n- Pour" }], label.teacherFromEnv({ model: "gpt-4o-mini", maxRetries: 0 }), { store: answers, prices: prices.loadPrices() });
    assert.equal(failed.results[0].status, "failed");
    // Any error text the store is given loses its URL credentials.
    await answers.put({ key: label.requestKey({ n: 1 }), request: {}, error: `fetch http://alice:${password}@host/v1?api-key=${password} failed`, costUsd: 0 });
    await answers.close();

    const written = fs.readFileSync(answers.file, "utf8");
    assert.ok(!written.includes(password), "the store holds the password");
    assert.match(written, /http:\/\/\[redacted\]@host\/v1\?api-key=\[redacted\]/);
    assert.ok(!JSON.stringify([run, failed]).includes(password), "a result holds the password");
  } finally {
    for (const [name, value] of [["OPENAI_BASE_URL", saved.url], ["OPENAI_API_KEY", saved.key]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await fake.stop();
  }
});
