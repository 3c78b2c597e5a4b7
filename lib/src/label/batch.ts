// The OpenAI Batch API: half price, answers within 24 h. The input file holds the same bodies labelRecords would send,
// so importing the output fills the store under the same keys and labelRecords then serves them at no cost.
import * as fs from "node:fs";
import * as path from "node:path";
import type OpenAI from "openai";
import type { CorpusRecord } from "../corpus";
import * as paths from "../paths";
import { apiCallCost, loadPrices, type Prices } from "../prices";
import { parseLabels, teacherMessages, type Task } from "../task";
import { completionAnswer, openAiRequest } from "./openai";
import { requestKey, type AnswerStore } from "./store";
import { checkRecords, settings, type TeacherConfig } from "./teacher";

const batchUrl = "/v1/chat/completions";

/** Write the Batch API input JSONL ({custom_id, method, url, body} per record; custom_id = record id). */
export function writeBatchInput(task: Task, records: CorpusRecord[], config: TeacherConfig, file: string): { file: string; requests: number } {
  const s = settings(config);
  if (s.provider !== "openai") throw new Error(`writeBatchInput: the Batch API is OpenAI's; use a teacher config with provider "openai"`);
  checkRecords(records); // ids unique: custom_id must be unique in a batch, and the output is joined back by it
  const lines = records.map((r) => JSON.stringify({ custom_id: r.id, method: "POST", url: batchUrl, body: openAiRequest(task, teacherMessages(task, r.text), s) }));
  const out = paths.resolve(file);
  paths.ensureDir(path.dirname(out));
  fs.writeFileSync(out, lines.join("\n") + (lines.length ? "\n" : ""));
  return { file: out, requests: lines.length };
}

export interface BatchImport {
  /** Answers stored with labels. */
  imported: number;
  /** Lines stored as failures (error status, or an answer that did not fit the schema: labelRecords retries those). */
  failed: number;
  /** Lines whose answer was already in the store (nothing written). */
  alreadyStored: number;
  /** custom_ids that match none of the given records. */
  unmatched: string[];
  /** What the imported answers cost at the batch price. */
  costUsd: number;
}

interface BatchOutputLine {
  custom_id?: string;
  response?: { status_code?: number; body?: unknown } | null;
  error?: { code?: string; message?: string } | null;
}

/** Read a Batch API output JSONL into the store, under the keys live requests for the same records would have. */
export async function importBatchOutput(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  file: string,
  store: AnswerStore,
  prices: Prices = loadPrices(),
): Promise<BatchImport> {
  const s = settings(config);
  if (s.provider !== "openai") throw new Error(`importBatchOutput: the Batch API is OpenAI's; use a teacher config with provider "openai"`);
  checkRecords(records);
  const byId = new Map(records.map((r) => [r.id, r]));
  const source = paths.resolve(file);
  const lines = fs.readFileSync(source, "utf8").split("\n");
  const summary: BatchImport = { imported: 0, failed: 0, alreadyStored: 0, unmatched: [], costUsd: 0 };
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let out: BatchOutputLine;
    try {
      out = JSON.parse(line) as BatchOutputLine;
    } catch (err) {
      throw new Error(`${source}, line ${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof out.custom_id !== "string") throw new Error(`${source}, line ${i + 1}: no "custom_id"; is this a Batch API output file?`);
    const record = byId.get(out.custom_id);
    if (!record) {
      summary.unmatched.push(out.custom_id);
      continue;
    }
    const request = openAiRequest(task, teacherMessages(task, record.text), s);
    const key = requestKey(request);
    if (store.has(key)) {
      summary.alreadyStored += 1;
      continue;
    }
    const status = out.response?.status_code;
    if (out.error || status !== 200 || !out.response?.body) {
      const message = out.error
        ? `${out.error.code ?? "error"}: ${out.error.message ?? ""}`
        : `HTTP ${status}: ${(out.response?.body as { error?: { message?: string } } | undefined)?.error?.message ?? "no body"}`;
      await store.put({ key, request, response: out.response ?? undefined, error: `batch: ${message}`, costUsd: 0, batch: true });
      summary.failed += 1;
      continue;
    }
    const answer = completionAnswer(out.response.body as OpenAI.Chat.Completions.ChatCompletion, request, task);
    const costUsd = apiCallCost(prices, s.model, answer.usage, { batch: true });
    const parsed = answer.text === null ? { ok: false as const, error: answer.problem! } : parseLabels(task, answer.text);
    await store.put({ key, request, response: answer.response, usage: answer.usage, ...(parsed.ok ? { labels: parsed.labels } : { error: parsed.error }), costUsd, batch: true });
    summary.costUsd += costUsd;
    if (parsed.ok) summary.imported += 1;
    else summary.failed += 1;
  }
  return summary;
}
