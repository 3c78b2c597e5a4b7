"""A tiny randomly initialised Llama with SmolLM2's real tokenizer, for fast tests (no hub, no download).

    python -m distill_runtime.tiny --out DIR [--seed 0] [--hidden 64] [--layers 2] [--heads 4]

The folder is a normal transformers model folder (config.json, model.safetensors, tokenizer files). The weights are
random, so its outputs are garbage, but every code path (LoRA, packing, checkpoints, merge, generation) is real.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .model import gguf_tokenizer_dir, smollm2_gguf


def make_tiny_model(out: str | Path, *, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = Path(out)
    tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(smollm2_gguf()))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_runtime.tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args(argv)
    out = make_tiny_model(args.out, seed=args.seed, hidden=args.hidden, layers=args.layers, heads=args.heads)
    # stdout carries one JSON line, like the jobs, so callers can parse where the model went.
    sys.stdout.write(json.dumps({"model_dir": str(out.resolve())}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
