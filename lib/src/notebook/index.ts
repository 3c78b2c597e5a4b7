// notebook: the headless runner behind `npm run notebook` and `npm start` (papermill's conventions for a TypeScript
// kernel). parameters.ts: the parameters cell and injection; profiles.ts: named parameter sets (data/profiles.json);
// run.ts: execute through nbclient and write reports/<run-id>/ (.ipynb, .html, run.json); machine.ts: hardware and
// versions for run.json.
// May import the shared modules (paths, task, tokens, prices, progress) only: no other folder (the runner runs
// notebooks; it does not call their steps).
export * from "./machine";
export * from "./parameters";
export * from "./profiles";
export * from "./run";
