// report: what runs leave behind for people. plots.ts: figures and tables shown in a notebook (plotly, inlined so
// reports work offline; exported on its own as the `plots` namespace); results.ts: the headline numbers and results a
// notebook records for run.json; the run pages: run-summary.ts reads a run's run.json files into one summary,
// verdict.ts says whether it worked, run-page.ts and runs-page.ts render reports/<run-id>/index.html and
// reports/index.html (page.ts: their shared frame, format.ts: numbers for reading), run-pages.ts finds and writes them.
// May import the shared modules (paths, task, tokens, prices, progress) only: no other folder.
export * from "./results";
export * as format from "./format";
export * from "./verdict";
export * from "./run-summary";
export * from "./run-page";
export * from "./runs-page";
export * from "./run-pages";
