import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { keywords, paths, task } from "@distill/lib";

const recipes = task.loadTask();
const names = ["has_non_fish_meat", "requires_oven", "requires_stove", "cook_time_over_30_mins", "main_dish"];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "task-test-"));
const recipesJson = JSON.parse(fs.readFileSync(path.join(paths.dataDir, "tasks", "recipes.json"), "utf8"));

/** Write a task file that is recipes.json with `edit` applied, and return its path. */
function taskFile(name: string, edit: (t: any) => void): string {
  const t = structuredClone(recipesJson);
  edit(t);
  const file = path.join(tmp, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(t, null, 2));
  return file;
}

const mixedFile = taskFile("mixed", (t) => {
  t.name = "mixed";
  delete t.teacher.examples; // they label the recipe fields
  delete t.teacher.guide; // so do its examples
  delete t.keyword_rules; // and these
  t.fields = [
    { name: "cuisine", type: "enum", description: "Where the dish comes from.", values: ["french", "indian", "other"] },
    { name: "servings", type: "integer", description: "How many people it feeds.", minimum: 1, maximum: 20 },
    { name: "summary", type: "string", description: "One short sentence.", max_length: 30 },
    { name: "vegetarian", type: "boolean", description: "No meat or fish." },
  ];
});
const mixed = task.loadTask(mixedFile);

test("loadTask reads the default recipes task with its five boolean fields", () => {
  assert.equal(recipes.name, "recipes");
  assert.deepEqual(recipes.fields.map((f) => f.name), names);
  assert.ok(recipes.fields.every((f) => f.type === "boolean" && f.description.length > 20));
  assert.equal(recipes.teacher.functionName, "classify");
  assert.ok(recipes.student.promptTemplate.includes("{text}"));
  assert.equal(recipes.file, path.join(paths.dataDir, "tasks", "recipes.json"));
  assert.deepEqual(task.loadTask("data/tasks/recipes.json"), recipes, "a path relative to the project root works too");
});

test("jsonSchema: an object with every field required and no other properties", () => {
  const schema = task.jsonSchema(recipes) as any;
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required, names);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.properties), names);
  assert.equal(schema.properties.requires_oven.type, "boolean");
  assert.equal(schema.properties.requires_oven.description, recipes.fields[1].description);
});

test("toolDefinition, toolChoice and responseFormat carry the same strict schema", () => {
  const tool = task.toolDefinition(recipes);
  assert.equal(tool.type, "function");
  assert.equal(tool.function.name, "classify");
  assert.equal(tool.function.strict, true);
  assert.deepEqual(tool.function.parameters, task.jsonSchema(recipes));
  assert.deepEqual(task.toolChoice(recipes), { type: "function", function: { name: "classify" } });
  const format = task.responseFormat(recipes);
  assert.equal(format.type, "json_schema");
  assert.equal(format.json_schema.name, "classify");
  assert.equal(format.json_schema.strict, true);
  assert.deepEqual(format.json_schema.schema, task.jsonSchema(recipes));
});

test("teacherMessages: the system prompt, then the record text verbatim", () => {
  const text = "Soup\n\nIngredients:\n- water  \n";
  assert.deepEqual(task.teacherMessages(recipes, text), [
    { role: "system", content: recipes.teacher.systemPrompt },
    { role: "user", content: text },
  ]);
});

test("studentPrompt replaces every {text} literally ($ patterns and braces in the text stay as they are)", () => {
  const text = "Costs $& and $1 {text} {title}";
  const prompt = task.studentPrompt(recipes, text);
  assert.equal(prompt, recipes.student.promptTemplate.split("{text}").join(text));
  assert.ok(prompt.includes(text));
  const twice = { ...recipes, student: { ...recipes.student, promptTemplate: "A {text} B {text}" } };
  assert.equal(task.studentPrompt(twice, "x$'"), "A x$' B x$'");
});

test("studentTarget: compact JSON with keys in the task's field order, whatever the input order", () => {
  const labels = { main_dish: true, requires_stove: false, has_non_fish_meat: true, cook_time_over_30_mins: false, requires_oven: true };
  assert.equal(
    task.studentTarget(recipes, labels),
    '{"has_non_fish_meat":true,"requires_oven":true,"requires_stove":false,"cook_time_over_30_mins":false,"main_dish":true}',
  );
  assert.equal(task.studentTarget(mixed, { vegetarian: false, summary: "Hot", servings: 4, cuisine: "other" }), '{"cuisine":"other","servings":4,"summary":"Hot","vegetarian":false}');
  assert.throws(() => task.studentTarget(recipes, { main_dish: true }), /missing field has_non_fish_meat/);
});

test("studentTarget and studentPrompt match the Python rule byte for byte", () => {
  const summary = 'Tab\there "q" \\ é ☕ \u0001 \u2028'.slice(0, 30);
  const labels = { cuisine: "french", servings: 12, summary, vegetarian: true };
  const text = "Crème brûlée {text} $1\n";
  const script = [
    "import json, sys",
    "task = json.load(open(sys.argv[1]))",
    "labels = json.loads(sys.argv[2])",
    "target = json.dumps({f['name']: labels[f['name']] for f in task['fields']}, separators=(',', ':'), ensure_ascii=False)",
    "prompt = task['student']['prompt_template'].replace('{text}', sys.argv[3])",
    "sys.stdout.write(json.dumps([target, prompt]))",
  ].join("\n");
  const run = spawnSync(paths.python, ["-c", script, mixedFile, JSON.stringify(labels), text], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const [pyTarget, pyPrompt] = JSON.parse(run.stdout);
  assert.equal(task.studentTarget(mixed, labels), pyTarget);
  assert.equal(task.studentPrompt(mixed, text), pyPrompt);
});

test("parseLabels accepts a JSON string or an object", () => {
  const labels = { has_non_fish_meat: false, requires_oven: true, requires_stove: false, cook_time_over_30_mins: true, main_dish: false };
  assert.deepEqual(task.parseLabels(recipes, labels), { ok: true, labels });
  assert.deepEqual(task.parseLabels(recipes, `  ${JSON.stringify(labels)}\n`), { ok: true, labels });
});

test("parseLabels names the wrong field: wrong type, missing, extra, malformed JSON", () => {
  const good = { has_non_fish_meat: false, requires_oven: true, requires_stove: false, cook_time_over_30_mins: true, main_dish: false };
  const wrongType = task.parseLabels(recipes, { ...good, requires_oven: "yes" });
  assert.equal(wrongType.ok, false);
  assert.ok(!wrongType.ok && wrongType.field === "requires_oven");
  assert.match(!wrongType.ok ? wrongType.error : "", /field requires_oven: expected boolean, got string "yes"/);

  const { main_dish: _, ...missing } = good;
  const m = task.parseLabels(recipes, missing);
  assert.ok(!m.ok && m.field === "main_dish" && /missing field main_dish/.test(m.error));

  const extra = task.parseLabels(recipes, { ...good, spicy: true });
  assert.ok(!extra.ok && extra.field === "spicy" && /unexpected field spicy/.test(extra.error));

  const malformed = task.parseLabels(recipes, '{"has_non_fish_meat": tru');
  assert.ok(!malformed.ok && /malformed JSON/.test(malformed.error) && malformed.field === undefined);

  const notObject = task.parseLabels(recipes, "[true, false]");
  assert.ok(!notObject.ok && /expected a JSON object/.test(notObject.error));
});

test("enum, integer and string fields: schema and validation", () => {
  const schema = task.jsonSchema(mixed) as any;
  assert.deepEqual(schema.properties.cuisine, { type: "string", enum: ["french", "indian", "other"], description: "Where the dish comes from." });
  assert.deepEqual(schema.properties.servings, { type: "integer", description: "How many people it feeds.", minimum: 1, maximum: 20 });
  assert.equal(schema.properties.summary.type, "string");
  assert.match(schema.properties.summary.description, /at most 30 characters/);
  assert.deepEqual(mixed.fields[2], { name: "summary", type: "string", description: "One short sentence.", maxLength: 30 });

  const good = { cuisine: "indian", servings: 3, summary: "Dal.", vegetarian: true };
  assert.ok(task.parseLabels(mixed, good).ok);
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...good, cuisine: "thai" }, "cuisine", /field cuisine: expected one of "french", "indian", "other", got string "thai"/],
    [{ ...good, servings: 2.5 }, "servings", /field servings: expected integer, got number 2.5/],
    [{ ...good, servings: "3" }, "servings", /field servings: expected integer, got string "3"/],
    [{ ...good, servings: 21 }, "servings", /field servings: must be at most 20/],
    [{ ...good, servings: 0 }, "servings", /field servings: must be at least 1/],
    [{ ...good, summary: "x".repeat(31) }, "summary", /field summary: must be at most 30 characters, got 31 characters/],
    [{ ...good, vegetarian: null }, "vegetarian", /field vegetarian: expected boolean, got null/],
  ];
  for (const [labels, field, message] of cases) {
    const r = task.parseLabels(mixed, labels);
    assert.equal(r.ok, false, JSON.stringify(labels));
    assert.ok(!r.ok && r.field === field, `field of ${JSON.stringify(labels)}`);
    assert.match(!r.ok ? r.error : "", message);
  }
});

test("invalid task files give errors naming the file and the field", () => {
  const cases: [string, (t: any) => void, RegExp][] = [
    ["duplicate", (t) => t.fields.push({ ...t.fields[1] }), /fields\[5\]\.name.*duplicate field name "requires_oven" \(also fields\[1\]\)/],
    ["unknown-type", (t) => (t.fields[2].type = "bool"), /fields\[2\]\.type \(field "requires_stove"\): unknown type "bool"; valid types: boolean, enum, integer, string/],
    ["enum-no-values", (t) => (t.fields[0] = { name: "colour", type: "enum", description: "Its colour." }), /fields\[0\]\.values \(field "colour"\): enum field needs a non-empty "values" list/],
    ["no-description", (t) => delete t.fields[3].description, /fields\[3\]\.description \(field "cook_time_over_30_mins"\): description is required/],
    ["bad-name", (t) => (t.fields[0].name = "has meat"), /fields\[0\]\.name.*must be an identifier/],
    ["no-text", (t) => (t.student.prompt_template = "Label it:"), /student\.prompt_template: prompt_template must contain "\{text\}"/],
    ["typo-key", (t) => (t.fields[0].descripton = "x"), /fields\[0\].*descripton/],
    ["bad-example", (t) => (t.teacher.examples[1].labels.requires_oven = "yes"), /teacher\.examples\[1\]\.labels: field requires_oven: expected boolean, got string "yes"/],
    ["example-missing-field", (t) => delete t.teacher.examples[0].labels.main_dish, /teacher\.examples\[0\]\.labels: .*main_dish/],
    ["bad-guide-example", (t) => (t.teacher.guide.examples[4].labels.requires_stove = 1), /teacher\.guide\.examples\[4\]\.labels: field requires_stove: expected boolean, got number 1/],
    ["guide-without-prompt", (t) => delete t.teacher.guide.system_prompt, /teacher\.guide\.system_prompt/],
  ];
  for (const [name, edit, message] of cases) {
    const file = taskFile(name, edit);
    assert.throws(() => task.loadTask(file), (e: Error) => {
      assert.ok(e.message.includes(file), `names the file: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

test("the teacher's worked examples are loaded and validated as labels", () => {
  const t = task.loadTask("recipes");
  assert.ok(t.teacher.examples.length >= 2);
  for (const ex of t.teacher.examples) assert.ok(task.parseLabels(t, ex.labels).ok);
  // Contrasting answers: every field is both true and false somewhere, or the examples teach a constant.
  for (const f of t.fields) assert.deepEqual(new Set(t.teacher.examples.map((ex) => ex.labels[f.name])), new Set([true, false]), f.name);
});

test("a task file that is not JSON, or missing, says which and where", () => {
  const broken = path.join(tmp, "broken.json");
  fs.writeFileSync(broken, '{ "name": "broken", ');
  assert.throws(() => task.loadTask(broken), (e: Error) => e.message.includes(broken) && /not valid JSON/.test(e.message));
  assert.throws(() => task.loadTask("no-such-task"), /Task file not found: .*no-such-task\.json\. Available tasks in .*: .*recipes/);
  assert.ok(task.availableTasks().includes("recipes"));
});

test("keyword_rules: loaded in the task's field order; the first matching rule wins, else the default; mistakes are named", () => {
  const rules = recipes.keywordRules!;
  assert.deepEqual(Object.keys(rules.fields), names);
  const labels = (text: string) => keywords.applyKeywordRules(rules, text);
  assert.equal(labels("Roast Beef\n\nIngredients:\n- beef").has_non_fish_meat, true);
  assert.equal(labels("Boiled Cod\n\nIngredients:\n- a cod").has_non_fish_meat, false, "no rule fires: the default");
  assert.equal(labels("Fish\nbake or fry it").requires_oven, false, "a choice of appliance comes first and says false");
  assert.equal(labels("Fish\nbake it").requires_oven, true);

  const refused = (name: string, edit: (k: any) => void): string => {
    try {
      task.loadTask(taskFile(name, (t) => edit(t.keyword_rules)));
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  assert.match(refused("kw-unknown", (k) => (k.fields.spicy = { default: false, rules: [] })), /keyword_rules\.fields\.spicy: the task has no field "spicy"/);
  assert.match(refused("kw-missing", (k) => delete k.fields.main_dish), /keyword_rules\.fields: no entry for field "main_dish"/);
  assert.match(refused("kw-type", (k) => (k.fields.main_dish.default = "no")), /keyword_rules\.fields\.main_dish\.default: string "no" does not fit boolean field main_dish/);
  assert.match(refused("kw-regex", (k) => (k.fields.requires_oven.rules[1].if_any[0] = "(bake")), /keyword_rules\.fields\.requires_oven\.rules\[1\]\.if_any\[0\]: not a valid regular expression/);
  assert.match(refused("kw-key", (k) => (k.fields.requires_oven.rules[0].if_all = [])), /keyword_rules\.fields\.requires_oven\.rules\[0\]: Unrecognized key/);
  assert.equal(task.loadTask(taskFile("kw-none", (t) => delete t.keyword_rules)).keywordRules, null, "the section is optional");
});
