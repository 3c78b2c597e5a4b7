"""Model setup for the train recipe: attention implementation, optimizer, LoRA (all layers or the top ones), memory."""

from __future__ import annotations

import re
import resource
import warnings
from typing import Any

from ..config import TrainConfig
from ..errors import JobError
from .frozen import decoder_of, layer_count


def attention_implementation(config: TrainConfig, device: Any) -> str:
    if config.attn_implementation != "auto":
        return config.attn_implementation
    from transformers.utils import is_flash_attn_2_available

    return "flash_attention_2" if device.type == "cuda" and is_flash_attn_2_available() else "sdpa"


def build_optimizer(config: TrainConfig, params: list[Any]) -> Any:
    """AdamW; the 8-bit one (bitsandbytes, CUDA only: checked before the model loads) when asked."""
    import torch

    if config.optimizer == "adamw_8bit":
        try:
            import bitsandbytes as bnb
        except ImportError as e:
            raise JobError(
                "missing_package",
                "optimizer adamw_8bit needs the bitsandbytes package",
                'install it (.venv/bin/pip install bitsandbytes) or use optimizer "adamw"',
            ) from e
        return bnb.optim.AdamW8bit(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def add_lora(model: Any, config: TrainConfig, quantized: bool) -> Any:
    """LoRA on config.target_modules, in every decoder layer or (train_layers) in the top ones only."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    elif config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    n_layers = layer_count(model)
    top = list(range(n_layers - min(config.train_layers, n_layers), n_layers)) if config.train_layers else None
    targets: str | list[str] = config.target_modules
    if (top or config.lm_head_lora_r) and targets == "all-linear":
        targets = decoder_linear_names(model)  # PEFT takes layers_to_transform only with module names
    extra: dict[str, Any] = {}
    if config.lm_head_lora_r:
        # One regular expression names the decoder modules (in the top layers only, with train_layers) and lm_head:
        # PEFT's layers_to_transform would leave lm_head out, as it has no layer number.
        names = "|".join(re.escape(t) for t in targets)
        layers = "|".join(str(i) for i in top) if top else r"\d+"
        targets = rf".*\.layers\.({layers})\.(.*\.)?({names})|lm_head"
        extra = {
            "rank_pattern": {"lm_head": config.lm_head_lora_r},
            "alpha_pattern": {"lm_head": 2 * config.lm_head_lora_r},
        }
        top = None
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        layers_to_transform=top,
        layers_pattern="layers" if top else None,
        bias="none",
        task_type="CAUSAL_LM",
        **extra,
    )
    with warnings.catch_warnings():
        # PEFT suggests ensure_weight_tying for a LoRA on a tied lm_head; the input embeddings are meant to stay as
        # they are (model.merge_adapter unties the output layer when merging).
        warnings.filterwarnings("ignore", message=".*ensure_weight_tying.*")
        return get_peft_model(model, lora)


def decoder_linear_names(model: Any) -> list[str]:
    """The names of the linear modules inside the decoder layers ("all-linear" spelled out: q_proj, ..., down_proj)."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, m in decoder_of(model).layers.named_modules()
        if isinstance(m, torch.nn.Linear)
    }
    return sorted(names)


def memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # peak RSS (Linux: KiB)
