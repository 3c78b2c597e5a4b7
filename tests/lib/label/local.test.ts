// The local teacher: which prompt each model gets, and order independence (a record gets the same answer whatever was
// labeled before it in the process), with the real SmolLM2-135M GGUF that setup installs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { label, paths, task as taskLib, type corpus } from "@distill/lib";

const task = taskLib.loadTask("recipes");

function openStore(): label.AnswerStore {
  return label.AnswerStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "local-teacher-test-")), "store.jsonl"));
}

describe("the local teacher's prompt: short or the labeling guide, per model", () => {
  const smollm2 = paths.smollm2Gguf();

  test("SmolLM2 keeps the short prompt (byte for byte the request it had); Qwen and unknown models get the guide", () => {
    assert.equal(label.localPromptFor(task, smollm2), "short");
    assert.equal(label.localPromptFor(task, path.join(label.modelsDir, label.qwenParts.file)), "guide");
    assert.equal(label.localPromptFor(task, "/somewhere/mistral-7b.Q4_K_M.gguf"), "guide");
    assert.equal(label.localPromptFor(task, smollm2, "guide"), "guide", "an explicit prompt wins");
    const noGuide = { ...task, teacher: { ...task.teacher, guide: null } };
    assert.equal(label.localPromptFor(noGuide, "/somewhere/other.gguf"), "short");

    const short = label.teacherRequest(task, "Toast", { provider: "local", model: smollm2 }).messages as { role: string; content: string }[];
    assert.ok(short[0].content.startsWith(`${task.teacher.systemPrompt}\n\nAnswer with a JSON object`));
    assert.equal(short.length, 1 + 2 * task.teacher.examples.length + 1);
    const guide = label.teacherRequest(task, "Toast", { provider: "local", model: smollm2, prompt: "guide" }).messages as { role: string; content: string }[];
    assert.ok(guide[0].content.startsWith(`${task.teacher.guide!.systemPrompt}\n\nAnswer with a JSON object`));
    assert.equal(guide.length, 1 + 2 * task.teacher.guide!.examples.length + 1);
    assert.deepEqual(guide.at(-1), { role: "user", content: "Toast" });
    assert.throws(() => label.teacherRequest(noGuide, "Toast", { provider: "local", model: smollm2, prompt: "guide" }), /prompt "guide" needs teacher\.guide in the task file/);
    assert.throws(() => label.teacherRequest(task, "Toast", { provider: "local", model: smollm2, prompt: "long" as never }), /TeacherConfig\.prompt must be "short" or "guide", got "long"/);
  });

  test("the guide lives in the task file; API teachers and the student's data keep their own prompts", () => {
    const guide = task.teacher.guide!;
    assert.match(guide.systemPrompt, /has_non_fish_meat/);
    for (const f of task.fields) assert.deepEqual(new Set(guide.examples.map((ex) => ex.labels[f.name])), new Set([true, false]), `the guide's examples show both answers for ${f.name}`);
    assert.equal(label.teacherRequest(task, "Toast", { provider: "openai", model: "gpt-4o-mini" }).messages instanceof Array, true);
    const apiSystem = (label.teacherRequest(task, "Toast", { provider: "openai", model: "gpt-4o-mini" }).messages as { content: string }[])[0].content;
    assert.equal(apiSystem, task.teacher.systemPrompt);
    const example = label.fineTuneExample(task, { text: "Toast", labels: task.teacher.examples[0].labels }) as { messages: { role: string; content: string }[] };
    assert.equal(example.messages[0].content, task.teacher.systemPrompt, "train.jsonl does not change with the local teacher's prompt");
    assert.equal(taskLib.studentPrompt(task, "Toast"), task.student.promptTemplate.replace("{text}", "Toast"));
  });

  test("notebook 1's localTeacher: a name or a .gguf path; a model that is not installed says how to install it", () => {
    assert.equal(label.teacherConfig({ provider: "local", model: "gpt-4.1-mini", mode: "tool", concurrency: 8, budgetUsd: 0, localTeacher: "smollm2" }).model, smollm2);
    assert.equal(label.teacherConfig({ provider: "local", model: "gpt-4.1-mini", mode: "tool", concurrency: 8, budgetUsd: 0 }).model, smollm2, "SmolLM2 by default");
    assert.equal(label.teacherConfig({ provider: "local", model: "x", mode: "tool", concurrency: 8, budgetUsd: 0, localTeacher: smollm2 }).model, smollm2);
    assert.throws(() => label.teacherConfig({ provider: "local", model: "x", mode: "tool", concurrency: 8, budgetUsd: 0, localTeacher: "gpt2" }), /Unknown local teacher "gpt2"/);
    if (!fs.existsSync(path.join(label.modelsDir, label.qwenParts.file))) {
      assert.throws(() => label.localTeacherFile("qwen"), /Local teacher "qwen" \(Qwen2\.5-Coder-1\.5B-Instruct \(Q4_K_M\)\) is not installed: .* Run `npm run install-teacher -- qwen`/);
    } else {
      assert.equal(label.localTeacherFile("qwen"), path.join(label.modelsDir, label.qwenParts.file));
    }
  });
});

// Recipes chosen to catch carried-over state: B is A minus its last character (a near-duplicate shares almost every
// token with A, so a reused sequence would evaluate only B's last tokens after A), C and D start like A.
const base = "Stewed Beef\n\nIngredients:\n- 2 lb. of beef\n- 1 onion\n- flour\n\nDirections:\n- Cut the beef small and stew it gently two hours with the onion\n- Thicken with flour.";
const records: corpus.CorpusRecord[] = [
  { id: "a", text: base, group: "order", title: "Stewed Beef" },
  { id: "b", text: base.slice(0, -1), group: "order", title: "Stewed Beef" },
  { id: "c", text: "Stewed Apples\n\nIngredients:\n- 6 apples\n- sugar\n\nDirections:\n- Stew the apples with the sugar until soft.", group: "order", title: "Stewed Apples" },
  { id: "d", text: "Stewed Beef Salad\n\nIngredients:\n- cold beef\n- lettuce\n\nDirections:\n- Slice the beef over the lettuce.", group: "order", title: "Stewed Beef Salad" },
];

describe("the local teacher is order independent (SmolLM2-135M, real llama.cpp)", () => {
  after(async () => {
    await label.disposeLocalTeacher();
  });

  test("the same records in three orders, one after another in one process (and two at once): identical answers", async () => {
    const cfg = label.teacherFromEnv({ provider: "local", threads: 1 });
    const runs: { order: string[]; concurrency: number }[] = [
      { order: ["a", "b", "c", "d"], concurrency: 1 },
      { order: ["d", "b", "c", "a"], concurrency: 1 }, // same slot: starts after d, and a now follows c
      { order: ["c", "a", "d", "b"], concurrency: 2 }, // two slots labeling at once
    ];
    const answers: Record<string, unknown>[] = [];
    for (const run of runs) {
      const store = openStore();
      const ordered = run.order.map((id) => records.find((r) => r.id === id)!);
      const r = await label.labelRecords(task, ordered, { ...cfg, concurrency: run.concurrency }, { store });
      const byId: Record<string, unknown> = {};
      for (const x of r.results) {
        assert.equal(x.status, "ok", x.error);
        const entry = store.get(label.requestKey(label.teacherRequest(task, records.find((rec) => rec.id === x.id)!.text, cfg)))!;
        byId[x.id] = { labels: x.labels, raw: (entry.response as { text: string }).text, usage: x.usage };
      }
      answers.push(byId);
    }
    // Labels, the raw answer text, and the tokens each record was evaluated on (what was reused from the sequence):
    // a reused sequence shows up in the usage even when the labels happen not to flip.
    assert.deepEqual(answers[1], answers[0], "second order, same slot");
    assert.deepEqual(answers[2], answers[0], "two slots at once");
    const usage = (id: string) => (answers[0][id] as { usage: label.StoreUsage }).usage;
    assert.equal(usage("a").cachedInputTokens, usage("b").cachedInputTokens, "b (a near-duplicate of a) reuses only the fixed prefix");
    assert.ok(usage("a").cachedInputTokens > 100, "the fixed prefix (system prompt and examples) is evaluated once, not per record");
  });
});
