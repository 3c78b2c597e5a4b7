// Which inference engine runs a config: engine "auto" picks the fastest one this machine has that keeps the labels.
//   CUDA (device auto or cuda): vLLM when installed, else the transformers engine (Python infer job).
//   CPU: the llama.cpp engine (llama.ts, in Node) when it can run the task, its q8_0 weights keep the student's labels
//        and the student's GGUF export works; else the transformers engine, JSON skeleton forced, the adapter merged
//        in memory (job.ts). The two ran within the host's swings of each other on 2 CPU cores, back to back on the same
//        student (bench/results/infer.json, quality-notes.md's fifth round): transformers 0.89-1.15x llama.cpp q8_0;
//        so labels decide: q8_0 flips labels near calibrated thresholds and along a fitted readout.
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
 * `quantizationProblem` why its q8_0 export would change this student's labels (quantizationLosesLabels: auto avoids
 * it; llama.cpp asked for by name runs and says it). Pure: the hardware comes in (detectHardware), so the rule is tested
 * anywhere.
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
    return { engine: "llama.cpp", reason: quantizationProblem ? `asked for; ${quantizationProblem}` : "asked for" };
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
 * Why q8_0 would change this student's labels, or null. Two kinds of student put their decisions where ggml's q8_0
 * rounding of every layer's activations moves them:
 * - a fitted readout (fit_readout: the student's distill.json) reads each boolean along one long direction in lm_head,
 *   which amplifies the rounding: on the default student's 313 test recipes the q8_0 margins moved by 0.6-0.8 (sd)
 *   from fp32's, 25-77 labels per field flipped and mean kappa fell from 0.52 to 0.48, with lm_head kept at f16 too;
 * - calibrated thresholds (calibration.json, applied when the config's calibration is on) sit where the margins are
 *   dense (a field true in 76% of recipes gets its threshold inside the bulk, not at 0): on the infer bench's LoRA
 *   student q8_0 flipped 29 of 320 labels against fp32 with its thresholds, 2 of 320 with plain argmax.
 * An f16 GGUF is exact but ran 0.98 records/s here against 1.65 for the transformers engine.
 */
export function quantizationLosesLabels(studentDir: string | null, ggufType: "q8_0" | "f16" | "f32", calibration: boolean): string | null {
  if (studentDir === null || ggufType !== "q8_0") return null;
  const folder = paths.resolve(studentDir);
  const file = path.join(folder, "distill.json");
  if (fs.existsSync(file)) {
    let notes: { config?: { fit_readout?: boolean } };
    try {
      notes = JSON.parse(fs.readFileSync(file, "utf8")) as typeof notes;
    } catch (e) {
      throw new Error(`${file} is not the train job's JSON (${(e as Error).message}): retrain, or restore the file`);
    }
    if (notes.config?.fit_readout === true) return "the student's fitted readout loses labels to q8_0 (gguf_type f16 keeps them, slower)";
  }
  if (calibration && fs.existsSync(path.join(folder, "calibration.json"))) {
    return "the student's calibrated thresholds lose labels to q8_0 (gguf_type f16 keeps them, slower; calibration false decides by argmax)";
  }
  return null;
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
