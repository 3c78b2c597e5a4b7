import * as fs from "node:fs";
import { escapeHtml } from "./html";

// Progress for long steps. Producers (teacher, runtime, cost) call an `onProgress(state)` callback; the notebook
// side renders it (one updating output in Jupyter, a line on stderr in a terminal).

export interface ProgressState {
  label: string;
  done: number;
  total: number;
  failed?: number;
  costUsd?: number;
  /** Free-form extra columns, e.g. { loss: 0.42 } or { cached: 12 }. */
  extra?: Record<string, string | number>;
}

export type OnProgress = (state: ProgressState) => void;

// ---------- rendering: one updating output in a notebook, a line on stderr in a terminal ----------
type Display = { html(s: string): void };

function newDisplay(): Display | null {
  try {
    const t = require("tslab") as { newDisplay(): Display };
    const d = t.newDisplay();
    d.html(""); // throws "Not ready" outside a kernel
    return d;
  } catch {
    return null;
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function describe(state: ProgressState, elapsedS: number): string {
  const rate = elapsedS > 0 ? state.done / elapsedS : 0;
  const eta = rate > 0 ? (state.total - state.done) / rate : Infinity;
  const pct = state.total > 0 ? Math.floor((100 * state.done) / state.total) : 100;
  const parts = [`${state.label}: ${state.done}/${state.total} (${pct}%)`, `${rate.toFixed(2)}/s`, state.done >= state.total ? `took ${formatSeconds(elapsedS)}` : `ETA ${formatSeconds(eta)}`];
  if (state.costUsd !== undefined) parts.push(`$${state.costUsd.toFixed(4)}`);
  if (state.failed) parts.push(`${state.failed} failed`);
  for (const [k, v] of Object.entries(state.extra ?? {})) parts.push(`${k} ${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : v}`);
  return parts.join(" · ");
}

/**
 * A progress bar for one long step: pass the returned function as `onProgress`. In a notebook it is one output
 * that redraws in place (marked data-volatile: rates differ run to run); on stderr it prints a line at most every
 * few seconds, and always the last state.
 */
export function bar(label: string, o: { terminalEveryMs?: number; notebookEveryMs?: number; stream?: NodeJS.WritableStream | null } = {}): OnProgress & { readonly last: ProgressState | null } {
  const started = Date.now();
  const display = newDisplay();
  const stream = o.stream === undefined ? process.stderr : o.stream;
  let lastTerminal = 0;
  let lastNotebook = 0;
  let last: ProgressState | null = null;
  const fn = ((state: ProgressState) => {
    last = { ...state, label: state.label || label };
    const now = Date.now();
    const finished = state.done >= state.total;
    const text = describe(last, (now - started) / 1000);
    if (display && (finished || now - lastNotebook >= (o.notebookEveryMs ?? 250))) {
      lastNotebook = now;
      const pct = state.total > 0 ? Math.min(100, (100 * state.done) / state.total) : 100;
      display.html(
        `<div data-volatile="progress" style="font-family:monospace;font-size:12px">` +
          `<div style="background:#eee;width:360px;height:8px"><div style="background:#4a7;height:8px;width:${pct.toFixed(1)}%"></div></div>` +
          `${escapeHtml(text)}</div>`,
      );
    }
    if (stream && (finished || now - lastTerminal >= (o.terminalEveryMs ?? 5000))) {
      lastTerminal = now;
      // Inside a kernel, process.stderr is captured into the cell's output; the terminal that runs the notebook
      // (npm start, the runner) is the kernel's real file descriptor 2.
      if (display && stream === process.stderr) fs.writeSync(2, `${text}\n`);
      else stream.write(`${text}\n`);
    }
  }) as OnProgress & { last: ProgressState | null };
  Object.defineProperty(fn, "last", { get: () => last });
  return fn;
}
