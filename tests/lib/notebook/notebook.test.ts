import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { paths } from "@distill/lib";
import * as nb from "@distill/lib/dist/notebook";
import { filesUnder, runCli, stableHtml, tempDir } from "../../support/notebooks";

const smoke = path.join(paths.root, "tests", "fixtures", "notebooks", "smoke.ipynb");

test("parametersOf reads the parameters cell, injectParameters adds a tagged cell after it", () => {
  const book = nb.readNotebook(smoke);
  const params = nb.parametersOf(book);
  assert.deepEqual(params.map((p) => [p.name, p.type]), [["greeting", "string"], ["count", "number"], ["fail", "boolean"], ["echoEnv", "string"]]);
  const injected = nb.injectParameters(book, { count: 7 });
  const at = injected.cells.findIndex((c) => c.metadata.tags?.includes("parameters"));
  assert.deepEqual(injected.cells[at + 1].metadata.tags, ["injected-parameters"]);
  assert.match(([] as string[]).concat(injected.cells[at + 1].source).join(""), /const count: number = 7;/);
  // injecting again replaces, never stacks
  const twice = nb.injectParameters(injected, { count: 8 });
  assert.equal(twice.cells.filter((c) => c.metadata.tags?.includes("injected-parameters")).length, 1);
});

/** TypeScript's errors for one piece of code (strict, no libraries beyond ES2022): what tslab would say of a cell. */
function typeErrors(code: string): string[] {
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, lib: ["lib.es2022.d.ts"], types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language) => (name === "cell.ts" ? ts.createSourceFile(name, code, language) : read(name, language));
  return ts.getPreEmitDiagnostics(ts.createProgram(["cell.ts"], options, host)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, " "));
}

test("injected values are declared with the default's type: `corpus === \"default\"` still compiles with a file", () => {
  const label = nb.readNotebook(path.join(paths.notebooksDir, "1-label.ipynb"));
  const cell = (book: nb.NotebookJson) => ([] as string[]).concat(book.cells.find((c) => c.metadata.tags?.includes("injected-parameters"))!.source).join("");
  const injected = cell(nb.injectParameters(label, { corpus: "data/mine.csv", sampleSize: 5, holdOutBooks: false }));
  assert.match(injected, /const corpus: string = "data\/mine.csv";/);
  assert.match(injected, /const sampleSize: number = 5;/);
  assert.match(injected, /const holdOutBooks: boolean = false;/);
  const use = `\nconst corpusFiles = corpus === "default" ? ["shipped"] : corpus;\n`;
  assert.deepEqual(typeErrors(injected + use), []);
  // what the runner injected before: the literal type "data/mine.csv" has no overlap with "default"
  assert.match(typeErrors(`const corpus = "data/mine.csv";${use}`).join("\n"), /no overlap/);
  // arrays take the default's element type, objects and null keep the value's own; the cell's own annotation wins
  assert.deepEqual([nb.tsTypeOf(["a"]), nb.tsTypeOf([1, "a"]), nb.tsTypeOf([]), nb.tsTypeOf({}), nb.tsTypeOf(null)], ["string[]", "(number | string)[]", null, null, null]);
  const typed: nb.NotebookJson = { cells: [{ cell_type: "code", source: 'const mode: "tool" | "json_schema" = "tool";\nconst extra = {};', metadata: { tags: ["parameters"] } }], metadata: {}, nbformat: 4, nbformat_minor: 5 };
  assert.equal(cell(nb.injectParameters(typed, { mode: "json_schema", extra: { a: 1 } })), '// Parameters injected by the runner\nconst mode: "tool" | "json_schema" = "json_schema";\nconst extra = {"a":1};');
});

test("a string parameter with U+2028, U+2029 or U+0085 is injected escaped (they split lines in Python and old parsers)", () => {
  const book = nb.readNotebook(smoke);
  const value = "a\u2028b\u2029c\u0085d\n\"e\"";
  const source = ([] as string[]).concat(nb.injectParameters(book, { greeting: value }).cells.find((c) => c.metadata.tags?.includes("injected-parameters"))!.source).join("");
  assert.doesNotMatch(source, /[\u2028\u2029\u0085]/);
  const literal = /const greeting: string = (.*);$/m.exec(source)![1];
  assert.equal(JSON.parse(literal), value, "the literal still means the same string");
  assert.equal(source.split(/\r\n|[\n\r\u2028\u2029\u0085]/).length, 2, "two lines, split any way");
});

test("validateParameters: unknown names list the valid ones; a different type is an error", () => {
  const params = nb.parametersOf(nb.readNotebook(smoke));
  assert.throws(() => nb.validateParameters(params, { nope: 1 }), /unknown parameter "nope".*valid names: greeting, count, fail, echoEnv/);
  assert.throws(() => nb.validateParameters(params, { count: "x" }), /expects a number/);
  assert.doesNotThrow(() => nb.validateParameters(params, { count: 2, greeting: "hi" }));
});

test("parseCliValue: JSON literals, bare words as strings, broken JSON rejected", () => {
  assert.equal(nb.parseCliValue("12"), 12);
  assert.equal(nb.parseCliValue("true"), true);
  assert.deepEqual(nb.parseCliValue('["a",1]'), ["a", 1]);
  assert.equal(nb.parseCliValue("gpt-4o-mini"), "gpt-4o-mini");
  assert.throws(() => nb.parseCliValue("[1,"), /malformed value/);
});

test("profiles: unknown profile names the known ones", () => {
  assert.throws(() => nb.profileValues("nope", "1-label", []), /unknown profile "nope"; profiles: default, cpu-quality, test/);
});

test("runner CLI: bad input gives one clear line and exit code 2", () => {
  const cases: [string[], RegExp][] = [
    [["notebooks/missing.ipynb"], /notebook not found/],
    [[smoke, "-p", "nope=1"], /unknown parameter "nope"/],
    [[smoke, "-p", "count=[1,"], /malformed value/],
    [[smoke, "-p", "count"], /malformed parameter "count"/],
    [[smoke, "--profile", "nope"], /unknown profile/],
    [[], /no notebook given/],
  ];
  for (const [args, message] of cases) {
    const r = runCli("notebook", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n")[0].startsWith("error: "), true);
  }
});

test("a failing cell stops the run: its source and the kernel's error are printed, exit non-zero", () => {
  const out = tempDir("fail");
  const r = runCli("notebook", [smoke, "-p", "fail=true", "-p", "count=2", "--out", out]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cell \d+ failed/);
  assert.match(r.stderr, /if \(fail\) throw new Error/);
  assert.match(r.stderr, /asked to fail after 2 items/);
  const record = JSON.parse(fs.readFileSync(path.join(out, "run.json"), "utf8"));
  assert.equal(record.ok, false);
  assert.match(record.error.text, /asked to fail/);
});

test("a run writes the executed notebook, offline HTML with plotly once, and run.json; reruns are identical", () => {
  const a = tempDir("smoke-a");
  const b = tempDir("smoke-b");
  for (const out of [a, b]) {
    const r = runCli("notebook", [smoke, "-p", "count=4", "-p", "greeting=hi", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Items: 4/);
  }
  const html = fs.readFileSync(path.join(a, "smoke.html"), "utf8");
  assert.equal(html.split("/*distill:plotly-lib*/").length - 1, 1, "plotly inlined exactly once");
  // The .ipynb keeps the figure as plotly JSON (with a light HTML fallback), not the library.
  const ipynb = fs.readFileSync(path.join(a, "smoke.ipynb"), "utf8");
  assert.ok(!ipynb.includes("/*distill:plotly-lib*/"), "no plotly.js in the .ipynb");
  const outputs = (JSON.parse(ipynb) as { cells: { outputs?: { data?: Record<string, unknown> }[] }[] }).cells.flatMap((c) => c.outputs ?? []);
  const figure = outputs.find((o) => o.data?.["application/vnd.plotly.v1+json"]);
  assert.ok(figure, "a figure output with the plotly mime type");
  assert.deepEqual((figure.data!["application/vnd.plotly.v1+json"] as { data: { y: number[] }[] }).data[0].y, [1, 4, 9, 16]);
  assert.match(String(figure.data!["text/html"]), /class="distill-plot"/);
  assert.ok(ipynb.length < 100_000, `the .ipynb is small (${ipynb.length} bytes)`);
  assert.doesNotMatch(html, /<script[^>]*src="https?:/, "no network scripts");
  assert.match(html, /hi: squares/);
  const record = JSON.parse(fs.readFileSync(path.join(a, "run.json"), "utf8"));
  assert.deepEqual(record.parameters, { count: 4, greeting: "hi" });
  assert.deepEqual(record.defaults, { greeting: "hello", count: 3, fail: false, echoEnv: "" }, "the values npm start would use");
  assert.deepEqual(record.results.squares, [1, 4, 9, 16]);
  assert.deepEqual(record.headline, [{ label: "Items", value: 4 }]);
  for (const k of ["node", "python", "torch", "transformers"]) assert.ok(record.versions[k], `version of ${k}`);
  assert.ok(record.hardware.cores >= 1 && record.hardware.cpu);
  assert.ok(typeof record.git.dirty === "boolean" && record.git.commit);
  assert.ok(record.cells.length >= 3 && record.cells.every((c: { seconds: number }) => c.seconds >= 0));
  assert.equal(stableHtml(fs.readFileSync(path.join(b, "smoke.html"), "utf8")), stableHtml(html));
  assert.equal(fs.readFileSync(path.join(b, "smoke.ipynb"), "utf8"), fs.readFileSync(path.join(a, "smoke.ipynb"), "utf8"));
});

test("secrets from the environment never reach a written file", () => {
  const out = tempDir("secrets");
  const fakes = { OPENAI_API_KEY: "fake-openai-key-0123456789abcdef", HF_TOKEN: "hf_FAKETOKEN_abcdefghijklmnop" };
  const r = runCli("notebook", [smoke, "-p", "echoEnv=OPENAI_API_KEY", "--out", out], fakes);
  assert.equal(r.code, 0, r.stderr);
  const written = filesUnder(out);
  assert.ok(written.length >= 3);
  for (const f of written) {
    const text = fs.readFileSync(f, "utf8");
    for (const v of Object.values(fakes)) assert.ok(!text.includes(v), `${f} contains a secret`);
  }
  assert.match(fs.readFileSync(path.join(out, "smoke.ipynb"), "utf8"), /OPENAI_API_KEY=\[redacted\]/);
});

test("a password in OPENAI_BASE_URL, or in a URL parameter, never reaches a written file", () => {
  const out = tempDir("url-secrets");
  const password = "pw-SMOKE-s3cret-1234";
  const queryKey = "query-SECRET-key-5678";
  const env = { OPENAI_BASE_URL: `http://alice:${password}@127.0.0.1:9/v1?api-key=${queryKey}` };
  // The notebook prints the variable, and a parameter that is itself a URL with credentials lands in run.json.
  const r = runCli("notebook", [smoke, "-p", "echoEnv=OPENAI_BASE_URL", "-p", `greeting=http://carol:${password}@example.com/x`, "--out", out], env);
  assert.equal(r.code, 0, r.stderr);
  const written = filesUnder(out);
  assert.ok(written.some((f) => f.endsWith("run.json")) && written.some((f) => f.endsWith(".html")));
  for (const f of written) {
    const text = fs.readFileSync(f, "utf8");
    for (const secret of [password, queryKey, `alice:${password}`]) assert.ok(!text.includes(secret), `${path.basename(f)} contains ${secret}`);
  }
  assert.match(fs.readFileSync(path.join(out, "smoke.ipynb"), "utf8"), /OPENAI_BASE_URL=http:\/\/\[redacted\]@127\.0\.0\.1:9/);
  assert.match(fs.readFileSync(path.join(out, "run.json"), "utf8"), /http:\/\/\[redacted\]@example\.com/);
});
