// The task schema is data (data/tasks/<name>.json); everything else is derived from it here: the JSON Schema the
// teacher must fill, the OpenAI tool / response_format, the messages, the student's prompt and target, and the
// zod validator for labels coming back from either model.
//
// Rendering rules shared with Python (python-runtime reads the same task file and must produce the same bytes):
//   student prompt  = prompt_template with every "{text}" replaced by the record text.
//                     TS: template.split("{text}").join(text)      Python: template.replace("{text}", text)
//   student target  = compact JSON of an object whose keys are the task's fields, in the file's order.
//                     TS: JSON.stringify(obj)   Python: json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
// Both escape exactly `"`, `\` and U+0000..U+001F (as \b \f \n \r \t or lowercase \u00xx) and nothing else.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import type OpenAI from "openai";
import { keywordRulesFileSchema, keywordRulesFromFile, keywordRulesProblems, type KeywordRules } from "./keywords";
import * as paths from "./paths";

export type FieldType = "boolean" | "enum" | "integer" | "string";
export const fieldTypes: readonly FieldType[] = ["boolean", "enum", "integer", "string"];

export interface FieldSpec {
  name: string;
  type: FieldType;
  description: string;
  values?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

export interface Task {
  name: string;
  description: string;
  /** Absolute path of the task file this was loaded from. */
  file: string;
  recordTemplate: string;
  fields: FieldSpec[];
  teacher: {
    systemPrompt: string;
    functionName: string;
    functionDescription: string;
    /** Worked examples shown to the local (small) teacher before each record; API teachers do not need them. */
    examples: { text: string; labels: Labels }[];
    /** The local LLM teacher's guide-based prompt (system prompt and examples from the labeling guide), for local
     *  models that can follow it (lib/src/label/local-models.ts); null when the task file has none. */
    guide: { systemPrompt: string; examples: { text: string; labels: Labels }[] } | null;
  };
  student: { promptTemplate: string; maxInputTokens: number };
  /** A baseline that needs no model (keywords.ts): per field, regular expressions and the value they give. */
  keywordRules: KeywordRules | null;
}

export type Labels = Record<string, boolean | string | number>;

export const tasksDir = path.join(paths.dataDir, "tasks");

// ---------------------------------------------------------------------------------------------------------------
// The task file, validated with zod. Field names must be plain identifiers: they become JSON keys in the teacher's
// answers, in the student's targets and in Python, so nothing there should need quoting or escaping.

const nonEmpty = (what: string) => z.string({ error: `${what} is required (a non-empty string)` }).trim().min(1, `${what} must not be empty`);

const fieldSchema = z
  .object({
    name: nonEmpty("name").regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "name must be an identifier (letters, digits, _; not starting with a digit)"),
    type: z.enum(fieldTypes, { error: (iss) => `unknown type ${JSON.stringify(iss.input)}; valid types: ${fieldTypes.join(", ")}` }),
    description: nonEmpty("description"),
    values: z.array(nonEmpty("each value")).optional(),
    minimum: z.number().int().optional(),
    maximum: z.number().int().optional(),
    max_length: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.type === "enum") {
      if (!f.values || f.values.length === 0) ctx.addIssue({ code: "custom", path: ["values"], message: `enum field needs a non-empty "values" list` });
      else if (new Set(f.values).size !== f.values.length) ctx.addIssue({ code: "custom", path: ["values"], message: "values contain a duplicate" });
    } else if (f.values !== undefined) {
      ctx.addIssue({ code: "custom", path: ["values"], message: `"values" only applies to enum fields (this one is ${f.type})` });
    }
    if ((f.minimum !== undefined || f.maximum !== undefined) && f.type !== "integer") {
      ctx.addIssue({ code: "custom", path: ["minimum"], message: `"minimum"/"maximum" only apply to integer fields (this one is ${f.type})` });
    }
    if (f.minimum !== undefined && f.maximum !== undefined && f.minimum > f.maximum) {
      ctx.addIssue({ code: "custom", path: ["maximum"], message: `maximum ${f.maximum} is below minimum ${f.minimum}` });
    }
    if (f.max_length !== undefined && f.type !== "string") {
      ctx.addIssue({ code: "custom", path: ["max_length"], message: `"max_length" only applies to string fields (this one is ${f.type})` });
    }
  });

const examplesSchema = z.array(z.object({ text: nonEmpty("text"), labels: z.record(z.string(), z.unknown()) }).strict());

// OpenAI accepts function and response_format names matching this pattern.
const openAiName = /^[A-Za-z0-9_-]{1,64}$/;

const taskFileSchema = z
  .object({
    name: nonEmpty("name").regex(openAiName, "name may only use letters, digits, _ and - (at most 64)"),
    description: nonEmpty("description"),
    record_template: nonEmpty("record_template"),
    fields: z.array(fieldSchema).min(1, "fields must list at least one field"),
    teacher: z
      .object({
        system_prompt: nonEmpty("system_prompt"),
        function_name: nonEmpty("function_name").regex(openAiName, "function_name may only use letters, digits, _ and - (at most 64)"),
        function_description: nonEmpty("function_description"),
        examples: examplesSchema.optional(),
        guide: z.object({ about: z.string().optional(), system_prompt: nonEmpty("guide.system_prompt"), examples: examplesSchema }).strict().optional(),
      })
      .strict(),
    student: z
      .object({
        prompt_template: nonEmpty("prompt_template").refine((t) => t.includes("{text}"), `prompt_template must contain "{text}"`),
        max_input_tokens: z.number().int().positive(),
      })
      .strict(),
    keyword_rules: keywordRulesFileSchema.optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Map<string, number>();
    t.fields.forEach((f, i) => {
      const first = seen.get(f.name);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: ["fields", i, "name"], message: `duplicate field name "${f.name}" (also fields[${first}])` });
      else seen.set(f.name, i);
    });
  });

/** "fields[2].type" from a zod path, for error messages a person can follow into the JSON file. */
function pathLabel(p: readonly PropertyKey[]): string {
  let out = "";
  for (const k of p) out += typeof k === "number" ? `[${k}]` : `${out ? "." : ""}${String(k)}`;
  return out || "(top level)";
}

/** The task names available in data/tasks/. */
export function availableTasks(): string[] {
  if (!fs.existsSync(tasksDir)) return [];
  return fs.readdirSync(tasksDir).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

/** Load and validate a task: a name from data/tasks/ ("recipes", the default) or a path to a .json file. */
export function loadTask(nameOrPath: string = "recipes"): Task {
  const looksLikePath = nameOrPath.includes("/") || nameOrPath.includes(path.sep) || nameOrPath.endsWith(".json");
  const file = looksLikePath ? paths.resolve(nameOrPath) : path.join(tasksDir, `${nameOrPath}.json`);
  if (!fs.existsSync(file)) {
    throw new Error(`Task file not found: ${file}. Available tasks in ${tasksDir}: ${availableTasks().join(", ") || "(none)"}.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`Task file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = taskFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((iss) => {
      // Name the field by its "name" too when the problem is inside fields[i]: easier to find than an index.
      const [top, index] = iss.path;
      const fieldName = top === "fields" && typeof index === "number" ? (raw as { fields?: { name?: unknown }[] }).fields?.[index]?.name : undefined;
      const where = pathLabel(iss.path) + (typeof fieldName === "string" && iss.path.length > 2 ? ` (field "${fieldName}")` : "");
      return `${where}: ${iss.message}`;
    });
    throw new Error(`Task file ${file} is invalid:\n  - ${problems.join("\n  - ")}`);
  }
  const t = parsed.data;
  const task: Task = {
    name: t.name,
    description: t.description,
    file,
    recordTemplate: t.record_template,
    fields: t.fields.map((f) => ({
      name: f.name,
      type: f.type,
      description: f.description,
      ...(f.values !== undefined && { values: f.values }),
      ...(f.minimum !== undefined && { minimum: f.minimum }),
      ...(f.maximum !== undefined && { maximum: f.maximum }),
      ...(f.max_length !== undefined && { maxLength: f.max_length }),
    })),
    teacher: { systemPrompt: t.teacher.system_prompt, functionName: t.teacher.function_name, functionDescription: t.teacher.function_description, examples: [], guide: null },
    student: { promptTemplate: t.student.prompt_template, maxInputTokens: t.student.max_input_tokens },
    keywordRules: null,
  };
  // Examples are labels too: they must fit the schema they teach.
  const checkedExamples = (examples: { text: string; labels: Record<string, unknown> }[], where: string) =>
    examples.map((ex, i) => {
      const r = parseLabels(task, ex.labels);
      if (!r.ok) throw new Error(`Task file ${file} is invalid:\n  - ${where}[${i}].labels: ${r.error}`);
      return { text: ex.text, labels: r.labels };
    });
  task.teacher.examples = checkedExamples(t.teacher.examples ?? [], "teacher.examples");
  if (t.teacher.guide) task.teacher.guide = { systemPrompt: t.teacher.guide.system_prompt, examples: checkedExamples(t.teacher.guide.examples, "teacher.guide.examples") };
  // Keyword rules give labels too: each value must fit its field, each pattern must compile.
  if (t.keyword_rules) {
    const invalidValue = (name: string, v: unknown): string | null => {
      const spec = task.fields.find((f) => f.name === name)!;
      return fieldZod(spec).safeParse(v).success ? null : `${describeValue(v)} does not fit ${spec.type} field ${name}${spec.values ? ` (one of ${spec.values.join(", ")})` : ""}`;
    };
    const problems = keywordRulesProblems(t.keyword_rules, task.fields, invalidValue);
    if (problems.length > 0) throw new Error(`Task file ${file} is invalid:\n  - ${problems.join("\n  - ")}`);
    task.keywordRules = keywordRulesFromFile(t.keyword_rules, task.fields);
  }
  return task;
}

// ---------------------------------------------------------------------------------------------------------------
// Derived shapes for the teacher.

function fieldJsonSchema(f: FieldSpec): Record<string, unknown> {
  switch (f.type) {
    case "boolean":
      return { type: "boolean", description: f.description };
    case "enum":
      return { type: "string", enum: f.values, description: f.description };
    case "integer":
      return { type: "integer", description: f.description, ...(f.minimum !== undefined && { minimum: f.minimum }), ...(f.maximum !== undefined && { maximum: f.maximum }) };
    case "string":
      // OpenAI strict mode does not list maxLength among supported keywords, so the limit goes into the
      // description for the model and is enforced by labelsSchema on the way back.
      return { type: "string", description: f.maxLength !== undefined ? `${f.description} (at most ${f.maxLength} characters)` : f.description };
  }
}

/** JSON Schema of one answer: an object with every field required and nothing else allowed (OpenAI strict mode). */
export function jsonSchema(task: Task): Record<string, unknown> {
  return {
    type: "object",
    properties: Object.fromEntries(task.fields.map((f) => [f.name, fieldJsonSchema(f)])),
    required: task.fields.map((f) => f.name),
    additionalProperties: false,
  };
}

/** The one function the teacher is forced to call. */
export function toolDefinition(task: Task): OpenAI.Chat.Completions.ChatCompletionFunctionTool {
  return {
    type: "function",
    function: { name: task.teacher.functionName, description: task.teacher.functionDescription, strict: true, parameters: jsonSchema(task) },
  };
}

/** Forces the call to toolDefinition's function. */
export function toolChoice(task: Task): OpenAI.Chat.Completions.ChatCompletionNamedToolChoice {
  return { type: "function", function: { name: task.teacher.functionName } };
}

/** The same schema as a structured-output response_format, for providers or models without tool calling. */
export function responseFormat(task: Task): OpenAI.ResponseFormatJSONSchema {
  return { type: "json_schema", json_schema: { name: task.teacher.functionName, description: task.teacher.functionDescription, strict: true, schema: jsonSchema(task) } };
}

/** System prompt, then the record text verbatim as the user message. */
export function teacherMessages(task: Task, text: string): OpenAI.Chat.Completions.ChatCompletionMessageParam[] {
  return [
    { role: "system", content: task.teacher.systemPrompt },
    { role: "user", content: text },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Student prompt and target (see the rules at the top of the file).

export function studentPrompt(task: Task, text: string): string {
  return task.student.promptTemplate.split("{text}").join(text);
}

/** The training target: compact JSON with keys in the task's field order. Throws if the labels do not fit the task. */
export function studentTarget(task: Task, labels: Labels): string {
  const parsed = parseLabels(task, labels);
  if (!parsed.ok) throw new Error(`studentTarget: labels do not fit task "${task.name}": ${parsed.error}`);
  const ordered: Labels = {};
  for (const f of task.fields) ordered[f.name] = parsed.labels[f.name];
  return JSON.stringify(ordered);
}

// ---------------------------------------------------------------------------------------------------------------
// Labels coming back from a model.

// Each side names the other's keys as optional `undefined` so that `r.error` / `r.labels` also type-check in notebooks,
// where tslab compiles without strictNullChecks and so does not narrow on `r.ok`.
export type ParseResult = { ok: true; labels: Labels; error?: undefined; field?: undefined } | { ok: false; error: string; field?: string; labels?: undefined };

function fieldZod(f: FieldSpec): z.ZodType<boolean | string | number> {
  switch (f.type) {
    case "boolean":
      return z.boolean();
    case "enum":
      return z.enum(f.values as [string, ...string[]]);
    case "integer": {
      let s = z.number().int();
      if (f.minimum !== undefined) s = s.min(f.minimum);
      if (f.maximum !== undefined) s = s.max(f.maximum);
      return s;
    }
    case "string":
      return f.maxLength !== undefined ? z.string().max(f.maxLength) : z.string();
  }
}

/** The zod object schema of one answer: every field required, no extra keys. */
export function labelsSchema(task: Task) {
  return z.strictObject(Object.fromEntries(task.fields.map((f) => [f.name, fieldZod(f)])));
}

// Building the zod schema costs ~100x more than using it (zod compiles it on first use), and parseLabels runs once
// per answer and per training example, so it keeps one per task object, rebuilt if the task's fields were changed.
const labelsSchemas = new WeakMap<Task, { fields: string; schema: ReturnType<typeof labelsSchema> }>();

function cachedLabelsSchema(task: Task): ReturnType<typeof labelsSchema> {
  const fields = JSON.stringify(task.fields);
  let cached = labelsSchemas.get(task);
  if (cached === undefined || cached.fields !== fields) {
    cached = { fields, schema: labelsSchema(task) };
    labelsSchemas.set(task, cached);
  }
  return cached.schema;
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? `number ${v}` : `number ${v} (not an integer)`;
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return typeof v;
}

/**
 * Validate a model's answer: a JSON string (surrounding whitespace allowed) or an already-parsed object.
 * The error names the first wrong field, e.g. `field requires_oven: expected boolean, got string "yes"`.
 */
export function parseLabels(task: Task, raw: string | unknown): ParseResult {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw.trim());
    } catch (e) {
      const shown = raw.length > 80 ? raw.slice(0, 80) + "…" : raw;
      return { ok: false, error: `malformed JSON (${(e as Error).message}): ${JSON.stringify(shown)}` };
    }
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: `expected a JSON object with fields ${task.fields.map((f) => f.name).join(", ")}, got ${describeValue(value)}` };
  }
  const result = cachedLabelsSchema(task).safeParse(value);
  if (result.success) return { ok: true, labels: result.data as Labels };

  const obj = value as Record<string, unknown>;
  const messages: { field?: string; message: string }[] = [];
  for (const iss of result.error.issues) {
    if (iss.code === "unrecognized_keys") {
      messages.push({ field: iss.keys[0], message: `unexpected field${iss.keys.length > 1 ? "s" : ""} ${iss.keys.join(", ")} (the task has ${task.fields.map((f) => f.name).join(", ")})` });
      continue;
    }
    const name = String(iss.path[0]);
    const spec = task.fields.find((f) => f.name === name);
    const actual = obj[name];
    if (!(name in obj)) {
      messages.push({ field: name, message: `missing field ${name}` });
    } else if (spec?.type === "enum") {
      messages.push({ field: name, message: `field ${name}: expected one of ${spec.values!.map((v) => JSON.stringify(v)).join(", ")}, got ${describeValue(actual)}` });
    } else if (iss.code === "invalid_type" || (spec?.type === "integer" && !Number.isInteger(actual))) {
      messages.push({ field: name, message: `field ${name}: expected ${spec?.type ?? "a known field"}, got ${describeValue(actual)}` });
    } else if (iss.code === "too_small" || iss.code === "too_big") {
      const limit = iss.code === "too_small" ? `at least ${String(iss.minimum)}` : `at most ${String(iss.maximum)}`;
      const unit = spec?.type === "string" ? " characters" : "";
      messages.push({ field: name, message: `field ${name}: must be ${limit}${unit}, got ${spec?.type === "string" ? `${String(actual).length} characters` : describeValue(actual)}` });
    } else {
      messages.push({ field: name, message: `field ${name}: ${iss.message}` });
    }
  }
  return { ok: false, error: messages.map((m) => m.message).join("; "), ...(messages[0]?.field !== undefined && { field: messages[0].field }) };
}
