// The headless notebook runner: papermill's conventions, for a TypeScript (tslab) kernel.
// 1. Find the cell tagged `parameters`; its lines `const name = <JSON literal>;` are the notebook's parameters.
// 2. Insert after it a cell tagged `injected-parameters` with the given values (validated: known name, same type).
// 3. Execute with nbclient (python -m distill_runtime.nbexec), stopping at the first failing cell.
// 4. Write reports/<run-id>/: the executed .ipynb, a self-contained .html, and run.json (metadata + results).
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import { EXIT_WITH_PARENT, trackGroup, untrackGroup } from "../processes";
import { redactUrls } from "../redact";
import { git, hardware, versions, type Hardware } from "./machine";
import { injectParameters, parametersOf, readNotebook, UsageError, validateParameters, type Parameter, type ParamValue } from "./parameters";
import { profileValues } from "./profiles";

// ---------- run metadata ----------
export interface RunRecord {
  runId: string;
  notebook: string;
  profile: string | null;
  parameters: Record<string, ParamValue>;
  /** What every parameter would be under `npm start` (the notebook's defaults, then the default profile's values):
   *  the run pages list the parameters that differ from these. */
  defaults: Record<string, ParamValue>;
  git: { commit: string | null; dirty: boolean | null };
  versions: Record<string, string | null>;
  hardware: Hardware;
  start: string;
  end: string;
  seconds: number;
  kernelSeconds: number | null;
  cells: { index: number; seconds: number }[];
  ok: boolean;
  error: { index: number; source: string; text: string } | null;
  headline: { label: string; value: string | number; unit?: string }[];
  results: Record<string, unknown>;
}

export function newRunId(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

export interface RunOptions {
  notebook: string;
  params?: Record<string, ParamValue>;
  profile?: string | null;
  /** Report folder; default reports/<run-id>. */
  outDir?: string;
  runId?: string;
  timeoutS?: number;
  /** Extra environment for the kernel (e.g. DISTILL_WORK_DIR in tests). */
  env?: Record<string, string>;
  /** Write progress lines to stderr (the kernel's own stderr passes through). */
  quiet?: boolean;
}

/** The values `npm start` would give this notebook: its declared defaults under the default profile. */
function startDefaults(name: string, declared: Parameter[]): Record<string, ParamValue> {
  const own = Object.fromEntries(declared.map((d) => [d.name, d.value]));
  try {
    return { ...own, ...profileValues("default", name, declared) };
  } catch {
    return own; // no "default" profile in data/profiles.json
  }
}

export interface RunResult { ok: boolean; outDir: string; ipynb: string; html: string; runJson: string; record: RunRecord }

export function kernelInstalled(): boolean {
  return fs.existsSync(path.join(paths.venvDir, "share", "jupyter", "kernels", "tslab", "kernel.json"));
}

export async function runNotebook(opts: RunOptions): Promise<RunResult> {
  const file = paths.resolve(opts.notebook);
  const nb = readNotebook(file);
  const name = path.basename(file, ".ipynb");
  const declared = parametersOf(nb, file);
  const values = { ...(opts.profile ? profileValues(opts.profile, name, declared) : {}), ...(opts.params ?? {}) };
  validateParameters(declared, values, path.relative(paths.root, file));
  if (!kernelInstalled()) throw new UsageError("the tslab kernel is not registered in .venv: run `npm run setup`");

  const runId = opts.runId ?? newRunId();
  const outDir = paths.ensureDir(opts.outDir ? paths.resolve(opts.outDir) : path.join(paths.reportsDir, runId));
  const injected = path.join(outDir, `.${name}.injected.ipynb`);
  const ipynb = path.join(outDir, `${name}.ipynb`);
  const html = path.join(outDir, `${name}.html`);
  const resultsFile = path.join(outDir, `.${name}.results.json`);
  fs.writeFileSync(injected, JSON.stringify(injectParameters(nb, values), null, 1));
  fs.rmSync(resultsFile, { force: true });

  const start = new Date();
  const summary = await new Promise<{ ok: boolean; cells: { index: number; seconds: number }[]; error: RunRecord["error"]; kernel_seconds?: number }>(
    (resolve, reject) => {
      // Its own process group, tracked (../processes.ts): a signal to this runner, or its exit, ends the executor, and
      // the executor's SIGTERM handler ends the kernel; if this runner is SIGKILLed, the executor gets SIGTERM from
      // Linux (DISTILL_EXIT_WITH_PARENT names us). Either way no notebook keeps running without its runner.
      const child = spawn(
        paths.python,
        ["-m", "distill_runtime.nbexec", "--in", injected, "--out", ipynb, "--html", html, "--cwd", path.dirname(file), "--timeout", String(opts.timeoutS ?? 3600), "--plotly-js", paths.plotlyJs()],
        {
          cwd: paths.root,
          detached: true,
          env: { ...process.env, ...opts.env, DISTILL_RESULTS_FILE: resultsFile, DISTILL_NOTEBOOK: name, DISTILL_RUN_ID: runId, [EXIT_WITH_PARENT]: String(process.pid) },
          stdio: ["ignore", "pipe", opts.quiet ? "pipe" : "inherit"],
        },
      );
      trackGroup(child);
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", (e) => {
        untrackGroup(child);
        reject(e);
      });
      child.on("close", (code, signal) => {
        untrackGroup(child);
        const line = out.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`the notebook executor ${signal ? `was killed by ${signal}` : `failed (exit ${code})`} before reporting${err || out ? `:\n${(err || out).slice(-3000)}` : ""}`));
        }
      });
    },
  );
  const end = new Date();
  fs.rmSync(injected, { force: true });
  const results = fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, "utf8")) as { headline?: RunRecord["headline"]; results?: Record<string, unknown> }) : {};
  fs.rmSync(resultsFile, { force: true });
  const record: RunRecord = {
    runId,
    notebook: path.relative(paths.root, file),
    profile: opts.profile ?? null,
    parameters: values,
    defaults: startDefaults(name, declared),
    git: { commit: git(["rev-parse", "HEAD"]), dirty: (() => { const s = git(["status", "--porcelain", "--untracked-files=no"]); return s === null ? null : s.length > 0; })() },
    versions: versions(),
    hardware: hardware(),
    start: start.toISOString(),
    end: end.toISOString(),
    seconds: (end.getTime() - start.getTime()) / 1000,
    kernelSeconds: summary.kernel_seconds ?? null,
    cells: summary.cells,
    ok: summary.ok,
    error: summary.error,
    headline: results.headline ?? [],
    results: results.results ?? {},
  };
  const runJson = path.join(outDir, "run.json");
  fs.writeFileSync(runJson, redactUrls(JSON.stringify(record, null, 2)) + "\n"); // a parameter or result may hold a URL with credentials
  return { ok: summary.ok, outDir, ipynb, html, runJson, record };
}

/** The one-paragraph failure text the CLI prints: which cell, its source, and the kernel's error. */
export function describeFailure(r: RunResult): string {
  const e = r.record.error;
  if (!e) return "";
  return `${r.record.notebook}: cell ${e.index} failed\n--- cell source ---\n${e.source}\n--- error ---\n${e.text}\n(executed notebook: ${r.ipynb})`;
}
