// Which inference engine runs a config: engine "auto" picks the fastest one this machine has.
//   CUDA (device auto or cuda): vLLM when installed, else the transformers engine (Python infer job).
//   CPU: the llama.cpp engine (llama.ts, in Node) when it can run the task, its q8_0 weights keep the student's
//        labels, and the student's GGUF export works; else the transformers engine. Measured on 2 CPU cores:
//        bench/results/infer.json, and for a fitted readout bench/results/quality-notes.md.
// An explicit engine is taken as asked (the Python job checks vLLM's own requirements).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";

export type EngineName = "llama.cpp" | "transformers" | "vllm";

export interface Hardware {
  cuda: boolean;
  vllm: boolean;
}

export interface EngineChoice {
  engine: EngineName;
  reason: string;
}

/**
 * The engine for a request. `llamaProblem` says why the llama.cpp engine cannot run this task (null when it can);
 * `quantizationProblem` why its q8_0 export would change this student's labels (readoutLosesToQ8: only "auto" avoids
 * it, an engine asked for by name runs). Pure: the hardware comes in (detectHardware), so the rule is tested anywhere.
 */
export function selectEngine(
  requested: "auto" | EngineName,
  device: "auto" | "cpu" | "cuda",
  hw: Hardware,
  llamaProblem: string | null,
  quantizationProblem: string | null = null,
): EngineChoice {
  if (requested === "llama.cpp") {
    if (device === "cuda") throw new Error('engine "llama.cpp" runs on the CPU here (device "cuda" asked): use engine "vllm" or "transformers", or device "cpu"');
    if (llamaProblem) throw new Error(`${llamaProblem}: use engine "transformers"`);
    return { engine: "llama.cpp", reason: "asked for" };
  }
  if (requested !== "auto") return { engine: requested, reason: "asked for" };
  if (device !== "cpu" && hw.cuda) {
    return hw.vllm ? { engine: "vllm", reason: "CUDA GPU with vLLM installed" } : { engine: "transformers", reason: "CUDA GPU, vLLM not installed" };
  }
  if (device === "cuda") return { engine: "transformers", reason: "device cuda asked, no CUDA GPU seen (the job will say why)" };
  if (llamaProblem) return { engine: "transformers", reason: `CPU; ${llamaProblem}` };
  if (quantizationProblem) return { engine: "transformers", reason: `CPU; ${quantizationProblem}` };
  return { engine: "llama.cpp", reason: "CPU: llama.cpp with the JSON skeleton forced" };
}

/**
 * Why q8_0 would change this student's labels, or null. A fitted readout (fit_readout: the student's distill.json)
 * reads each boolean along one long direction in lm_head, which amplifies ggml's q8_0 rounding of every layer's
 * activations: on the default student's 313 test recipes the q8_0 margins moved by 0.6-0.8 (sd) from fp32's, 25-77
 * labels per field flipped and mean kappa fell from 0.52 to 0.48, with lm_head kept at f16 as well. An f16 GGUF is
 * exact but ran 0.98 records/s here against 1.65 for the transformers engine (fp32, LoRA on lm_head only: nothing
 * unmerged slows it; a student with LoRA on every layer ran 1.03 there against llama.cpp q8_0's 1.41).
 */
export function readoutLosesToQ8(studentDir: string | null, ggufType: "q8_0" | "f16" | "f32"): string | null {
  if (studentDir === null || ggufType !== "q8_0") return null;
  const file = path.join(paths.resolve(studentDir), "distill.json");
  if (!fs.existsSync(file)) return null;
  let notes: { config?: { fit_readout?: boolean } };
  try {
    notes = JSON.parse(fs.readFileSync(file, "utf8")) as typeof notes;
  } catch (e) {
    throw new Error(`${file} is not the train job's JSON (${(e as Error).message}): retrain, or restore the file`);
  }
  return notes.config?.fit_readout === true ? "the student's fitted readout loses labels to q8_0 (gguf_type f16 keeps them, slower)" : null;
}

let probed: Hardware | null = null;

/** CUDA and vLLM as the Python runtime sees them. No NVIDIA driver on the machine: no CUDA, without starting Python. */
export function detectHardware(device: "auto" | "cpu" | "cuda"): Hardware {
  if (device === "cpu") return { cuda: false, vllm: false };
  const driver = fs.existsSync("/proc/driver/nvidia/version") || fs.existsSync("/dev/nvidia0");
  if (!driver) return { cuda: false, vllm: false };
  probed ??= JSON.parse(
    execFileSync(paths.python, ["-c", "import importlib.util, json, torch; print(json.dumps({'cuda': torch.cuda.is_available(), 'vllm': importlib.util.find_spec('vllm') is not None}))"], { encoding: "utf8" }),
  ) as Hardware;
  return probed;
}
