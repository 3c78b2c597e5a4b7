// The TS and Python task readers stay in step: every task file (data/tasks/, plus the edge cases in
// tests/fixtures/tasks/) is loaded by both, and what each derives from it must be the same bytes: the student prompt
// for a set of record texts, the student target of valid labels, the JSON schema, and the verdict on a set of good and
// bad label objects (accepted or not, the normalised labels, the field named). Error wording differs on purpose (each
// side's messages are tested on their own); the verdicts may not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { keywords, paths, task } from "@distill/lib";

const taskFiles = [
  ...task.availableTasks().map((name) => path.join(paths.dataDir, "tasks", `${name}.json`)),
  ...fs.readdirSync(path.join(paths.root, "tests", "fixtures", "tasks")).filter((f) => f.endsWith(".json")).sort().map((f) => path.join(paths.root, "tests", "fixtures", "tasks", f)),
];

const texts = ["", "Plain text.", "Crème brûlée {text} $1 $& \\n\n\ttab", "😀 emoji \u0000 nul \u2028 sep", "{{text}}", " leading and trailing spaces "];

// Texts that fire keyword rules (the fixtures' and the recipes task's), then the 1,200 recipes of the reference labels:
// the keyword rules must give the same labels in both regex dialects on all of them.
const keywordTexts = [
  ...texts,
  "Poulet à la crème\n\nIngredients:\n- a chicken\n\nDirections:\n- Stew 40 minutes",
  "BEEF CURRY FOR A CROWD\nbake in a hot oven for two hours",
  "Dal for one\n- ready in 20 minutes, no meat",
  "Béchamel Sauce\nmelt butter in a saucepan; roux; Ragoût of veal; SAUTÉ the onions",
  "Oysters à la Poulette\nscald the oysters; bake or fry",
  ...fs.readFileSync(path.join(paths.dataDir, "reference-labels", "labels.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { text: string }).text),
];

type Labels = Record<string, unknown>;

/** A valid value for every field, then label objects that break one rule each (and some that keep every rule). */
function labelCases(t: task.Task): { good: Labels; cases: Labels[] } {
  const good: Labels = {};
  const cases: Labels[] = [];
  for (const f of t.fields) {
    if (f.type === "boolean") good[f.name] = true;
    else if (f.type === "enum") good[f.name] = f.values![f.values!.length - 1];
    else if (f.type === "integer") good[f.name] = f.minimum ?? 0;
    else good[f.name] = "ok";
  }
  const withValue = (name: string, value: unknown): Labels => ({ ...good, [name]: value });
  cases.push(good, Object.fromEntries(Object.entries(good).reverse()), { ...good, extra: 1 }, {});
  for (const f of t.fields) {
    const { [f.name]: _, ...missing } = good;
    cases.push(missing, withValue(f.name, null), withValue(f.name, [good[f.name]]), withValue(f.name, { value: good[f.name] }));
    if (f.type === "boolean") cases.push(withValue(f.name, false), withValue(f.name, "true"), withValue(f.name, 1), withValue(f.name, 0));
    if (f.type === "enum") {
      for (const v of f.values!) cases.push(withValue(f.name, v), withValue(f.name, v.toUpperCase()), withValue(f.name, ` ${v}`));
      cases.push(withValue(f.name, ""), withValue(f.name, 0));
    }
    if (f.type === "integer") {
      const lo = f.minimum ?? -1_000_000;
      const hi = f.maximum ?? 1_000_000;
      for (const v of [lo, lo - 1, hi, hi + 1, 2.5, -0.5, 1e15, String(lo), true]) cases.push(withValue(f.name, v));
    }
    if (f.type === "string") {
      const n = f.maxLength ?? 50;
      for (const v of ["", " ", "x".repeat(n), "x".repeat(n + 1), "é".repeat(n), "😀".repeat(n), "😀".repeat(n + 1), "e\u0301".repeat(Math.max(1, Math.floor(n / 2))), 7, false]) cases.push(withValue(f.name, v));
    }
  }
  return { good, cases };
}

interface Derived {
  prompts: string[];
  target: string;
  schema: string;
  verdicts: { ok: boolean; labels: string | null; field: string | null }[];
  /** The keyword rules' labels for each of keywordTexts (null when the task has none). */
  keywords: Labels[] | null;
}

function fromTypeScript(file: string, cases: Labels[], good: Labels): Derived {
  const t = task.loadTask(file);
  return {
    prompts: texts.map((x) => task.studentPrompt(t, x)),
    target: task.studentTarget(t, good as task.Labels),
    schema: JSON.stringify(task.jsonSchema(t)),
    verdicts: cases.map((c) => {
      const r = task.parseLabels(t, c);
      return r.ok ? { ok: true, labels: task.studentTarget(t, r.labels), field: null } : { ok: false, labels: null, field: r.field ?? null };
    }),
    keywords: t.keywordRules ? keywordTexts.map((x) => keywords.applyKeywordRules(t.keywordRules!, x)) : null,
  };
}

// The Python side: the same derivations through distill_runtime.task, the field named taken from its message
// ("field X: ..." or "unexpected field(s) X, ...").
const pythonScript = `
import json, re, sys
from distill_runtime.task import json_schema, keyword_labels, load_task, render_prompt, render_target, validate_labels
job = json.load(sys.stdin)
t = load_task(job["file"])
def verdict(value):
    labels, error = validate_labels(t, value)
    if labels is not None:
        return {"ok": True, "labels": render_target(t, labels), "field": None}
    m = re.match(r"field (\\w+):|unexpected fields? (\\w+)", error)
    return {"ok": False, "labels": None, "field": (m.group(1) or m.group(2)) if m else None}
out = {
    "prompts": [render_prompt(t, x) for x in job["texts"]],
    "target": render_target(t, job["good"]),
    "schema": json.dumps(json_schema(t), separators=(",", ":"), ensure_ascii=False),
    "verdicts": [verdict(c) for c in job["cases"]],
    "keywords": [keyword_labels(t, x) for x in job["keywordTexts"]] if t.keyword_rules else None,
}
sys.stdout.write(json.dumps(out, ensure_ascii=False))
`;

function fromPython(file: string, cases: Labels[], good: Labels): Derived {
  const run = spawnSync(paths.python, ["-c", pythonScript], { input: JSON.stringify({ file, texts, cases, good, keywordTexts }), encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Derived;
}

for (const file of taskFiles) {
  test(`${path.relative(paths.root, file)}: TS and Python derive the same prompt, target, schema and verdicts`, () => {
    const { good, cases } = labelCases(task.loadTask(file));
    const ts = fromTypeScript(file, cases, good);
    const py = fromPython(file, cases, good);
    ts.prompts.forEach((p, i) => assert.equal(py.prompts[i], p, `prompt of ${JSON.stringify(texts[i])}`));
    assert.equal(py.target, ts.target, "target");
    assert.equal(py.schema, ts.schema, "JSON schema");
    assert.equal(py.verdicts.length, cases.length);
    ts.verdicts.forEach((v, i) => assert.deepEqual(py.verdicts[i], v, `verdict on ${JSON.stringify(cases[i])}`));
    assert.equal(py.keywords === null, ts.keywords === null, "both read the keyword rules");
    ts.keywords?.forEach((labels, i) => assert.deepEqual(py.keywords![i], labels, `keyword labels of ${JSON.stringify(keywordTexts[i].slice(0, 80))}`));
  });
}

// A keyword_rules section that is wrong in one way each: both readers refuse it (and both accept the good one).
test("keyword_rules: TS and Python accept and refuse the same sections", () => {
  const fixture = path.join(paths.root, "tests", "fixtures", "tasks", "mixed.json");
  const good = JSON.parse(fs.readFileSync(fixture, "utf8")) as { keyword_rules: { fields: Record<string, { default: unknown; rules: Record<string, unknown>[] }> } };
  const variants: [string, (k: typeof good.keyword_rules) => void][] = [
    ["good", () => {}],
    ["a field without an entry", (k) => delete k.fields.summary],
    ["an entry for an unknown field", (k) => (k.fields.spicy = { default: false, rules: [] })],
    ["a boolean default that is a string", (k) => (k.fields.vegetarian.default = "true")],
    ["an enum value outside the list", (k) => (k.fields.cuisine.rules[0].then = "thai")],
    ["an integer above the maximum", (k) => (k.fields.servings.default = 21)],
    ["a string over max_length", (k) => (k.fields.summary.default = "far too long a summary")],
    ["an invalid regular expression", (k) => (k.fields.vegetarian.rules[0].if_any = ["(unclosed"])],
    ["an empty pattern list", (k) => (k.fields.vegetarian.rules[0].if_any = [])],
    ["an empty pattern", (k) => (k.fields.vegetarian.rules[0].if_any = [""])],
    ["an unknown key in a rule", (k) => (k.fields.vegetarian.rules[0].if_all = ["x"])],
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "distill-keyword-rules-"));
  const files = variants.map(([name, change], i) => {
    const copy = structuredClone(good);
    change(copy.keyword_rules);
    const file = path.join(dir, `variant-${i}.json`);
    fs.writeFileSync(file, JSON.stringify(copy));
    return { name, file };
  });
  const fromTs = files.map(({ file }) => {
    try {
      task.loadTask(file);
      return "accepted";
    } catch (e) {
      assert.match((e as Error).message, /keyword_rules/, "the error names the section");
      return "refused";
    }
  });
  const script = `
import json, sys
from distill_runtime.errors import JobError
from distill_runtime.task import load_task
out = []
for f in json.load(sys.stdin):
    try:
        load_task(f)
        out.append("accepted")
    except JobError as e:
        out.append("refused" if "keyword_rules" in str(e) else "refused elsewhere: " + str(e))
print(json.dumps(out))
`;
  const run = spawnSync(paths.python, ["-c", script], { input: JSON.stringify(files.map((f) => f.file)), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const fromPy = JSON.parse(run.stdout) as string[];
  assert.deepEqual(fromTs, ["accepted", ...variants.slice(1).map(() => "refused")]);
  files.forEach(({ name }, i) => assert.equal(fromPy[i], fromTs[i], name));
});

test("the parity test covers every shipped task and the edge cases, good and bad labels", () => {
  assert.ok(taskFiles.some((f) => f.endsWith(path.join("data", "tasks", "recipes.json"))));
  assert.ok(taskFiles.filter((f) => f.includes(path.join("fixtures", "tasks"))).length >= 2);
  const { cases } = labelCases(task.loadTask(taskFiles[taskFiles.length - 1]));
  const verdicts = fromTypeScript(taskFiles[taskFiles.length - 1], cases, cases[0]).verdicts;
  assert.ok(verdicts.some((v) => v.ok) && verdicts.some((v) => !v.ok), "both accepted and rejected labels");
});
