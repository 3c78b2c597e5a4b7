// The frame shared by the run page and the runs table: one self-contained HTML document (styles inline, scripts
// inline, no request leaves the file), sized for a laptop window, never wider than the window.
import { escapeHtml } from "../html";

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232a;margin:0;padding:16px 24px;max-width:1400px}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:15px;margin:0 0 6px}
a{color:#0b5cad}
.meta{color:#5b6570;margin:0}
.verdict{font-size:17px;margin:10px 0 4px;padding:8px 12px;border-left:6px solid #8a939c;background:#f4f6f8}
.verdict.learned{border-color:#1a7f37;background:#eef8f0}
.verdict.keyword{border-color:#bf8700;background:#fdf6e3}
.verdict.chance{border-color:#cf222e;background:#fdf0f0}
.sub{margin:2px 0 10px 18px;color:#3b444d}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px 20px}
.grid>section{min-width:0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px}
th,td{text-align:left;padding:2px 8px;border-bottom:1px solid #e3e6e9;vertical-align:top}
th{border-bottom:1px solid #9aa4ae;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tag{display:inline-block;font-size:11px;padding:0 5px;border-radius:3px;background:#e8ebee;color:#3b444d;white-space:nowrap}
.tag.measured{background:#dbeafe;color:#0b3d91}.tag.estimated{background:#fdf6e3;color:#7a5300}
.tag.failed,.tag.chance{background:#fdf0f0;color:#a40e26}.tag.learned{background:#eef8f0;color:#116329}.tag.keyword{background:#fdf6e3;color:#7a5300}
.na{color:#8a939c;font-style:italic}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:2px 12px;margin:0}
dl.facts dt{color:#5b6570}dl.facts dd{margin:0;overflow-wrap:anywhere}
.notes{color:#5b6570;font-size:12px;margin-top:12px}
.distill-plot{width:100%}
`;

export function pageHtml(title: string, body: string, extraCss = ""): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}${extraCss}</style></head><body>
${body}
</body></html>
`;
}

/** A cell that says a value is missing rather than showing a bare dash. */
export const notMeasured = (what = "not measured"): string => `<span class="na">${escapeHtml(what)}</span>`;

/** The CSS class of a verdict's colour. */
export function verdictClass(word: string): string {
  return word === "learned" ? "learned" : word.startsWith("no better") ? "keyword" : word === "at chance" ? "chance" : "none";
}
