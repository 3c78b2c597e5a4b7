import assert from "node:assert/strict";
import { test } from "node:test";
import { label, task } from "@distill/lib";

test("teacherConfig: provider auto follows the environment; a bad provider is named", () => {
  const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
  try {
    process.env.OPENAI_API_KEY = "fake-key-for-this-test-only";
    delete process.env.OPENAI_BASE_URL;
    const c = label.teacherConfig({ provider: "auto", model: "gpt-4o-mini", mode: "tool", concurrency: 8, budgetUsd: 2 });
    assert.equal(c.provider, "openai");
    assert.equal(c.model, "gpt-4o-mini");
    assert.equal(c.budgetUsd, 2);
    assert.equal(label.teacherConfig({ provider: "openai", model: "gpt-4o", mode: "tool", concurrency: 4, budgetUsd: 0 }).budgetUsd, undefined);
    assert.throws(() => label.teacherConfig({ provider: "anthropic", model: "x", mode: "tool", concurrency: 1, budgetUsd: 0 }), /teacherProvider must be "auto", "openai", "local", "labels", got "anthropic"/);
  } finally {
    if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved.key;
    if (saved.url !== undefined) process.env.OPENAI_BASE_URL = saved.url;
  }
});

test("labelBalance counts each value per field over labeled rows only", () => {
  const t = task.loadTask("recipes");
  const yes = Object.fromEntries(t.fields.map((f) => [f.name, true]));
  const no = Object.fromEntries(t.fields.map((f) => [f.name, false]));
  const balance = label.labelBalance(t, [{ labels: yes }, { labels: yes }, { labels: no }, { labels: null }]);
  assert.equal(balance.length, 5);
  for (const b of balance) {
    assert.deepEqual(b.counts, { true: 2, false: 1 });
    assert.ok(Math.abs(b.rateTrue! - 2 / 3) < 1e-12);
  }
});
