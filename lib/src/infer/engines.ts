// Which inference engine runs a config: engine "auto" picks the fastest one this machine has.
//   CUDA (device auto or cuda): vLLM when installed, else the transformers engine (Python infer job).
//   CPU: the llama.cpp engine (llama.ts, in Node) when it can run the task and the student's GGUF export works,
//        else the transformers engine. Measured on 2 CPU cores: bench/results/infer.json.
// An explicit engine is taken as asked (the Python job checks vLLM's own requirements).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
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
 * The engine for a request. `llamaProblem` says why the llama.cpp engine cannot run this task (null when it can).
 * Pure: the hardware comes in (detectHardware), so the rule is tested on any machine.
 */
export function selectEngine(requested: "auto" | EngineName, device: "auto" | "cpu" | "cuda", hw: Hardware, llamaProblem: string | null): EngineChoice {
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
  return { engine: "llama.cpp", reason: "CPU: llama.cpp with the JSON skeleton forced" };
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
