// Token counts checked against figures OpenAI published in its cookbook ("How to count tokens with tiktoken"), where
// the chat counts were confirmed by the API's own usage.prompt_tokens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tokens } from "@distill/lib";

test("encodingForModel: gpt-4 and gpt-3.5 families use cl100k, newer and unknown models o200k", () => {
  for (const m of ["gpt-4", "gpt-4-0613", "gpt-4-turbo", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-0125", "ft:gpt-3.5-turbo-0125:acme::x1"]) {
    assert.equal(tokens.encodingForModel(m), "cl100k_base", m);
  }
  for (const m of ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-nano", "gpt-5", "gpt-5-mini", "ft:gpt-4o-mini-2024-07-18:acme::x1", "o3", "my-local-model"]) {
    assert.equal(tokens.encodingForModel(m), "o200k_base", m);
  }
});

test("countTokens matches the cookbook's published counts in both encodings", () => {
  assert.equal(tokens.countTokens("gpt-4", "antidisestablishmentarianism"), 6);
  assert.equal(tokens.countTokens("gpt-4o", "antidisestablishmentarianism"), 6);
  assert.equal(tokens.countTokens("gpt-4", "2 + 2 = 4"), 7);
  assert.equal(tokens.countTokens("gpt-4o", "2 + 2 = 4"), 7);
  assert.equal(tokens.countTokens("gpt-3.5-turbo-0125", "お誕生日おめでとう"), 9);
  assert.equal(tokens.countTokens("gpt-4o-mini", "お誕生日おめでとう"), 8);
  // The exact ids, so a wrong rank file cannot pass on lengths alone.
  assert.deepEqual(tokens.encoder("o200k_base").encode("tiktoken is great!"), [83, 8251, 2488, 382, 2212, 0]);
  assert.deepEqual(tokens.encoder("cl100k_base").encode("2 + 2 = 4"), [17, 489, 220, 17, 284, 220, 19]);
  assert.equal(tokens.countTokens("gpt-4o", ""), 0);
});

test("countTokens treats special-token strings in user text as plain text", () => {
  assert.ok(tokens.countTokens("gpt-4o", "ends with <|endoftext|>") > 3);
});

const cookbookMessages = [
  { role: "system", content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  { role: "system", name: "example_assistant", content: "Things working well together will increase revenue." },
  { role: "system", name: "example_user", content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: "system", name: "example_assistant", content: "Let's talk later when we're less busy about how to do better." },
  { role: "user", content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

test("estimateChatTokens equals the API's prompt_tokens on the cookbook conversation", () => {
  assert.equal(tokens.estimateChatTokens("gpt-4", cookbookMessages), 129);
  assert.equal(tokens.estimateChatTokens("gpt-3.5-turbo-0125", cookbookMessages), 129);
  assert.equal(tokens.estimateChatTokens("gpt-4o", cookbookMessages), 124);
  assert.equal(tokens.estimateChatTokens("gpt-4o-mini", cookbookMessages), 124);
});

test("estimateChatTokens with tools equals the API's prompt_tokens on the cookbook weather tool", () => {
  const tools = [
    {
      type: "function",
      function: {
        name: "get_current_weather",
        description: "Get the current weather in a given location",
        parameters: {
          type: "object",
          properties: {
            location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
            unit: { type: "string", description: "The unit of temperature to return", enum: ["celsius", "fahrenheit"] },
          },
          required: ["location"],
        },
      },
    },
  ];
  const messages = [
    { role: "system", content: "You are a helpful assistant that can answer to questions about the weather." },
    { role: "user", content: "What's the weather like in San Francisco?" },
  ];
  assert.equal(tokens.estimateChatTokens("gpt-4", messages, tools), 105);
  assert.equal(tokens.estimateChatTokens("gpt-4o-mini", messages, tools), 101);
  // The legacy `functions` shape (no wrapper) counts the same.
  assert.equal(tokens.estimateChatTokens("gpt-4o", messages, [tools[0].function]), 101);
});

async function* stream<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

test("corpusTokenStats: mean, nearest-rank quantiles, max and histogram of a known corpus", async () => {
  // Word counts 1..10 (one record each) plus one of 100: eleven records.
  const texts = [...Array.from({ length: 10 }, (_, i) => "w ".repeat(i + 1).trim()), "w ".repeat(100).trim()];
  const words = (t: string) => t.split(" ").length;
  const stats = await tokens.corpusTokenStats(stream(texts.map((text) => ({ text }))), words);
  assert.equal(stats.count, 11);
  assert.equal(stats.mean, 155 / 11);
  assert.equal(stats.p50, 6); // rank ceil(0.5 * 11) = 6
  assert.equal(stats.p90, 10); // rank ceil(9.9) = 10
  assert.equal(stats.p99, 100); // rank 11
  assert.equal(stats.max, 100);
  // max 100 -> width 5 (100 / 40 = 2.5, rounded up to 1-2-5): 21 bins from 0.
  assert.equal(stats.histogram.bins.length, 21);
  assert.deepEqual(stats.histogram.bins.slice(0, 3), [0, 5, 10]);
  assert.deepEqual(stats.histogram.counts.slice(0, 3), [4, 5, 1]); // 1-4 | 5-9 | 10
  assert.equal(stats.histogram.counts[20], 1);
  assert.equal(stats.histogram.counts.reduce((a, b) => a + b, 0), 11);
});

test("corpusTokenStats with the real tokenizer, a limit and progress", async () => {
  const records = ["antidisestablishmentarianism", "2 + 2 = 4", "tiktoken is great!", "never read"].map((text) => ({ text }));
  const seen: number[] = [];
  const stats = await tokens.corpusTokenStats(stream(records), (t) => tokens.countTokens("gpt-4o", t), {
    limit: 3,
    progressEvery: 1,
    onProgress: (p) => seen.push(p.done),
  });
  assert.equal(stats.count, 3);
  assert.equal(stats.mean, (6 + 7 + 6) / 3);
  assert.equal(stats.p50, 6);
  assert.equal(stats.max, 7);
  assert.deepEqual(stats.histogram.bins, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(stats.histogram.counts, [0, 0, 0, 0, 0, 0, 2, 1]);
  assert.deepEqual(seen, [1, 2, 3, 3]);
});

test("corpusTokenStats refuses an empty stream, a record without text and a bad count", async () => {
  await assert.rejects(tokens.corpusTokenStats(stream([]), () => 1), /empty/);
  await assert.rejects(tokens.corpusTokenStats(stream([{ title: "x" } as unknown as { text: string }]), () => 1), /record 0 has no string field "text"/);
  await assert.rejects(tokens.corpusTokenStats(stream([{ text: "a" }]), () => -1), /returned -1 for record 0/);
});

test("cachedCounter tokenizes each distinct text once and returns the same counts", () => {
  let calls = 0;
  const counter = tokens.cachedCounter((t) => {
    calls += 1;
    return tokens.countTokens("gpt-4", t);
  }, 2);
  assert.equal(counter("2 + 2 = 4"), 7);
  assert.equal(counter("2 + 2 = 4"), 7);
  assert.equal(calls, 1);
  counter("a");
  counter("b"); // the cache was full (2 entries): it restarts, still exact
  assert.equal(counter("2 + 2 = 4"), 7);
  assert.equal(calls, 4);
});
