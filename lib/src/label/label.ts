// Labeling: every record through the teacher, without ever paying twice for an answer. Each request is built exactly,
// hashed (store.requestKey) and looked up in the answer store first; a bought answer is fsynced to the store before
// it is used. Retries and timeouts (in the provider), concurrency, the budget (budget.ts: each request's worst case
// reserved before it is sent), one repair round for an invalid answer and progress are handled here, the same for
// every provider, so a notebook only calls labelRecords().
import OpenAI from "openai";
import pLimit from "p-limit";
import type { CorpusRecord } from "../corpus";
import type { Prices } from "../prices";
import type { OnProgress } from "../progress";
import { parseLabels, type Labels, type Task } from "../task";
import { Budget, type Reservation } from "./budget";
import { createProvider } from "./providers";
import { AnswerStore, requestKey, type StoreEntry, type StoreUsage } from "./store";
import { checkRecords, RequestFailure, settings, type Answer, type Message, type TeacherConfig } from "./teacher";

export interface LabelResult {
  id: string;
  /** "failed" also covers records not sent because the budget was reached (error says so, attempts 0). */
  status: "ok" | "failed";
  labels?: Labels;
  error?: string;
  /** Requests sent for this record in this run (0 when served from the store). */
  attempts: number;
  /** True when no new answer was bought for it in this run. */
  cached: boolean;
  /** Tokens of the answer(s) this record's labels come from, also when they came from the store. */
  usage: StoreUsage;
  /** USD paid in this run for this record (0 when cached, 0 for a local model). */
  costUsd: number;
  model: string;
}

export interface LabelRun {
  results: LabelResult[];
  totals: {
    ok: number;
    failed: number;
    cached: number;
    /** Of the failed: never sent because the budget was reached. */
    skipped: number;
    /** USD paid for the answers bought in this run. */
    costUsd: number;
    /** The worst case counted for requests that got no answer but may have been billed (timeouts, lost connections). */
    unansweredUsd: number;
    /** What earlier runs into the store spent on these records (counted with a budget only). */
    spentBeforeUsd: number;
    inputTokens: number;
    outputTokens: number;
    seconds: number;
  };
  stoppedByBudget: boolean;
  /** What the provider had to say about the run (a labels file: records it has no label for, labels not used). */
  notes: string[];
}

// The one retry for an invalid answer is a new request: the conversation so far, the model's answer, and what was
// wrong with it. It differs from the first request, so it has its own key, and the bad answer stays a failure.
function repairRequest(request: Record<string, unknown>, answer: Answer, error: string, task: Task): Record<string, unknown> {
  const messages = [...(request.messages as Message[])];
  const completion = answer.response as OpenAI.Chat.Completions.ChatCompletion | undefined;
  const toolCall = completion?.choices?.[0]?.message?.tool_calls?.[0];
  if (request.tools && toolCall) {
    messages.push(
      { role: "assistant", content: null, tool_calls: [toolCall] },
      { role: "tool", tool_call_id: toolCall.id, content: `Invalid arguments: ${error}. Call ${task.teacher.functionName} again with every field filled correctly.` },
    );
  } else {
    messages.push(
      { role: "assistant", content: answer.text ?? "" },
      { role: "user", content: `That answer is invalid: ${error}. Answer again with a JSON object that has every field filled correctly.` },
    );
  }
  return { ...request, messages };
}

/** Label every record, in order. Answers already in the store are served from it at no cost; new ones are fsynced to
 *  the store before they are used. A failed record does not stop the run. Throws the signal's reason when aborted
 *  (answers stored so far are kept), and refuses to start when the estimate is over what is left of config.budgetUsd
 *  (the budget counts what earlier runs into the same store spent on these records). */
export async function labelRecords(
  task: Task,
  records: CorpusRecord[],
  config: TeacherConfig,
  opts: { store: AnswerStore; prices?: Prices; onProgress?: OnProgress; signal?: AbortSignal },
): Promise<LabelRun> {
  const s = settings(config);
  checkRecords(records);
  const { store, signal, onProgress } = opts;
  signal?.throwIfAborted();
  const started = performance.now();
  const provider = await createProvider(task, s, opts.prices);
  // A record's request and key are built when its turn comes, so the first requests go out at once instead of after
  // all of them are hashed (~50 µs each); a budget check needs them all up front.
  const requests: Record<string, unknown>[] = new Array(records.length);
  const keys: string[] = new Array(records.length);
  const prepare = (i: number) => {
    if (keys[i] === undefined) {
      requests[i] = provider.request(records[i].text, records[i].id);
      keys[i] = requestKey(requests[i]);
    }
  };
  if (s.budgetUsd !== undefined) records.forEach((_, i) => prepare(i));

  // Per-record cost bounds matter for the budget (and loading the tokenizer takes a second), so they are counted up
  // front only with one; without, only for a request that got no answer (its worst case is recorded).
  const bounds: { expectedUsd: number; worstUsd: number }[] = new Array(records.length);
  const boundOf = (i: number) => (bounds[i] ??= provider.costBounds(records[i].text));
  // What earlier runs into this store spent on these same requests counts: a resumed run stays within one budget.
  const budget = new Budget(s.budgetUsd, s.budgetUsd === undefined ? 0 : store.spentOn(keys));
  if (s.budgetUsd !== undefined) {
    const todo = records.filter((_, i) => !store.has(keys[i]));
    const estimate = records.reduce((sum, _, i) => sum + (store.has(keys[i]) ? 0 : boundOf(i).expectedUsd), 0);
    if (estimate > 0 && estimate > budget.leftAtStartUsd) {
      const before = budget.spentBeforeUsd > 0 ? `, plus $${budget.spentBeforeUsd.toFixed(4)} earlier runs spent on these records,` : "";
      throw new Error(
        `Estimated cost $${estimate.toFixed(4)} for ${todo.length} records not yet in the store${before} exceeds budgetUsd $${s.budgetUsd}. ` +
          `Raise budgetUsd to at least ${Math.ceil((estimate + budget.spentBeforeUsd) * 100) / 100} in the teacher config, or label fewer records.`,
      );
    }
  }

  let done = 0;
  let failed = 0;
  let cachedCount = 0;
  let skipped = 0;
  // `answer` is set when the answer was bought in this run (the repair step needs the raw answer).
  type Obtained = { entry: StoreEntry; attempts: number; answer?: Answer };
  const inflight = new Map<string, Promise<Obtained | null>>();

  let crashed: { error: unknown } | null = null; // e.g. the store cannot be written: start nothing more
  const check = () => {
    signal?.throwIfAborted();
    if (crashed) throw crashed.error;
  };
  // At most `concurrency` requests in flight. A request holds its slot while it is sent (and retried) and gives it
  // back as soon as its answer is in hand, before the answer is written and fsynced: the next request need not wait
  // for the disk (at concurrency 64 that wait cost about a tenth of the throughput).
  const sending = pLimit(s.concurrency);

  // One answer for a request: from the store, from a request already in flight in this run (same text twice), or
  // bought now and stored before it is returned. `worstUsd`: the record's worst case, which the budget reserves;
  // `rootKey`: the key of the record's first request, when this is its repair (the store counts its cost there).
  async function obtain(key: string, request: Record<string, unknown>, worstUsd: () => number, rootKey: string): Promise<(Obtained & { fresh: boolean }) | null> {
    const root = rootKey === key ? {} : { rootKey };
    const stored = store.get(key);
    if (stored) return { entry: stored, attempts: 0, fresh: false };
    const shared = inflight.get(key);
    if (shared) {
      const got = await shared;
      return got && { ...got, attempts: 0, fresh: false };
    }
    const buying = (async (): Promise<Obtained | null> => {
      let reservation: Reservation | null = null;
      let sent;
      try {
        sent = await sending(async () => {
          check();
          reservation = await budget.reserve(worstUsd, check);
          if (reservation === null) return null;
          const held: Reservation = reservation;
          try {
            const { answer, attempts, unanswered } = await provider.send(request, signal, { unanswered: () => held.unanswered() });
            held.settleUnanswered(unanswered); // a provider without the hook reports them here
            const costUsd = provider.cost(answer.usage);
            held.paid(costUsd); // counted once the answer is here, so the next reservation sees it
            return { answer, attempts, costUsd };
          } catch (err) {
            if (err instanceof RequestFailure) {
              held.settleUnanswered(err.unanswered);
              return err;
            }
            throw err;
          } finally {
            held.release();
          }
        });
      } catch (err) {
        const held = reservation as Reservation | null;
        if (held && signal?.aborted) {
          // Aborted in flight: the server may still do and bill it. Record its worst case, so a resumed run counts it.
          held.unanswered();
          await store.put({ key, request, error: "aborted while in flight (the server may have answered and billed it)", costUsd: 0, unansweredUsd: held.unansweredUsd, ...root }).catch(() => {});
        }
        throw err;
      }
      if (sent === null) return null;
      const unansweredUsd = (reservation as Reservation | null)?.unansweredUsd ?? 0;
      const unanswered = unansweredUsd > 0 ? { unansweredUsd } : {};
      if (sent instanceof RequestFailure) {
        const entry = await store.put({ key, request, error: sent.message, costUsd: 0, ...unanswered, ...root });
        return { entry, attempts: sent.attempts };
      }
      const { answer, attempts, costUsd } = sent;
      const parsed = answer.text === null ? { ok: false as const, error: answer.problem! } : parseLabels(task, answer.text);
      const entry = await store.put({
        key,
        request,
        response: answer.response,
        usage: answer.usage,
        ...(parsed.ok ? { labels: parsed.labels } : { error: parsed.error }),
        costUsd,
        ...unanswered,
        ...root,
        ...(s.batchPricing ? { batch: true } : {}),
      });
      return { entry, attempts, answer };
    })();
    inflight.set(key, buying);
    try {
      const got = await buying;
      return got && { ...got, fresh: true };
    } finally {
      inflight.delete(key);
    }
  }

  async function labelOne(i: number): Promise<LabelResult> {
    const record = records[i];
    const usage: StoreUsage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 };
    let costUsd = 0;
    let attempts = 0;
    let cached = true;
    prepare(i);
    let request = requests[i];
    let key = keys[i];
    const result = (fields: Pick<LabelResult, "status" | "labels" | "error">): LabelResult => ({
      id: record.id,
      ...fields,
      attempts,
      cached,
      usage,
      costUsd,
      model: provider.model,
    });
    for (let round = 1; ; round++) {
      const got = await obtain(key, request, () => boundOf(i).worstUsd, keys[i]);
      if (!got) {
        skipped += 1;
        return result({ status: "failed", error: `not sent: the budget of $${s.budgetUsd} was reached` });
      }
      attempts += got.attempts;
      const u = got.entry.usage;
      if (u) {
        usage.inputTokens += u.inputTokens;
        usage.cachedInputTokens += u.cachedInputTokens;
        usage.outputTokens += u.outputTokens;
      }
      if (got.fresh) {
        cached = false;
        costUsd += got.entry.costUsd ?? 0;
      }
      if (got.entry.labels && got.entry.error === undefined) return result({ status: "ok", labels: got.entry.labels });
      // An answer that came back but did not fit the schema gets one more chance, as a new request naming the error.
      // (Only answers bought in this run can be invalid here: the store serves valid ones only.) A file cannot answer
      // differently when asked again, so its invalid labels fail at once.
      if (round === 1 && got.answer && !provider.answersAreFinal) {
        request = repairRequest(request, got.answer, got.entry.error!, task);
        key = requestKey(request);
        continue;
      }
      return result({ status: "failed", error: got.entry.error });
    }
  }

  // Records in progress: those whose requests are out, and as many again being stored or waiting for a slot.
  const limit = pLimit(2 * s.concurrency);
  const results: LabelResult[] = new Array(records.length);
  const settled = await Promise.allSettled(
    records.map((_, i) =>
      limit(async () => {
        signal?.throwIfAborted();
        if (crashed) throw crashed.error;
        const r = await labelOne(i).catch((error: unknown) => {
          crashed ??= { error };
          throw error;
        });
        results[i] = r;
        done += 1;
        if (r.status === "failed") failed += 1;
        if (r.cached && r.status === "ok") cachedCount += 1;
        const seconds = (performance.now() - started) / 1000;
        onProgress?.({ label: `teacher ${provider.model}`, done, total: records.length, failed, costUsd: budget.spentUsd, extra: { cached: cachedCount, "rate/s": Math.round((done / Math.max(seconds, 1e-3)) * 10) / 10 } });
      }),
    ),
  );
  if (signal?.aborted) throw signal.reason;
  const crash = settled.find((p) => p.status === "rejected");
  if (crash) throw (crash as PromiseRejectedResult).reason;

  const totals = { ok: 0, failed: 0, cached: 0, skipped, costUsd: 0, unansweredUsd: 0, spentBeforeUsd: budget.spentBeforeUsd, inputTokens: 0, outputTokens: 0, seconds: (performance.now() - started) / 1000 };
  for (const r of results) {
    if (r.status === "ok") totals.ok += 1;
    else totals.failed += 1;
    if (r.status === "ok" && r.cached) totals.cached += 1;
    totals.costUsd += r.costUsd;
    totals.inputTokens += r.usage.inputTokens;
    totals.outputTokens += r.usage.outputTokens;
  }
  totals.unansweredUsd = budget.unansweredUsd;
  return { results, totals, stoppedByBudget: budget.stopped, notes: provider.notes?.() ?? [] };
}
