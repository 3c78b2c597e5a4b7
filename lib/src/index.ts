// @distill/lib: the library behind the four notebooks. One folder per step, named after the notebook it serves, and
// the shared pieces every step stands on. Notebooks import namespaces by package name:
//   import { corpus, label, task } from "@distill/lib";
//
//   shared modules   paths (folders, the work folder layout), task (the task file and everything derived from it),
//                    keywords (the task file's keyword rules), agreement (agreement and kappa between two labelings:
//                    exported through inference), tokens (OpenAI token counts), prices (data/prices.json), progress
//                    (progress bars), html (the escape), processes (child processes that die with us), lock (one run
//                    per work folder)
//   shared folders   corpus/ (reading, sampling, splitting records), runtime/ (running Python jobs, their events),
//                    report/ (plots, headline results, the index page), notebook/ (the headless runner)
//   steps            label/ (1), train/ (2), infer/ (3, namespace `inference`), cost/ (4): a step imports the shared
//                    pieces and earlier steps only (tests/lib/layout.test.ts checks it)
//
// Renamed in the reshaping into step folders (old namespace.name -> new):
//   data.* -> corpus.*;  teacher.*, store.*, dataset.* -> label.*;  evaluate.* -> inference.*;
//   runtime.{train, merge, trainConfig, presets, loadTrainingFile, validateTrainConfig, TrainConfig...} -> train.*;
//   pipeline.workspace -> paths.workspace;  pipeline.{teacherConfig, teacherName} -> label.*;
//   pipeline.{trainingCurves, showExamples, studentTokenLengths, saveTraining, studentParams} -> train.*;
//   pipeline.{testSet, studentModel, evaluateStudent, perFieldFigure, confusionFigures, byGroupFigure,
//             disagreementRows, baseline(s), saveEvaluation, loadEvaluation, meanKappa} -> inference.*;
//   pipeline.{apiTokens, writeCorpusSample, measureThroughput, breakEvenFigure, fixedCosts, paretoPoints,
//             utilization} -> cost.*;  cost.{loadPrices, withOverrides, apiPrice, gpuPrice, apiCallCost, apiCostPerRecord,
//   apiCorpusCost, Prices...} -> prices.* (shared: the teacher counts its spending with them).
export * as paths from "./paths";
export * as task from "./task";
export * as keywords from "./keywords";
export * as tokens from "./tokens";
export * as prices from "./prices";
export * as progress from "./progress";
export * as corpus from "./corpus";
export * as runtime from "./runtime";
export * as plots from "./report/plots";
export * as report from "./report";
export * as notebook from "./notebook";
export * as label from "./label";
export * as train from "./train";
// Not "infer": that is a TypeScript keyword in type position, and tslab then cannot name infer.X types across cells.
export * as inference from "./infer";
export * as cost from "./cost";
