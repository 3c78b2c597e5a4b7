// report: what runs leave behind for people. plots.ts: figures and tables shown in a notebook (plotly, inlined so
// reports work offline; exported on its own as the `plots` namespace); results.ts: the headline numbers and results a
// notebook records for run.json; index-page.ts: the index.html `npm start` writes over a pipeline's reports.
// May import the shared modules (paths, task, tokens, prices, progress) only: no other folder.
export * from "./index-page";
export * from "./results";
