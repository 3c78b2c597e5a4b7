// The labeled dataset the pipeline hands from step to step: the whole labeled sample as one Arrow IPC file, and the
// train/test split as JSONL in OpenAI's chat fine-tuning format (so the same files can fine-tune gpt-4o-mini at
// OpenAI, or our student through python-runtime, which reads the user text and the assistant's labels back).
import * as fs from "node:fs";
import * as path from "node:path";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { checkUniqueIds, splitTrainTest, type CorpusRecord } from "../corpus";
import * as paths from "../paths";
import { studentTarget, teacherMessages, toolDefinition, type Labels, type Task } from "../task";

/** The part of a teacher result this module needs (teacher.LabelResult satisfies it). */
export interface TeacherAnswer {
  id: string;
  status: "ok" | "failed";
  labels?: Labels;
  error?: string;
  cached: boolean;
  usage: { inputTokens: number; cachedInputTokens?: number; outputTokens: number };
  costUsd: number;
  model: string;
}

export interface LabeledRow {
  id: string;
  group: string;
  title: string;
  text: string;
  split: "train" | "test" | "none";
  status: "ok" | "failed";
  labels: Labels | null;
  error: string | null;
  teacherModel: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  cached: boolean;
}

export type FineTuneFormat = "content" | "tools";

/** One row per record with its answer, matched by id. Two records (or two answers) with one id are an error, never a
 *  guess: the last answer would otherwise label both records. */
export function joinAnswers(records: CorpusRecord[], answers: TeacherAnswer[]): LabeledRow[] {
  checkUniqueIds(records, "records");
  checkUniqueIds(answers, "answers");
  const byId = new Map(answers.map((a) => [a.id, a]));
  return records.map((r) => {
    const a = byId.get(r.id);
    return {
      id: r.id,
      group: r.group,
      title: r.title,
      text: r.text,
      split: "none",
      status: a?.status ?? "failed",
      labels: a?.status === "ok" ? (a.labels ?? null) : null,
      error: a ? (a.error ?? null) : "not labeled (run stopped before this record)",
      teacherModel: a?.model ?? "",
      inputTokens: a?.usage.inputTokens ?? 0,
      outputTokens: a?.usage.outputTokens ?? 0,
      costUsd: a?.costUsd ?? 0,
      cached: a?.cached ?? false,
    };
  });
}

/** One line of OpenAI's chat fine-tuning JSONL: the teacher's conversation, answered with the teacher's labels. */
export function fineTuneExample(task: Task, row: { text: string; labels: Labels }, format: FineTuneFormat = "content"): Record<string, unknown> {
  const messages: Record<string, unknown>[] = teacherMessages(task, row.text).map((m) => ({ role: m.role, content: m.content }));
  if (format === "content") {
    messages.push({ role: "assistant", content: studentTarget(task, row.labels) });
    return { messages };
  }
  messages.push({
    role: "assistant",
    tool_calls: [{ id: "call_1", type: "function", function: { name: task.teacher.functionName, arguments: studentTarget(task, row.labels) } }],
  });
  return { messages, tools: [toolDefinition(task)], parallel_tool_calls: false };
}

export interface PreparedDataset {
  dir: string;
  labeledFile: string;
  trainFile: string;
  testFile: string;
  counts: { labeled: number; failed: number; train: number; test: number };
  groups: { train: number; test: number; shared: number };
  rows: LabeledRow[];
}

export interface WriteOptions { dir: string; testFraction: number; seed: number; holdOutGroups?: boolean; format?: FineTuneFormat }

/** Split the successfully labeled rows and write labeled.arrow (all rows, failures included), train.jsonl, test.jsonl. */
export function writeDatasets(task: Task, rows: LabeledRow[], o: WriteOptions): PreparedDataset {
  checkUniqueIds(rows, "rows"); // the split is joined back by id
  const dir = paths.ensureDir(paths.resolve(o.dir));
  const ok = rows.filter((r) => r.status === "ok" && r.labels);
  if (ok.length < 2) throw new Error(`only ${ok.length} record(s) were labeled successfully; at least 2 are needed for a train/test split (see the failures above)`);
  const { train, test } = splitTrainTest(ok, { testFraction: o.testFraction, seed: o.seed, holdOutGroups: o.holdOutGroups });
  const splitOf = new Map<string, "train" | "test">([...train.map((r) => [r.id, "train"] as const), ...test.map((r) => [r.id, "test"] as const)]);
  const all = rows.map((r) => ({ ...r, split: splitOf.get(r.id) ?? ("none" as const) }));

  const labeledFile = path.join(dir, "labeled.arrow");
  writeLabeled(labeledFile, all);
  const write = (file: string, part: LabeledRow[]): void =>
    fs.writeFileSync(file, part.map((r) => JSON.stringify(fineTuneExample(task, { text: r.text, labels: r.labels! }, o.format))).join("\n") + (part.length ? "\n" : ""));
  const trainFile = path.join(dir, "train.jsonl");
  const testFile = path.join(dir, "test.jsonl");
  // The order of test.jsonl is the order of the test rows in labeled.arrow: inference output joins back by index.
  write(trainFile, all.filter((r) => r.split === "train"));
  write(testFile, all.filter((r) => r.split === "test"));
  const trainGroups = new Set(train.map((r) => r.group));
  const testGroups = new Set(test.map((r) => r.group));
  return {
    dir,
    labeledFile,
    trainFile,
    testFile,
    counts: { labeled: ok.length, failed: rows.length - ok.length, train: train.length, test: test.length },
    groups: { train: trainGroups.size, test: testGroups.size, shared: [...testGroups].filter((g) => trainGroups.has(g)).length },
    rows: all,
  };
}

export function writeLabeled(file: string, rows: LabeledRow[]): void {
  const col = <K extends keyof LabeledRow>(k: K): LabeledRow[K][] => rows.map((r) => r[k]);
  const table = tableFromArrays({
    id: col("id"),
    group: col("group"),
    title: col("title"),
    text: col("text"),
    split: col("split"),
    status: col("status"),
    labels: rows.map((r) => (r.labels ? JSON.stringify(r.labels) : "")),
    error: rows.map((r) => r.error ?? ""),
    teacher_model: col("teacherModel"),
    input_tokens: Int32Array.from(col("inputTokens")),
    output_tokens: Int32Array.from(col("outputTokens")),
    cost_usd: Float64Array.from(col("costUsd")),
    cached: col("cached"),
  });
  fs.writeFileSync(file, tableToIPC(table, "file"));
}

export function readLabeled(file: string): LabeledRow[] {
  const f = paths.resolve(file);
  if (!fs.existsSync(f)) throw new Error(`labeled dataset not found: ${f} (run notebook 1-label first, or pass its workDir)`);
  const table = tableFromIPC(fs.readFileSync(f));
  return table.toArray().map((r: Record<string, unknown>) => ({
    id: String(r.id),
    group: String(r.group),
    title: String(r.title),
    text: String(r.text),
    split: String(r.split) as LabeledRow["split"],
    status: String(r.status) as LabeledRow["status"],
    labels: r.labels ? (JSON.parse(String(r.labels)) as Labels) : null,
    error: r.error ? String(r.error) : null,
    teacherModel: String(r.teacher_model),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    costUsd: Number(r.cost_usd),
    cached: Boolean(r.cached),
  }));
}

/**
 * Check a chat fine-tuning JSONL against OpenAI's documented rules (the format-validation recipe in the OpenAI
 * cookbook): every line a JSON object with a `messages` list; known roles and keys only; string content (or
 * assistant tool_calls); at least one assistant message per example; at least 10 examples for a fine-tuning job.
 */
export function validateFineTuneFile(file: string): { examples: number; errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const roles = new Set(["system", "user", "assistant", "tool", "developer"]);
  const keys = new Set(["role", "content", "name", "function_call", "tool_calls", "weight", "tool_call_id"]);
  const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
  lines.forEach((line, i) => {
    const where = `${path.basename(file)} line ${i + 1}`;
    let ex: { messages?: unknown; tools?: unknown };
    try {
      ex = JSON.parse(line) as typeof ex;
    } catch {
      errors.push(`${where}: not valid JSON`);
      return;
    }
    if (!Array.isArray(ex.messages) || ex.messages.length === 0) {
      errors.push(`${where}: missing "messages" list`);
      return;
    }
    let assistants = 0;
    for (const m of ex.messages as Record<string, unknown>[]) {
      for (const k of Object.keys(m)) if (!keys.has(k)) errors.push(`${where}: unrecognized message key "${k}"`);
      if (!roles.has(String(m.role))) errors.push(`${where}: unrecognized role "${String(m.role)}"`);
      if (m.role === "assistant") {
        assistants++;
        if (typeof m.content !== "string" && !Array.isArray(m.tool_calls)) errors.push(`${where}: assistant message has neither content nor tool_calls`);
      } else if (typeof m.content !== "string") errors.push(`${where}: ${String(m.role)} message content must be a string`);
    }
    if (assistants === 0) errors.push(`${where}: no assistant message`);
  });
  if (lines.length < 10) warnings.push(`${path.basename(file)} has ${lines.length} examples; OpenAI fine-tuning needs at least 10`);
  return { examples: lines.length, errors, warnings };
}

/** How often the teacher said each value, per field (successful rows only): the label balance chart's data. */
export function labelBalance(task: Task, rows: { labels: Labels | null }[]): { field: string; counts: Record<string, number>; rateTrue: number | null }[] {
  const labeled = rows.filter((r) => r.labels);
  return task.fields.map((f) => {
    const counts: Record<string, number> = {};
    for (const r of labeled) {
      const v = String(r.labels![f.name]);
      counts[v] = (counts[v] ?? 0) + 1;
    }
    const rateTrue = f.type === "boolean" && labeled.length ? (counts["true"] ?? 0) / labeled.length : null;
    return { field: f.name, counts, rateTrue };
  });
}
