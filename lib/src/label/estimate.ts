// The dry run: what labeling will cost before anything is sent. Tokens in with each model's real tokenizer, expected
// tokens out from the task's schema, dollars at the standard and the Batch API price.
import * as path from "node:path";
import type { CorpusRecord } from "../corpus";
import { apiCallCost, apiPrice, type Prices } from "../prices";
import type { Task } from "../task";
import { localTokenEstimate } from "./local";
import { openAiTokenEstimate } from "./openai";
import { fileProvider } from "./file";
import { teacherRequest } from "./providers";
import { requestKey, type AnswerStore } from "./store";
import { settings, type TeacherConfig } from "./teacher";

export interface LabelingEstimate {
  model: string;
  /** Records the estimate is for (the ones not already answered in the store, when a store is given). */
  records: number;
  alreadyStored: number;
  /** USD earlier runs into the store spent on these records (0 without a store): a budget counts it. */
  spentBeforeUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** USD at the standard price, and with the Batch API (null when the model has no batch price). 0 for local. */
  usd: number;
  usdBatch: number | null;
  perRecord: { inputTokens: number; outputTokens: number; usd: number };
}

/** Dry run: tokens in (real tokenizer), expected tokens out, dollars at the standard and batch price. With a store,
 *  records whose answer is already stored are left out (they cost nothing). The local model costs 0 and is counted
 *  with its own tokenizer; a labels file costs 0 and has no tokens. */
export async function estimateLabelingCost(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  prices?: Prices,
  opts: { store?: AnswerStore } = {},
): Promise<LabelingEstimate> {
  const s = settings(config);
  // A labels file's requests need the file read (they hold its labels): the provider builds them.
  const file = s.provider === "labels" ? await fileProvider(task, s) : null;
  const request = (r: CorpusRecord) => (file ? file.request(r.text, r.id) : teacherRequest(task, r.text, config));
  const keys = opts.store ? records.map((r) => requestKey(request(r))) : [];
  const todo = opts.store ? records.filter((_, i) => !opts.store!.has(keys[i])) : records;
  let inputTokens = 0;
  let outputTokens = 0;
  let usd = 0;
  let usdBatch: number | null = 0;
  if (s.provider === "openai") {
    if (!prices) throw new Error(`estimateLabelingCost for provider "openai" needs prices (cost.loadPrices())`);
    for (const r of todo) {
      const e = openAiTokenEstimate(task, r.text, s);
      inputTokens += e.inputTokens;
      outputTokens += e.outputTokens;
    }
    const total = { inputTokens, outputTokens };
    usd = apiCallCost(prices, s.model, total);
    usdBatch = apiPrice(prices, s.model).batch_discount === null ? null : apiCallCost(prices, s.model, total, { batch: true });
  } else if (s.provider === "local") {
    ({ inputTokens, outputTokens } = await localTokenEstimate(task, s, todo.map((r) => r.text)));
  }
  const n = Math.max(1, todo.length);
  return {
    model: file ? file.model : s.provider === "local" ? path.basename(s.model) : s.model,
    records: todo.length,
    alreadyStored: records.length - todo.length,
    spentBeforeUsd: opts.store?.spentOn(keys) ?? 0,
    inputTokens,
    outputTokens,
    usd,
    usdBatch,
    perRecord: { inputTokens: inputTokens / n, outputTokens: outputTokens / n, usd: usd / n },
  };
}
