// The headless notebook runner: papermill's conventions, for a TypeScript (tslab) kernel.
// 1. Find the cell tagged `parameters`; its lines `const name = <JSON literal>;` are the notebook's parameters.
// 2. Insert after it a cell tagged `injected-parameters` with the given values (validated: known name, same type).
// 3. Execute with nbclient (python -m distill_runtime.nbexec), stopping at the first failing cell.
// 4. Write reports/<run-id>/: the executed .ipynb, a self-contained .html, and run.json (metadata + results).
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as paths from "./paths";

/** A mistake in how the runner was called: reported as one line with exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface NotebookJson {
  cells: { cell_type: string; source: string | string[]; metadata: { tags?: string[]; [k: string]: unknown }; outputs?: unknown[]; [k: string]: unknown }[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export type ParamValue = string | number | boolean | null | ParamValue[] | { [k: string]: ParamValue };
export interface Parameter { name: string; value: ParamValue; type: string }

const cellText = (source: string | string[]): string => (Array.isArray(source) ? source.join("") : source);
const typeOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

export function readNotebook(file: string): NotebookJson {
  if (!fs.existsSync(file)) {
    const available = fs.existsSync(paths.notebooksDir) ? fs.readdirSync(paths.notebooksDir).filter((f) => f.endsWith(".ipynb")) : [];
    throw new UsageError(`notebook not found: ${file} (available: ${available.join(", ") || "none"})`);
  }
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as NotebookJson;
  } catch (e) {
    throw new UsageError(`${file} is not a valid notebook: ${(e as Error).message}`);
  }
}

const PARAM_LINE = /^\s*(?:const|let)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(.+?)\s*;?\s*(?:\/\/.*)?$/;

/** The parameters a notebook declares in its `parameters` cell (JSON-literal values only, so they can be checked). */
export function parametersOf(nb: NotebookJson, file = "notebook"): Parameter[] {
  const cell = nb.cells.find((c) => c.metadata?.tags?.includes("parameters"));
  if (!cell) throw new UsageError(`${file} has no cell tagged "parameters"`);
  const params: Parameter[] = [];
  for (const line of cellText(cell.source).split("\n")) {
    const m = PARAM_LINE.exec(line);
    if (!m) continue;
    let value: ParamValue;
    try {
      value = JSON.parse(m[2]) as ParamValue;
    } catch {
      throw new Error(`${file}: parameter ${m[1]} must have a JSON literal default, got: ${m[2]}`);
    }
    params.push({ name: m[1], value, type: typeOf(value) });
  }
  return params;
}

/** A command-line value: a JSON literal, or else a bare word taken as a string (papermill's -p convention). */
export function parseCliValue(text: string): ParamValue {
  try {
    return JSON.parse(text) as ParamValue;
  } catch {
    if (/^[\[{"]/.test(text.trim())) throw new UsageError(`malformed value: ${text} (it starts like JSON but does not parse)`);
    return text;
  }
}

export function validateParameters(declared: Parameter[], given: Record<string, ParamValue>, file = "notebook"): void {
  const byName = new Map(declared.map((p) => [p.name, p]));
  for (const [name, value] of Object.entries(given)) {
    const p = byName.get(name);
    if (!p) throw new UsageError(`unknown parameter "${name}" for ${file}; valid names: ${declared.map((d) => d.name).join(", ")}`);
    const t = typeOf(value);
    if (p.type !== "null" && t !== p.type && !(t === "null")) {
      throw new UsageError(`parameter "${name}" of ${file} expects a ${p.type} (default ${JSON.stringify(p.value)}), got ${t} ${JSON.stringify(value)}`);
    }
  }
}

export function injectParameters(nb: NotebookJson, values: Record<string, ParamValue>): NotebookJson {
  const copy = JSON.parse(JSON.stringify(nb)) as NotebookJson;
  copy.cells = copy.cells.filter((c) => !c.metadata?.tags?.includes("injected-parameters"));
  const at = copy.cells.findIndex((c) => c.metadata?.tags?.includes("parameters"));
  const lines = Object.entries(values).map(([k, v]) => `const ${k} = ${JSON.stringify(v)};`);
  copy.cells.splice(at + 1, 0, {
    id: "injected-parameters",
    cell_type: "code",
    execution_count: null,
    metadata: { tags: ["injected-parameters"] },
    outputs: [],
    source: ["// Parameters injected by the runner\n", ...lines.map((l, i) => (i < lines.length - 1 ? `${l}\n` : l))],
  });
  return copy;
}

// ---------- profiles: named parameter sets kept as data (data/profiles.json) ----------
export interface Profiles { [profile: string]: { description: string; all?: Record<string, ParamValue>; notebooks?: Record<string, Record<string, ParamValue>> } }

export function loadProfiles(file = path.join(paths.dataDir, "profiles.json")): Profiles {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Profiles;
}

/** A profile's values for one notebook: its `all` values that the notebook declares, then its notebook-specific ones. */
export function profileValues(profile: string, notebookName: string, declared: Parameter[], profiles = loadProfiles()): Record<string, ParamValue> {
  const p = profiles[profile];
  if (!p) throw new UsageError(`unknown profile "${profile}"; profiles: ${Object.keys(profiles).join(", ")}`);
  const names = new Set(declared.map((d) => d.name));
  const shared = Object.fromEntries(Object.entries(p.all ?? {}).filter(([k]) => names.has(k)));
  return { ...shared, ...(p.notebooks?.[notebookName] ?? {}) };
}

// ---------- run metadata ----------
export interface RunRecord {
  runId: string;
  notebook: string;
  profile: string | null;
  parameters: Record<string, ParamValue>;
  git: { commit: string | null; dirty: boolean | null };
  versions: Record<string, string | null>;
  hardware: { cpu: string; cores: number; memoryGiB: number; gpu: string | null };
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

function git(args: string[]): string | null {
  const r = spawnSync("git", args, { cwd: paths.root, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

let cachedVersions: Record<string, string | null> | null = null;
export function versions(): Record<string, string | null> {
  if (cachedVersions) return cachedVersions;
  const script = [
    "import json, platform, importlib.metadata as m",
    "def v(n):",
    "    try: return m.version(n)",
    "    except Exception: return None",
    "print(json.dumps({'python': platform.python_version(), **{n: v(n) for n in ['torch','transformers','peft','accelerate','vllm','nbclient']}}))",
  ].join("\n");
  const r = spawnSync(paths.python, ["-c", script], { encoding: "utf8" });
  const py = r.status === 0 ? (JSON.parse(r.stdout) as Record<string, string | null>) : { python: null };
  const pkg = (name: string): string | null => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(paths.root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      return null;
    }
  };
  cachedVersions = { node: process.version, ...py, tslab: pkg("tslab"), openai: pkg("openai"), "node-llama-cpp": pkg("node-llama-cpp") };
  return cachedVersions;
}

export function hardware(): RunRecord["hardware"] {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], { encoding: "utf8" });
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    gpu: smi.status === 0 && smi.stdout.trim() ? smi.stdout.trim().split("\n").join("; ") : null,
  };
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
      const child = spawn(
        paths.python,
        ["-m", "distill_runtime.nbexec", "--in", injected, "--out", ipynb, "--html", html, "--cwd", path.dirname(file), "--timeout", String(opts.timeoutS ?? 3600)],
        { cwd: paths.root, env: { ...process.env, ...opts.env, DISTILL_RESULTS_FILE: resultsFile, DISTILL_NOTEBOOK: name, DISTILL_RUN_ID: runId }, stdio: ["ignore", "pipe", opts.quiet ? "pipe" : "inherit"] },
      );
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => {
        const line = out.trim().split("\n").pop() ?? "";
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`the notebook executor failed (exit ${code}) before reporting:\n${(err || out).slice(-3000)}`));
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
  fs.writeFileSync(runJson, JSON.stringify(record, null, 2) + "\n");
  return { ok: summary.ok, outDir, ipynb, html, runJson, record };
}

/** The one-paragraph failure text the CLI prints: which cell, its source, and the kernel's error. */
export function describeFailure(r: RunResult): string {
  const e = r.record.error;
  if (!e) return "";
  return `${r.record.notebook}: cell ${e.index} failed\n--- cell source ---\n${e.source}\n--- error ---\n${e.text}\n(executed notebook: ${r.ipynb})`;
}
