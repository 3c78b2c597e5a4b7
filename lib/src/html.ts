// Escaping for HTML built as strings (reports, tables, progress bars, the run pages). One function for text and
// attribute context alike: it escapes the five characters that matter in either (& < > " '), so a value can go into
// an element or a quoted attribute without letting a recipe title close the attribute and add a handler.
const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => entities[c]);
}
