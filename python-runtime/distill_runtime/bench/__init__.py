"""The benchmarks' Python side (run by `npm run bench` and bench/gpu.sh, never by the jobs):
- trl_compare.py: our train loop against TRL's SFTTrainer on the same model, data, LoRA config and steps;
- gpu.py: bf16 LoRA training and batch inference of a Llama-2-7B-shaped model on a GPU (bench/results/gpu.json),
  with its pieces in phases.py (data, tokenizer, random model, prefill, jobs under a deadline), flops.py (FLOPs per
  token from the shape, MFU) and machine.py (hardware, versions, the GPU's peak from data/hardware.json).
"""
