// infer (notebook 3; exported as `inference`: tslab cannot name types of a namespace called `infer`): the student
// labels the test set or a corpus through the Python runtime's infer job, and we measure how often it agrees with the
// teacher.
//   config.ts       the infer config (mirrors python-runtime's inference/config.py)
//   job.ts          infer(): run the job, typed metrics          predictions.ts   its output file read back
//   corpus-config.ts, corpus-job.ts   labelCorpus(): the whole corpus into Parquet shards, resumable, on Ray if asked
//   ../agreement.ts agreement, Cohen's kappa, bootstrap intervals, confusion matrices (shared: pure, no I/O)
//   compare.ts      disagreements, agreement by group, a table comparing models
//   baselines.ts    baselines that need no model (majority class, the task's keyword rules), mean kappa's interval
//   cells.ts        what notebook 3 calls besides (the student to run, figures, API baselines, evaluation.json)
//   engines.ts      which engine runs a config (engine "auto": llama.cpp on CPU unless q8_0 loses the labels, vLLM or transformers on CUDA)
//   llama.ts        the llama.cpp engine (node-llama-cpp, in this process; JSON skeleton forced, values scored)
//   gguf.ts         the student as one GGUF for it (merge + export jobs, cached beside the student)
// The other engines live in Python (python-runtime/distill_runtime/engines/); every engine writes the same
// predictions file (predictions.ts).
// May import the shared modules and folders (corpus, runtime, report, notebook) and the earlier steps (label, train);
// never cost.
export * from "./baselines";
export * from "./cells";
export * from "./compare";
export * from "./config";
export * from "./corpus-config";
export * from "./corpus-job";
export * from "./engines";
export * from "./gguf";
export * from "./llama";
export {
  evaluateAgreement,
  meanKappa,
  randomPicks,
  seededRandom,
  type ConfusionMatrix,
  type EvalTask,
  type EvaluateOptions,
  type Evaluation,
  type FieldEvaluation,
  type Interval,
  type Labels,
  type LabelValue,
  type MaybeNumber,
  type RecordEvaluation,
  type StudentRow,
  type TeacherRow,
} from "../agreement";
export * from "./job";
export * from "./predictions";
