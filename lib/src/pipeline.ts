// What the four notebooks share: the layout of a pipeline's work folder (each notebook reads what the one before
// wrote) and the translation of notebook parameters into library configs. Notebook cells stay one-liners.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { importThroughput, type Prices } from "./cost";
import { readRecords, sampleRecords } from "./data";
import { readLabeled, type LabeledRow } from "./dataset";
import { agreementByGroup, disagreements, evaluateAgreement, type Evaluation } from "./evaluate";
import { infer, inferConfig, readPredictions, studentRows, type Prediction } from "./infer";
import { hardware } from "./notebook";
import * as paths from "./paths";
import { bar, heatmap, html, lines, live, type Figure } from "./plots";
import { bar as bar_, type OnProgress } from "./progress";
import { runJob, type EvalEvent, type JobEvent, type StartEvent, type StepEvent } from "./runtime";
import { AnswerStore } from "./store";
import { studentPrompt, studentTarget, teacherMessages, toolDefinition, type Labels, type Task } from "./task";
import { cachedCounter, corpusTokenStats, encodingForModel, estimateChatTokens, type ChatMessage, type TokenStats } from "./tokens";
import { estimateLabelingCost, labelRecords, teacherFromEnv, type TeacherConfig, type TeacherMode } from "./teacher";

export interface Workspace {
  dir: string;
  /** Every teacher answer, fsynced before use: paid work is never lost, and reruns are free. */
  store: string;
  labeled: string;
  train: string;
  test: string;
  batchInput: string;
  student: string;
  adapter: string;
  merged: string;
  predictions: string;
  throughput: string;
}

export function workspace(workDir: string): Workspace {
  const dir = paths.ensureDir(paths.resolve(workDir));
  const student = path.join(dir, "student");
  return {
    dir,
    store: path.join(dir, "teacher-store.jsonl"),
    labeled: path.join(dir, "labeled.arrow"),
    train: path.join(dir, "train.jsonl"),
    test: path.join(dir, "test.jsonl"),
    batchInput: path.join(dir, "batch-input.jsonl"),
    student,
    adapter: path.join(student, "adapter"),
    merged: path.join(student, "merged"),
    predictions: path.join(dir, "predictions.jsonl"),
    throughput: path.join(dir, "throughput"),
  };
}

export interface TeacherParameters { provider: string; model: string; mode: string; concurrency: number; budgetUsd: number }

/**
 * Notebook parameters -> teacher config. provider "auto": OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set,
 * else the local SmolLM2 model. `model` names the OpenAI model (the local model is the packaged GGUF).
 */
export function teacherConfig(p: TeacherParameters): TeacherConfig {
  if (!["auto", "openai", "local"].includes(p.provider)) throw new Error(`teacherProvider must be "auto", "openai" or "local", got "${p.provider}"`);
  const provider = p.provider === "auto" ? undefined : (p.provider as "openai" | "local");
  const base = teacherFromEnv(provider ? { provider } : {});
  return {
    ...base,
    ...(base.provider === "openai" ? { model: p.model } : {}),
    mode: p.mode as TeacherMode,
    concurrency: base.provider === "local" ? 1 : p.concurrency,
    ...(p.budgetUsd > 0 ? { budgetUsd: p.budgetUsd } : {}),
  };
}

/** A short name for a teacher (the GGUF file name for the local model, never a machine path). */
export function teacherName(config: TeacherConfig): string {
  return config.provider === "local" ? `local:${path.basename(config.model, ".gguf")}` : config.model;
}

// ---------------------------------------------------------------------------------------------------------------
// Notebook 2: training curves, examples, token lengths

/** Live loss / eval-loss chart fed by train events: one chart output, redrawn in place (at most twice a second). */
export function trainingCurves(title = "Training loss"): { onEvent(e: JobEvent): void; readonly start: StartEvent | null; readonly steps: StepEvent[]; readonly evals: EvalEvent[] } {
  const steps: StepEvent[] = [];
  const evals: EvalEvent[] = [];
  let start: StartEvent | null = null;
  const figure = (): Figure =>
    lines(
      [
        { name: "train loss", x: steps.map((s) => s.step), y: steps.map((s) => s.loss), mode: "lines" },
        { name: "eval loss", x: evals.map((e) => e.step), y: evals.map((e) => e.eval_loss), mode: "lines+markers" },
      ],
      { title, xTitle: "step", yTitle: "loss" },
    );
  const chart = live(figure());
  let last = 0;
  return {
    onEvent(e: JobEvent) {
      if (e.event === "start") start = e;
      else if (e.event === "step") steps.push(e);
      else if (e.event === "eval") evals.push(e);
      else if (e.event !== "done") return;
      const now = Date.now();
      if (e.event === "done" || e.event === "eval" || now - last > 500) {
        last = now;
        chart.update(figure());
      }
    },
    get start() {
      return start;
    },
    steps,
    evals,
  };
}

const escapeHtml = (s: string): string => s.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);

/**
 * The first n training examples as the student sees them: the prompt (greyed: masked, label -100, no loss) and the
 * target the loss is computed on (bold), rendered by the same functions training uses.
 */
export function showExamples(task: Task, trainFile: string, n = 2): void {
  const lines = fs.readFileSync(trainFile, "utf8").split("\n").filter(Boolean).slice(0, n);
  const blocks = lines.map((line) => {
    const ex = JSON.parse(line) as { messages: { role: string; content?: string; tool_calls?: { function: { arguments: string } }[] }[] };
    const user = ex.messages.filter((m) => m.role === "user").pop()?.content ?? "";
    const answer = ex.messages.find((m) => m.role === "assistant");
    const labels = JSON.parse(answer?.content ?? answer?.tool_calls?.[0].function.arguments ?? "{}") as Labels;
    return (
      `<pre style="white-space:pre-wrap;font-size:12px;border:1px solid #ddd;padding:6px">` +
      `<span style="color:#999" title="prompt: masked (label -100)">${escapeHtml(studentPrompt(task, user))}</span>` +
      `<b style="color:#063" title="target: trained on">${escapeHtml(studentTarget(task, labels))}</b><span style="color:#999">&lt;eos&gt;</span></pre>`
    );
  });
  html(`<div><p style="font-size:12px">Grey: the prompt (masked, no loss). Green: the target the loss is computed on.</p>${blocks.join("")}</div>`);
}

/** The student's own token counts (prompt, target + EOS) per line of a JSONL file, through python-runtime. */
export async function studentTokenLengths(model: string, taskName: string, inputFile: string, limit?: number): Promise<{ prompt: number[]; target: number[] }> {
  const out = path.join(os.tmpdir(), `distill-tokens-${process.pid}-${Date.now()}.json`);
  await runJob("tokens", { model, task_file: taskName, input_file: inputFile, output_file: out, ...(limit ? { limit } : {}) });
  const data = JSON.parse(fs.readFileSync(out, "utf8")) as { prompt_tokens: number[]; target_tokens: number[] };
  fs.rmSync(out, { force: true });
  return { prompt: data.prompt_tokens, target: data.target_tokens };
}

// ---------------------------------------------------------------------------------------------------------------
// Notebook 3: evaluation against the teacher

/** The test rows in test.jsonl's order (infer output joins back by index) with the teacher's labels. */
export function testSet(ws: Workspace): LabeledRow[] {
  return readLabeled(ws.labeled).filter((r) => r.split === "test" && r.labels);
}

/** The model the student runs as: the merged folder when notebook 2 wrote one, else base + adapter. */
export function studentModel(ws: Workspace, baseModel: string): { model: string | null; merged_dir: string | null; adapter_dir: string | null } {
  if (fs.existsSync(path.join(ws.merged, "config.json"))) return { model: null, merged_dir: ws.merged, adapter_dir: null };
  if (fs.existsSync(ws.adapter)) return { model: baseModel, merged_dir: null, adapter_dir: ws.adapter };
  throw new Error(`no fine-tuned student in ${ws.student}: run notebook 2-fine-tune first (same workDir)`);
}

/** Join the predictions file (infer over test.jsonl) back to the test rows by index, and evaluate. */
export function evaluateStudent(task: Task, rows: LabeledRow[], predictionsFile: string, seed = 0): Evaluation {
  const predictions: Prediction[] = readPredictions(predictionsFile);
  const teacherRows = rows.map((r) => ({ id: r.id, labels: r.labels! }));
  return evaluateAgreement(task, teacherRows, studentRows(predictions, rows.map((r) => r.id)), { seed });
}

/** Per-field agreement with bootstrap 95% intervals, and the kappa beside each bar. */
export function perFieldFigure(evaluation: Evaluation, title = "Agreement with the teacher, per field"): Figure {
  const f = evaluation.perField;
  return bar(f.map((x) => x.field), f.map((x) => x.agreement), {
    title,
    yTitle: "agreement (95% CI)",
    yRange: [0, 1.1],
    errorLow: f.map((x) => x.ci?.low ?? x.agreement),
    errorHigh: f.map((x) => x.ci?.high ?? x.agreement),
    text: f.map((x) => (x.kappa.value === null ? "κ n/a" : `κ ${x.kappa.value.toFixed(2)}`)),
  });
}

export function confusionFigures(evaluation: Evaluation): Figure[] {
  return evaluation.perField.map((f) => {
    const z = f.confusion.counts.map((row, i) => [...row, f.confusion.noAnswer[i]]);
    return heatmap(z, [...f.confusion.classes.map((c) => `student ${c}`), "no answer"], f.confusion.classes.map((c) => `teacher ${c}`), { title: f.field });
  });
}

export function byGroupFigure(evaluation: Evaluation, rows: LabeledRow[]): Figure {
  const groups = agreementByGroup(evaluation, rows);
  return bar(groups.map((g) => `${g.group} (${g.records})`), groups.map((g) => g.agreement), {
    title: "Agreement by source book (held-out books)",
    yTitle: "agreement",
    yRange: [0, 1.1],
    errorLow: groups.map((g) => g.ci?.low ?? g.agreement),
    errorHigh: groups.map((g) => g.ci?.high ?? g.agreement),
  });
}

/** Disagreements as flat rows for a danfojs table: text, the differing fields, both labels. */
export function disagreementRows(task: Task, rows: LabeledRow[], evaluation: Evaluation, o: { field?: string; limit?: number; seed?: number } = {}): Record<string, string>[] {
  return disagreements(task, rows, evaluation, o).map((d) => ({
    id: d.id,
    fields: d.fields.join(", "),
    teacher: d.fields.map((f) => `${f}=${String(d.teacher[f])}`).join(" "),
    student: d.student ? d.fields.map((f) => `${f}=${String(d.student![f])}`).join(" ") : `unparseable: ${d.error ?? ""}`,
    text: d.text,
  }));
}

/** A baseline: the same test set labeled by another API model through the teacher (stored, budgeted like labeling). */
export async function baseline(task: Task, ws: Workspace, rows: LabeledRow[], model: string, o: { budgetUsd: number; prices: Prices; concurrency: number }): Promise<{ name: string; evaluation: Evaluation | null; note: string }> {
  if (!process.env.OPENAI_API_KEY && !process.env.OPENAI_BASE_URL) return { name: model, evaluation: null, note: "skipped: set OPENAI_API_KEY (or OPENAI_BASE_URL) to compare with this model" };
  const config = teacherConfig({ provider: "openai", model, mode: "tool", concurrency: o.concurrency, budgetUsd: o.budgetUsd });
  const answers = AnswerStore.open(ws.store);
  const run = await labelRecords(task, rows.map((r) => ({ id: r.id, text: r.text, group: r.group, title: r.title })), config, { store: answers, prices: o.prices, onProgress: bar_(`baseline ${model}`) });
  const student = run.results.map((r) => ({ id: r.id, labels: r.status === "ok" ? (r.labels ?? null) : null, error: r.error ?? null }));
  const evaluation = evaluateAgreement(task, rows.map((r) => ({ id: r.id, labels: r.labels! })), student);
  return { name: model, evaluation, note: `${run.totals.failed} failed, $${run.totals.costUsd.toFixed(4)}` };
}

/** Every baseline model in turn (each skips with a note when no key is set). */
export async function baselines(task: Task, ws: Workspace, rows: LabeledRow[], models: string[], o: { budgetUsd: number; prices: Prices; concurrency: number }): Promise<{ name: string; evaluation: Evaluation | null; note: string }[]> {
  const out: { name: string; evaluation: Evaluation | null; note: string }[] = [];
  for (const model of models) out.push(await baseline(task, ws, rows, model, o));
  return out;
}

/** Evaluation summary kept in the workspace for notebook 4 (agreement per option for the Pareto plot). */
export function saveEvaluation(ws: Workspace, rows: { name: string; agreement: number; kappa: number | null }[]): void {
  fs.writeFileSync(path.join(ws.dir, "evaluation.json"), JSON.stringify(rows, null, 2) + "\n");
}

export function loadEvaluation(ws: Workspace): { name: string; agreement: number; kappa: number | null }[] {
  const f = path.join(ws.dir, "evaluation.json");
  return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as { name: string; agreement: number; kappa: number | null }[]) : [];
}

export function meanKappa(evaluation: Evaluation): number | null {
  const ks = evaluation.perField.map((f) => f.kappa.value).filter((k): k is number => k !== null);
  return ks.length ? ks.reduce((a, b) => a + b, 0) / ks.length : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Notebook 4: throughput over corpus records

/** Write n corpus records as {id, text} JSONL (the infer job's corpus input). */
export async function writeCorpusSample(corpus: string | string[], n: number, seed: number, file: string): Promise<number> {
  const { records } = await sampleRecords(corpus, { n, seed, dedupe: false });
  fs.writeFileSync(file, records.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");
  return records.length;
}

export interface ApiTokens {
  /** Average input and output tokens per record, per API model (its own encoding). */
  byModel: Record<string, { input: number; output: number }>;
  /** Input-token statistics per encoding over the sample. */
  stats: Record<string, TokenStats>;
  records: number;
}

/**
 * Tokens per labeling request with each model's real tokenizer: the teacher's messages and forced function counted
 * as OpenAI bills them (input), and the expected answer (output, from the schema, as the labeling estimate does).
 * Streams the corpus; `sample` > 0 counts a seeded sample instead of every record.
 */
export async function apiTokens(task: Task, corpus: string | string[], models: string[], o: { sample: number; seed: number; prices: Prices; onProgress?: OnProgress }): Promise<ApiTokens> {
  const byEncoding = new Map<string, string>();
  for (const m of models) if (!byEncoding.has(encodingForModel(m))) byEncoding.set(encodingForModel(m), m);
  const tools = [toolDefinition(task)];
  const records = o.sample > 0 ? (await sampleRecords(corpus, { n: o.sample, seed: o.seed, dedupe: false })).records : null;
  const stats: Record<string, TokenStats> = {};
  for (const [encoding, model] of byEncoding) {
    const count = cachedCounter((text: string) => estimateChatTokens(model, teacherMessages(task, text) as ChatMessage[], tools));
    stats[encoding] = await corpusTokenStats(records ?? readRecords(corpus), count, { onProgress: o.onProgress });
  }
  const byModel: ApiTokens["byModel"] = {};
  for (const m of models) {
    const probe = await estimateLabelingCost(task, [{ id: "probe", text: "x", group: "", title: "" }], { provider: "openai", model: m }, o.prices);
    byModel[m] = { input: stats[encodingForModel(m)].mean, output: probe.perRecord.outputTokens };
  }
  return { byModel, stats, records: stats[encodingForModel(models[0])].count };
}

/**
 * Student throughput: measured here by infer over n corpus records (not the test set: the corpus is the real job),
 * or, with `importFrom`, read from another run's run.json (a GPU run priced on a CPU machine).
 */
export async function measureThroughput(ws: Workspace, student: ReturnType<typeof studentModel>, o: { corpus: string | string[]; n: number; seed: number; taskName: string; batchSize: number; engine: string; importFrom?: string; onProgress?: OnProgress }): Promise<{ recordsPerSecond: number; tokensPerSecond: number; hardware: string; records: number; engine: string }> {
  if (o.importFrom) return { ...(await importThroughput(o.importFrom)), records: 0, engine: `imported from ${o.importFrom}` };
  paths.ensureDir(ws.throughput);
  const input = path.join(ws.throughput, "corpus-sample.jsonl");
  await writeCorpusSample(o.corpus, o.n, o.seed, input);
  const r = await infer(inferConfig({ ...student, task_file: o.taskName, input_file: input, output_file: path.join(ws.throughput, "predictions.jsonl"), batch_size: o.batchSize, engine: o.engine as "auto" }), { onProgress: o.onProgress });
  const hw = hardware();
  return {
    recordsPerSecond: r.metrics.records_per_s,
    tokensPerSecond: r.metrics.tokens_per_s,
    hardware: r.metrics.device.startsWith("cuda") && hw.gpu ? hw.gpu : `${hw.cpu} (${hw.cores} cores, CPU)`,
    records: r.metrics.records,
    engine: r.metrics.engine,
  };
}

/** Total cost against number of records: API (per record) vs the student (labeling + training once, then per record). */
export function breakEvenFigure(o: { api: { name: string; usdPerRecord: number }[]; student: { usdPerRecord: number; fixedUsd: number }; maxRecords: number }): Figure {
  const xs = Array.from({ length: 60 }, (_, i) => Math.round(10 ** ((i / 59) * Math.log10(o.maxRecords))));
  return lines(
    [
      ...o.api.map((a) => ({ name: a.name, x: xs, y: xs.map((n) => n * a.usdPerRecord), mode: "lines" })),
      { name: "student (labeling + training + inference)", x: xs, y: xs.map((n) => o.student.fixedUsd + n * o.student.usdPerRecord), mode: "lines" },
    ],
    { title: "Total cost by number of records", xTitle: "records", yTitle: "USD", logX: true, logY: true },
  );
}

/** Notebook 2 keeps its training metrics in the workspace, for the break-even in notebook 4. */
export function saveTraining(ws: Workspace, metrics: { runtime_s: number; steps: number; tokens_seen: number }, start: StartEvent | null): void {
  paths.ensureDir(ws.student);
  const facts = { device: start?.device ?? null, params_total: start?.params_total ?? null, params_trainable: start?.params_trainable ?? null };
  fs.writeFileSync(path.join(ws.student, "training.json"), JSON.stringify({ ...metrics, ...facts }, null, 2) + "\n");
}

/**
 * What the student costs once, before it labels anything: the labeled sample priced at the teacher's rate (what a
 * real teacher would charge for it, even when this run used the free local one), plus the training time at a GPU rate.
 */
export function fixedCosts(ws: Workspace, teacherUsdPerRecord: number, gpu: { usd_per_hour: number; gpu: string } | undefined): { labeling: number; training: number; total: number; labeledRecords: number; trainingHours: number; note: string } {
  const labeledRecords = fs.existsSync(ws.labeled) ? readLabeled(ws.labeled).filter((r) => r.status === "ok").length : 0;
  const trainFile = path.join(ws.student, "training.json");
  const trained = fs.existsSync(trainFile) ? (JSON.parse(fs.readFileSync(trainFile, "utf8")) as { runtime_s: number; device: string | null }) : null;
  const trainingHours = (trained?.runtime_s ?? 0) / 3600;
  const labeling = labeledRecords * teacherUsdPerRecord;
  const training = trainingHours * (gpu?.usd_per_hour ?? 0);
  const note = `${labeledRecords} labeled records at the teacher's price; ${(trainingHours * 60).toFixed(1)} min of training (on ${trained?.device ?? "?"}) at ${gpu ? `$${gpu.usd_per_hour}/h (${gpu.gpu})` : "$0"}`;
  return { labeling, training, total: labeling + training, labeledRecords, trainingHours, note };
}

/** Agreement (notebook 3) against corpus cost (the cost table) for every option measured in both. */
export function paretoPoints(agreements: { name: string; agreement: number }[], table: { option: string; kind: string; usdPerCorpus: number }[]): { name: string; x: number; y: number }[] {
  return agreements.flatMap((a) => {
    const row = a.name === "student" ? table.find((r) => r.kind === "student") : table.find((r) => r.option === a.name && r.kind === "api");
    return row ? [{ name: a.name === "student" ? `student (${row.option})` : a.name, x: row.usdPerCorpus, y: a.agreement }] : [];
  });
}

/**
 * Model FLOPs utilization of a measured inference run against its GPU's peak (data/hardware.json): the job is
 * prefill-bound, so 2 x params FLOP per token is the yardstick. On a CPU there is no meaningful peak: returns null
 * with the reason, and the notebook says so instead of drawing.
 */
export function utilization(measured: { tokensPerSecond: number; hardware: string }, paramsTotal: number | null): { figure: Figure | null; mfu: number | null; note: string } {
  const peaks = (JSON.parse(fs.readFileSync(path.join(paths.dataDir, "hardware.json"), "utf8")) as { gpus: { match: string; bf16_dense_tflops: number; measured_matmul_tflops: number | null }[] }).gpus;
  const gpu = peaks.find((g) => measured.hardware.includes(g.match));
  if (!gpu) return { figure: null, mfu: null, note: `measured on ${measured.hardware}: MFU is reported for GPU runs only (run this notebook on a GPU, or import a GPU run's throughput)` };
  if (!paramsTotal) return { figure: null, mfu: null, note: "the student's parameter count is unknown (run notebook 2 in this workDir)" };
  const achieved = (2 * paramsTotal * measured.tokensPerSecond) / 1e12;
  const bars = [{ name: "achieved", v: achieved }, ...(gpu.measured_matmul_tflops ? [{ name: "measured matmul peak", v: gpu.measured_matmul_tflops }] : []), { name: "datasheet peak", v: gpu.bf16_dense_tflops }];
  const mfu = achieved / gpu.bf16_dense_tflops;
  return { figure: bar(bars.map((b) => b.name), bars.map((b) => b.v), { title: `TFLOP/s on ${measured.hardware}: MFU ${(100 * mfu).toFixed(1)}%`, yTitle: "TFLOP/s (bf16)" }), mfu, note: `MFU ${(100 * mfu).toFixed(1)}% of ${gpu.bf16_dense_tflops} TFLOP/s` };
}

/** The student's parameter count, as notebook 2 recorded it. */
export function studentParams(ws: Workspace): number | null {
  const f = path.join(ws.student, "training.json");
  return fs.existsSync(f) ? ((JSON.parse(fs.readFileSync(f, "utf8")) as { params_total?: number | null }).params_total ?? null) : null;
}
