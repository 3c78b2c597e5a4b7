// Recipe text: the ingredients and directions of a recipe's Markdown body, and a record rendered with the task's
// record_template. Recipe text. This runs once per row of corpora with millions of rows, so it avoids work per line where it can:
// each shortcut below gives exactly what the plain rule in its comment gives.
import type { Task } from "../task";

const linkOrBold = (s: string) => s.includes("](") || s.includes("**") || s.includes("__");
/** Whitespace other than a plain space; with "  " this is /\s\s|[^\S ]/: what plainText must collapse. */
const oddWhitespace = /[^\S ]/;

/** A Markdown line without links, images and bold/underline markers: "[Pasta](/pasta)" -> "Pasta". */
function plainText(line: string): string {
  let s = line;
  if (s.includes("](")) s = s.replace(/!\[[^\]]*\]\([^)]*\)/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  if (s.includes("**") || s.includes("__")) s = s.replace(/\*\*|__/g, "");
  return oddWhitespace.test(s) || s.includes("  ") ? s.replace(/\s+/g, " ").trim() : s.trim();
}

const headingPattern = /^(#{1,6})\s+(.*?)[\s#]*$/;
const itemPattern = /^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$/;
/** itemPattern without its `(.*)$`, anchored by the sticky flag: where the item's text starts. */
const itemPrefix = /\s{0,3}(?:[-*+]|\d+[.)])\s+/y;
const nonBlank = /\S/;
/** A body without any of these has only "\n" and single spaces for whitespace (the shipped corpus, every row). */
const bodyOddWhitespace = /[^\S \n]/;

/**
 * Ingredients and directions from a recipe's Markdown body. Items are the list entries ("- x", "* x", "1. x") and
 * paragraphs under a heading that mentions ingredients, or directions/instructions/method/steps/preparation;
 * a line that continues an item (indented, or with no blank line before it) joins it; a sub-heading inside a section
 * ("### For the sauce") becomes an item "For the sauce:". Everything else (intro, emoji time lines, notes) is left out.
 */
export function parseRecipeMarkdown(body: string): { ingredients: string[]; directions: string[] } {
  const out = { ingredients: [] as string[], directions: [] as string[] };
  // With only "\n" and single spaces for whitespace, no line has "\r" or a line terminator inside it, a blank line
  // is "" or " ", `(.*)$` of itemPattern always matches, and plainText only trims unless there is markup.
  const simple = !bodyOddWhitespace.test(body) && !body.includes("  ");
  const markup = linkOrBold(body); // else no line has any
  let list: string[] | null = null; // where items go; null outside the two sections
  let sectionLevel = 0;
  let open = false; // the last item may take continuation lines
  const lines = body.split("\n"); // and a "\r" before the "\n" is dropped below: body.split(/\r?\n/)
  const lastIndex = lines.length - 1;
  for (let i = 0; i <= lastIndex; i++) {
    let line = lines[i];
    if (!simple && i < lastIndex && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    const heading = line.charCodeAt(0) === 35 ? headingPattern.exec(line) : null; // 35: "#"
    if (heading) {
      const level = heading[1].length;
      const name = plainText(heading[2]);
      if (list !== null && level > sectionLevel) {
        if (name) list.push(name.endsWith(":") ? name : `${name}:`);
      } else {
        sectionLevel = level;
        list = /ingredient/i.test(name) ? out.ingredients : /direction|instruction|method|steps|preparation/i.test(name) ? out.directions : null;
      }
      open = false;
      continue;
    }
    if (list === null) continue;
    if (simple ? line.length === 0 || line === " " : !nonBlank.test(line)) {
      open = false;
      continue;
    }
    let item: string | null;
    let text: string;
    if (simple) {
      itemPrefix.lastIndex = 0;
      item = itemPrefix.test(line) ? line.slice(itemPrefix.lastIndex) : null;
      const raw = item ?? line;
      text = markup && linkOrBold(raw) ? plainText(raw) : raw.trim();
    } else {
      item = itemPattern.exec(line)?.[1] ?? null;
      text = plainText(item ?? line);
    }
    if (!text) continue;
    if (item === null && open && list.length > 0) list[list.length - 1] += ` ${text}`;
    else list.push(text);
    open = true;
  }
  return out;
}

/** "- " bullets, one item a line (newlines inside an item become spaces); empty items are left out. */
function bullets(items: string[]): string {
  let out = "";
  for (const item of items) {
    const s = (item.includes("\n") ? item.replace(/\s*\n\s*/g, " ") : item).trim();
    if (s.length > 0) out += out.length === 0 ? `- ${s}` : `\n- ${s}`;
  }
  return out;
}

/** The task's record_template filled with the title and "- " bullet lists (one pass, so braces in values stay). */
export function renderRecord(task: Task, parts: { title: string; ingredients: string[]; directions: string[] }): string {
  const values: Record<string, string> = { title: parts.title.trim(), ingredients: bullets(parts.ingredients), directions: bullets(parts.directions) };
  return task.recordTemplate.replace(/\{(title|ingredients|directions)\}/g, (_, key: string) => values[key]);
}
