// The shape of the code, checked: which folder may import which (lib/src/index.ts explains the layers), no import
// cycles, an opening comment in every folder's index that says what lives there and what it may import, the same
// rooms on the Python side, and no source file over ~400 lines unless it says why at its top.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { paths } from "@distill/lib";

const src = path.join(paths.root, "lib", "src");
const pyPackage = path.join(paths.root, "python-runtime", "distill_runtime");

// Layers, lowest first. A file may import its own folder, and any area of a lower layer; nothing else.
const layers: string[][] = [
  ["shared"], // paths, task, tokens, prices, progress: the top-level modules
  ["corpus", "runtime", "report", "notebook"], // shared folders: they import only the shared modules
  ["label"],
  ["train"],
  ["infer"],
  ["cost"],
  ["cli", "index"], // the commands and the package's namespaces may import anything
];
const layerOf = (area: string): number => layers.findIndex((l) => l.includes(area));

function filesUnder(dir: string, ext: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(ext) && !f.includes("__pycache__")).map((f) => path.join(dir, f)).sort();
}

/** "label" for lib/src/label/x.ts, "shared" for lib/src/paths.ts, "index" for lib/src/index.ts. */
function areaOf(file: string): string {
  const rel = path.relative(src, file).split(path.sep);
  if (rel.length > 1) return rel[0];
  return rel[0] === "index.ts" ? "index" : "shared";
}

interface Edge { from: string; to: string; typeOnly: boolean }

function resolveImport(from: string, spec: string): string | null {
  if (!spec.startsWith(".")) return null;
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(paths.root, from)} imports ${spec}, which does not resolve`);
}

function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  for (const node of source.statements) {
    const spec = (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) ? node.moduleSpecifier.text : null;
    if (spec === null) continue;
    const to = resolveImport(file, spec);
    if (to === null) continue;
    const typeOnly = ts.isImportDeclaration(node) ? Boolean(node.importClause?.isTypeOnly) : (node as ts.ExportDeclaration).isTypeOnly;
    edges.push({ from: file, to, typeOnly });
  }
  return edges;
}

const tsFiles = filesUnder(src, ".ts");
const edges = tsFiles.flatMap(importsOf);

test("lib/src: a folder imports only lower layers (shared modules < shared folders < label < train < infer < cost)", () => {
  const wrong: string[] = [];
  for (const e of edges) {
    const [from, to] = [areaOf(e.from), areaOf(e.to)];
    if (from === to) continue;
    if (layerOf(from) < 0 || layerOf(to) < 0) wrong.push(`${path.relative(src, e.from)}: unknown area ${layerOf(from) < 0 ? from : to} (add it to layers in this test)`);
    else if (layerOf(to) >= layerOf(from)) wrong.push(`${path.relative(src, e.from)} imports ${path.relative(src, e.to)} (${from} may not import ${to})`);
  }
  assert.deepEqual(wrong, []);
});

test("lib/src: no import cycles between files (type-only imports included)", () => {
  const graph = new Map<string, string[]>(tsFiles.map((f) => [f, []]));
  for (const e of edges) graph.get(e.from)!.push(e.to);
  const state = new Map<string, "visiting" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]): void => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "visiting") {
      cycles.push([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(src, x)).join(" -> "));
      return;
    }
    state.set(f, "visiting");
    for (const to of graph.get(f)!) visit(to, [...trail, f]);
    state.set(f, "done");
  };
  for (const f of tsFiles) visit(f, []);
  assert.deepEqual(cycles, []);
});

test("lib/src: every folder has an index.ts that opens with what lives there and what it may import", () => {
  const folders = fs.readdirSync(src, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== "cli").map((d) => d.name);
  assert.ok(folders.length >= 8, `folders: ${folders.join(", ")}`);
  for (const folder of folders) {
    const index = path.join(src, folder, "index.ts");
    assert.ok(fs.existsSync(index), `${folder}/ has no index.ts`);
    const opening = fs.readFileSync(index, "utf8").split("\n").filter((l) => l.startsWith("//")).join("\n");
    assert.match(opening, new RegExp(`^// ${folder}\\b`), `${folder}/index.ts opens with "// ${folder}...": what lives there`);
    assert.match(opening, /May import/, `${folder}/index.ts says what it may import`);
  }
});

test("python-runtime: engines, training and the shared modules never import a job; jobs import no other job", () => {
  const wrong: string[] = [];
  for (const file of filesUnder(pyPackage, ".py")) {
    const rel = path.relative(pyPackage, file);
    const area = rel.includes(path.sep) ? rel.split(path.sep)[0] : "shared";
    for (const m of fs.readFileSync(file, "utf8").matchAll(/^\s*from (\.+)([\w.]*) import ([\w, ]+)/gm)) {
      const up = m[1].length - 1;
      const parts = path.dirname(rel).split(path.sep).filter((p) => p !== ".");
      const target = [...parts.slice(0, parts.length - up), ...m[2].split(".").filter(Boolean)];
      const targetArea = target.length > 1 || ["jobs", "engines", "training", "inference"].includes(target[0]) ? target[0] : "shared";
      if (targetArea === "jobs" && area !== "jobs") wrong.push(`${rel} imports ${target.join(".")}: only __main__ runs jobs`);
      if (targetArea === "jobs" && area === "jobs") wrong.push(`${rel} imports another job, ${target.join(".")}`);
      if (area === "training" && (targetArea === "engines" || targetArea === "inference")) wrong.push(`${rel} imports ${target.join(".")}: training stands alone`);
      if (area === "inference" && targetArea === "engines") wrong.push(`${rel} imports ${target.join(".")}: engines use inference/, not the other way`);
      if (area === "shared" && rel !== "__main__.py" && ["engines", "training", "inference"].includes(targetArea)) wrong.push(`${rel} imports ${target.join(".")}: shared modules import no recipe or engine`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("python-runtime: one module per engine, each with a class named in ENGINES; one module per job", () => {
  const engines = fs.readdirSync(path.join(pyPackage, "engines")).filter((f) => f.endsWith("_engine.py"));
  const registry = fs.readFileSync(path.join(pyPackage, "engines", "__init__.py"), "utf8");
  assert.ok(engines.length >= 2);
  for (const f of engines) assert.ok(registry.includes(`from .${f.slice(0, -3)} import`), `engines/__init__.py registers ${f}`);
  const main = fs.readFileSync(path.join(pyPackage, "__main__.py"), "utf8");
  for (const job of ["train", "merge", "infer", "export", "tokens", "encode"]) {
    assert.ok(fs.existsSync(path.join(pyPackage, "jobs", `${job}.py`)), `jobs/${job}.py`);
    assert.ok(main.includes(`"${job}"`), `__main__ knows the ${job} job`);
  }
});

test("no source file over ~400 lines without a reason given at its top", () => {
  const limit = 420;
  const long: string[] = [];
  for (const file of [...tsFiles, ...filesUnder(pyPackage, ".py")]) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const top = lines.slice(0, 15).join("\n");
    if (lines.length > limit && !/long file:/i.test(top)) long.push(`${path.relative(paths.root, file)}: ${lines.length} lines`);
  }
  assert.deepEqual(long, [], 'split it, or say why it is long in a "Long file: ..." line at its top');
});
