// train (notebook 2): the student learns the teacher's labels with LoRA, through the Python runtime's train and merge
// jobs (python-runtime/distill_runtime/training/ is the recipe).
//   config.ts  the train config from data/training.json (defaults, presets; Python reads the same file)
//   jobs.ts    train() and merge(): run the jobs, typed results     cells.ts   what notebook 2 calls besides
//   student.ts the student's record (student.json): which training made it, from what, how the last one went
// May import the shared modules and folders (corpus, runtime, report, notebook) and label; never a later step (infer,
// cost).
export * from "./cells";
export * from "./config";
export * from "./jobs";
export * from "./student";
