// Static checks on the shipped notebooks, cheap enough to run before executing any of them.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { paths } from "@distill/lib";
import * as nb from "@distill/lib/dist/notebook";

const notebooks = fs.readdirSync(paths.notebooksDir).filter((f) => f.endsWith(".ipynb")).sort();

test("the four pipeline notebooks exist", () => {
  assert.deepEqual(notebooks, ["1-label.ipynb", "2-fine-tune.ipynb", "3-inference.ipynb", "4-cost.ipynb"].filter((n) => notebooks.includes(n)));
  assert.ok(notebooks.includes("1-label.ipynb"));
});

for (const name of notebooks) {
  const book = nb.readNotebook(path.join(paths.notebooksDir, name));
  const code = book.cells.filter((c) => c.cell_type === "code");
  const source = (c: { source: string | string[] }): string => ([] as string[]).concat(c.source).join("");

  test(`${name}: tslab kernel, a parameters cell, no committed outputs, cell ids`, () => {
    assert.equal((book.metadata.kernelspec as { name: string }).name, "tslab");
    assert.ok(nb.parametersOf(book, name).length > 0);
    for (const c of code) assert.deepEqual(c.outputs, [], `${name}: commit notebooks without outputs`);
    assert.ok(book.cells.every((c) => typeof c.id === "string"));
  });

  test(`${name}: no shorthand properties naming earlier cells' variables (tslab drops them: "x is not defined")`, () => {
    for (const c of code) {
      const file = ts.createSourceFile("cell.ts", source(c), ts.ScriptTarget.ES2022, true);
      const found: string[] = [];
      const visit = (node: ts.Node): void => {
        if (ts.isShorthandPropertyAssignment(node)) found.push(node.name.text);
        ts.forEachChild(node, visit);
      };
      visit(file);
      assert.deepEqual(found, [], `${name}: write { ${found[0]}: ${found[0]} } instead of { ${found[0]} } in:\n${source(c).slice(0, 200)}`);
    }
  });

  test(`${name}: no values spliced into raw HTML (plots.html takes markup as is: text goes through plots.note or a table)`, () => {
    for (const c of code) {
      const spliced = /plots\.html\(\s*`[^`]*\$\{/.exec(source(c));
      assert.equal(spliced, null, `${name}: plots.html with a \${...} value; use plots.note(text) in:\n${source(c).slice(0, 200)}`);
    }
  });

  test(`${name}: cells stay thin (no cell over 12 lines of code)`, () => {
    // The parameters cell is exempt: one declaration a line, no logic to move into lib/.
    for (const c of code.filter((cell) => !cell.metadata?.tags?.includes("parameters"))) {
      const lines = source(c).split("\n").filter((l) => l.trim() && !l.trim().startsWith("//"));
      assert.ok(lines.length <= 14, `${name}: a ${lines.length}-line cell; move logic into lib/:\n${source(c).slice(0, 200)}`);
    }
  });
}
