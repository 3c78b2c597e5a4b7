// runtime: the TypeScript side of the Python runtime (python-runtime/distill_runtime). One job runner for every job
// (job.ts: spawn `python -m distill_runtime <job>`, stream and validate its events, cancel it, no orphans) and the
// event contract it validates (events.ts, mirroring events.py). The step folders wrap their jobs on top of this.
// May import the shared modules (paths, task, tokens, prices, progress) only: no other folder.
export * from "./events";
export * from "./job";
