// Facts about the machine and the software a run used, for run.json (and for naming where a throughput was measured).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as paths from "../paths";

export interface Hardware { cpu: string; cores: number; memoryGiB: number; gpu: string | null }

export function git(args: string[]): string | null {
  const r = spawnSync("git", args, { cwd: paths.root, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

let cachedVersions: Record<string, string | null> | null = null;
export function versions(): Record<string, string | null> {
  if (cachedVersions) return cachedVersions;
  const script = [
    "import json, platform, importlib.metadata as m",
    "def v(n):",
    "    try: return m.version(n)",
    "    except Exception: return None",
    "print(json.dumps({'python': platform.python_version(), **{n: v(n) for n in ['torch','transformers','peft','accelerate','vllm','nbclient']}}))",
  ].join("\n");
  const r = spawnSync(paths.python, ["-c", script], { encoding: "utf8" });
  const py = r.status === 0 ? (JSON.parse(r.stdout) as Record<string, string | null>) : { python: null };
  const pkg = (name: string): string | null => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(paths.root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      return null;
    }
  };
  cachedVersions = { node: process.version, ...py, tslab: pkg("tslab"), openai: pkg("openai"), "node-llama-cpp": pkg("node-llama-cpp") };
  return cachedVersions;
}

export function hardware(): Hardware {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], { encoding: "utf8" });
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    gpu: smi.status === 0 && smi.stdout.trim() ? smi.stdout.trim().split("\n").join("; ") : null,
  };
}
