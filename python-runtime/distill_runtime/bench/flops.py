"""FLOPs per token of a Llama-shaped model, counted from its shape, and MFU (see gpu.py's module comment)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    context: int


LLAMA2_7B = Shape("Llama-2-7B shape (random init)", 4096, 11008, 32, 32, 32, 32000, 4096)
TINY = Shape("tiny Llama (random init)", 64, 128, 2, 4, 2, 2000, 1024)


def linear_params(shape: Shape) -> int:
    """Weights of the decoder's linear layers (q, k, v, o, gate, up, down) over all layers: what a token multiplies."""
    head_dim = shape.hidden // shape.heads
    attn = 2 * shape.hidden * shape.hidden + 2 * shape.hidden * shape.kv_heads * head_dim
    return shape.layers * (attn + 3 * shape.hidden * shape.intermediate)


def lora_params(shape: Shape, r: int) -> int:
    """LoRA r on all linear layers: r x (in + out) per layer."""
    head_dim = shape.hidden // shape.heads
    kv = shape.kv_heads * head_dim
    dims = [
        (shape.hidden, shape.hidden),
        (shape.hidden, kv),
        (shape.hidden, kv),
        (shape.hidden, shape.hidden),
        (shape.hidden, shape.intermediate),
        (shape.hidden, shape.intermediate),
        (shape.intermediate, shape.hidden),
    ]
    return shape.layers * sum(r * (i + o) for i, o in dims)


def attention_flops(shape: Shape, mean_context: float) -> float:
    """Forward FLOPs per token of attention scores and weighted values at a mean attended context."""
    return 4.0 * shape.layers * shape.hidden * mean_context


def causal_mean_context(lengths: list[int]) -> float:
    """Mean number of positions a token attends to, causal within each sequence: sum l(l+1)/2 over sum l."""
    return sum(n * (n + 1) / 2 for n in lengths) / max(sum(lengths), 1)


def prefill_flops_per_token(shape: Shape, prompt_lengths: list[int]) -> float:
    """Forward over the prompt; the LM head only at each prompt's last position."""
    head = 2.0 * shape.vocab * shape.hidden * len(prompt_lengths) / max(sum(prompt_lengths), 1)
    return 2.0 * linear_params(shape) + attention_flops(shape, causal_mean_context(prompt_lengths)) + head


def lora_train_flops_per_token(shape: Shape, lengths: list[int], target_fraction: float, r: int) -> float:
    """Forward + activation gradients of the frozen weights (4x), full 6x for the adapter, 3x the attention; the LM
    head forward and backward on target positions only (as training/recipe.py computes it)."""
    return (
        4.0 * linear_params(shape)
        + 6.0 * lora_params(shape, r)
        + 3.0 * attention_flops(shape, causal_mean_context(lengths))
        + target_fraction * 4.0 * shape.vocab * shape.hidden
    )


def mfu(flops_per_s: float, peak: float | None) -> float | None:
    return round(flops_per_s / (peak * 1e12), 4) if peak else None
