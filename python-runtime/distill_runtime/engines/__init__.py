"""Inference engines, one module each behind the Engine protocol (base.py), and how the job picks one.

- transformers_engine.py (CPU or GPU): prompts sorted by length in windows, batched with left padding, model.generate
  with the KV cache, greedy; each row stops at EOS or as soon as its JSON object closes.
- vllm_engine.py (GPU only, imported lazily): every prompt in one generate call (continuous batching, prefix caching),
  greedy, the output constrained to the task's JSON schema; the adapter served as a LoRARequest.
Both feed token ids made by encoding.encode_prompts, the same encoding training uses, so the model sees the same ids.
"""

from __future__ import annotations

import importlib.util

from ..errors import JobError
from .base import Engine
from .transformers_engine import TransformersEngine
from .vllm_engine import VllmEngine

# The engines by name (InferConfig.engine). A new engine: its class here, its name in InferConfig (see base.py).
ENGINES: dict[str, type[Engine]] = {"transformers": TransformersEngine, "vllm": VllmEngine}
VLLM_PIP = "pip install 'vllm>=0.12'"


def get_engine(name: str) -> Engine:
    return ENGINES[name]()


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def select_engine(requested: str, device: str = "auto") -> str:
    """Engine "auto" is vLLM when CUDA and vllm are both there (and device is not cpu), else transformers."""
    if requested == "transformers":
        return "transformers"
    if requested == "llama.cpp":
        raise JobError(
            "config",
            'engine "llama.cpp" runs in Node (lib/src/infer/llama.ts), not in the Python infer job',
            'call inference.infer() from @distill/lib, or use engine "transformers"',
        )
    if requested == "vllm":
        if not vllm_installed():
            raise JobError(
                "missing_package",
                'engine "vllm" needs the vllm package, which is not installed',
                f'on a CUDA machine: .venv/bin/{VLLM_PIP}; or use engine "transformers"',
            )
        if device == "cpu" or not cuda_available():
            raise JobError("config", 'engine "vllm" needs a CUDA GPU', 'use engine "transformers" (or "auto") on CPU')
        return "vllm"
    return "vllm" if device != "cpu" and cuda_available() and vllm_installed() else "transformers"
