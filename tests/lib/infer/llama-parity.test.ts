// The llama.cpp engine's labels against transformers' on a real model: SmolLM2-135M-Instruct (the shipped weights,
// dequantized to fp32) exported to an f16 GGUF, four real recipes. The reference is an independent transformers fp32
// forward pass per step with the same forced skeleton: prompt + piece 0 -> margin logprob(true) - logprob(false) ->
// a value + the next piece -> ... The values fed are the engine's choices, so every margin is compared in the same
// context (this untrained model's margins sit near 0, and one value decided differently changes all later margins).
// Tolerance: f16 weights move a margin by ~0.01 (measured 0.003 mean, 0.008 max in the engine research), so margins
// must agree within 0.05 and labels exactly wherever the reference margin is farther than that from 0.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inference as inferLib, paths, runtime, task as taskLib } from "@distill/lib";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llama-parity-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const REFERENCE = `
import json, sys, torch
from transformers import AutoModelForCausalLM
enc = json.load(open(sys.argv[1]))
chosen = [json.loads(line)["labels"] for line in open(sys.argv[3])]
model = AutoModelForCausalLM.from_pretrained(sys.argv[2], torch_dtype=torch.float32).eval()
sk, fields = enc["skeleton"], enc["fields"]
out = []
with torch.inference_mode():
    for r, labels in zip(enc["records"], chosen):
        ids, margins = list(r["prompt_ids"]) + sk["pieces"][0], {}
        for k, f in enumerate(fields):
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
            t, fl = f["candidates"][0]["ids"][0], f["candidates"][1]["ids"][0]
            margins[f["name"]] = float(lp[t] - lp[fl])
            pick = f["candidates"][0 if labels[f["name"]] else 1]
            ids += pick["ids"] + (sk["pieces"][k + 1] if k + 1 < len(fields) else [])
        out.append(margins)
print(json.dumps(out))
`;

test("llama.cpp engine (f16 GGUF) gives transformers fp32's labels on SmolLM2-135M, margins within 0.05", async () => {
  const env = { OMP_NUM_THREADS: "1" };
  const hf = execFileSync(paths.python, ["-c", "from distill_runtime.model import gguf_model_dir, smollm2_gguf; print(gguf_model_dir(smollm2_gguf()))"], { encoding: "utf8", env: { ...process.env, ...env } }).trim();
  const model = path.join(tmp, "smollm2");
  fs.symlinkSync(hf, model); // the GGUF goes beside this link (tmp), not into the shared cache
  const recipes = fs.readFileSync(path.join(paths.root, "data/reference-labels/labels.jsonl"), "utf8").split("\n").filter(Boolean).slice(10, 14).map((l) => JSON.parse(l) as { id: string; text: string });
  const input = path.join(tmp, "in.jsonl");
  fs.writeFileSync(input, recipes.map((r) => JSON.stringify({ id: r.id, text: r.text })).join("\n") + "\n");

  const config = inferLib.inferConfig({ merged_dir: model, input_file: input, output_file: path.join(tmp, "pred.jsonl"), gguf_type: "f16", device: "cpu", engine: "llama.cpp" });
  const result = await inferLib.infer(config, { env, threads: 1 });
  const predictions = inferLib.readPredictions(result.outputFile);

  const encoded = path.join(tmp, "enc.json");
  await runtime.runJob("encode", { model, task_file: "recipes", input_file: input, output_file: encoded }, { env });
  const reference = JSON.parse(execFileSync(paths.python, ["-c", REFERENCE, encoded, model, result.outputFile], { encoding: "utf8", env: { ...process.env, ...env } })) as Record<string, number>[];

  const task = taskLib.loadTask("recipes");
  let compared = 0;
  for (const [i, p] of predictions.entries()) {
    for (const f of task.fields) {
      const ref = reference[i][f.name];
      assert.ok(Math.abs(p.margins![f.name] - ref) < 0.05, `record ${i} ${f.name}: llama.cpp ${p.margins![f.name]} vs transformers ${ref}`);
      if (Math.abs(ref) > 0.05) {
        assert.equal(p.labels![f.name], ref > 0, `record ${i} ${f.name}`);
        compared += 1;
      }
    }
  }
  assert.ok(compared >= 15, `only ${compared} of 20 margins are clear of 0`);
});
