// What notebook 2 (fine-tune) calls besides train and merge: a live loss chart, the first examples as the student
// sees them, the student's token lengths, and the training facts notebook 4 prices (training.json).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { escapeHtml } from "../html";
import * as paths from "../paths";
import type { Workspace } from "../paths";
import { html, lines, live, type Figure } from "../report/plots";
import { runJob, type EvalEvent, type JobEvent, type StartEvent, type StepEvent } from "../runtime";
import { studentPrompt, studentTarget, type Labels, type Task } from "../task";
import type { Readout } from "./jobs";

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

/** What fit_readout did (nothing is shown when the preset does not fit one): the training labels' accuracy at the
 * value slots before and after, i.e. how much the fitted direction reads from the frozen model's states. */
export function showReadout(readout: Readout | null | undefined): void {
  if (!readout) return;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  html(
    `<table style="font-size:12px"><caption>Readout fitted by logistic regression on ${readout.examples} training examples (${readout.fields.length} boolean fields)</caption>` +
      `<tr><th>train accuracy before</th><th>after</th><th>|direction|</th></tr>` +
      `<tr><td>${pct(readout.train_accuracy_before)}</td><td>${pct(readout.train_accuracy_after)}</td><td>${readout.direction_norm.toFixed(2)}</td></tr></table>`,
  );
}

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

/** Notebook 2 keeps its training metrics in the workspace, for the break-even in notebook 4. */
export function saveTraining(ws: Workspace, metrics: { runtime_s: number; steps: number; tokens_seen: number }, start: StartEvent | null): void {
  paths.ensureDir(ws.student);
  const facts = { device: start?.device ?? null, params_total: start?.params_total ?? null, params_trainable: start?.params_trainable ?? null };
  fs.writeFileSync(path.join(ws.student, "training.json"), JSON.stringify({ ...metrics, ...facts }, null, 2) + "\n");
}

/** The student's parameter count, as notebook 2 recorded it. */
export function studentParams(ws: Workspace): number | null {
  const f = path.join(ws.student, "training.json");
  return fs.existsSync(f) ? ((JSON.parse(fs.readFileSync(f, "utf8")) as { params_total?: number | null }).params_total ?? null) : null;
}
