// The student as one GGUF file for the llama.cpp engine (llama.ts): base + adapter go through the merge job, a merged
// folder through the export job (llama.cpp's convert_hf_to_gguf.py at config.gguf_type). Made once, beside the
// student (<parent>/gguf/), and remade only when the files it was made from change (a stamp holds their sizes and
// modification times).
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";
import { runJob, type JobOptions } from "../runtime";
import type { InferConfig } from "./config";

// What the GGUF is made from: weights, configs, tokenizer (not logs, notes or calibration.json, read at run time).
const MODEL_FILE = /(\.safetensors|\.bin|\.model|^config\.json|^adapter_config\.json|^tokenizer.*\.json|^generation_config\.json)$/;

/** Sizes and modification times of a folder's model files: what says a cached GGUF is still this model's. */
function fingerprint(folder: string): string {
  const entries = fs.readdirSync(folder, { withFileTypes: true }).filter((e) => e.isFile() && MODEL_FILE.test(e.name));
  return entries
    .map((e) => {
      const s = fs.statSync(path.join(folder, e.name));
      return `${e.name}:${s.size}:${Math.round(s.mtimeMs)}`;
    })
    .sort()
    .join("|");
}

/** Where the GGUF of this config's student is (or will be) kept. */
export function ggufPath(config: InferConfig): string {
  if (config.merged_dir === null && config.adapter_dir === null && config.model!.endsWith(".gguf")) return paths.resolve(config.model!);
  const source = paths.resolve(config.merged_dir ?? config.adapter_dir ?? config.model!);
  return path.join(path.dirname(source), "gguf", `${path.basename(source)}-${config.gguf_type}.gguf`);
}

/** The GGUF file of the student this config names, made (merge, export) if missing or stale. */
export async function studentGguf(config: InferConfig, opts: JobOptions = {}): Promise<string> {
  const jobOpts = { signal: opts.signal, env: opts.env, onEvent: opts.onEvent };
  if (config.merged_dir === null && config.adapter_dir === null) {
    if (config.model === "smollm2-135m-instruct") return paths.smollm2Gguf(); // the base alone, as shipped
    if (config.model!.endsWith(".gguf")) return paths.resolve(config.model!);
  }
  const target = ggufPath(config);
  const sourceDir = paths.resolve(config.merged_dir ?? config.adapter_dir ?? config.model!);
  const stamp = `${target}.json`;
  const want = JSON.stringify({ source: sourceDir, base: config.adapter_dir ? config.model : null, fingerprint: fingerprint(sourceDir), gguf_type: config.gguf_type });
  if (fs.existsSync(target) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === want) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  let mergedDir = sourceDir;
  if (config.adapter_dir !== null) {
    mergedDir = path.join(path.dirname(target), `${path.basename(sourceDir)}-merged`);
    // The merge job itself, not train.merge: this folder is a step on the way, not the student's merged model.
    await runJob("merge", { base_model: config.model!, adapter_dir: config.adapter_dir, output_dir: mergedDir, dtype: "float32", device: "cpu" }, jobOpts);
  }
  await runJob("export", { merged_dir: mergedDir, output_file: target, outtype: config.gguf_type }, jobOpts);
  if (config.adapter_dir !== null) fs.rmSync(mergedDir, { recursive: true, force: true }); // the GGUF holds it all
  fs.writeFileSync(stamp, want);
  return target;
}
