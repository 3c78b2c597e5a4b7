"""Train the top layers only, and compute the frozen bottom layers once (train_layers + cache_frozen_layers).

With LoRA on the top N of L decoder layers only (PEFT's layers_to_transform), nothing below layer L-N changes
during training, so its output for an example is the same at every epoch. FrozenPrefix computes it the first time a
micro-batch is used (under no_grad: no activations kept) and keeps it per example; every later pass over that
micro-batch runs the top N layers from the stored states. On two CPU cores this is the difference between minutes
and an hour: the bottom layers are ~(L-N)/L of the forward and all of their backward is skipped.

Exactness: the top layers get the stored states with the same position_ids (packing's block-diagonal attention
included), so the loss is the full model's. check() compares the two paths once, on the first micro-batch, and stops
with a clear error for a model whose decoder does not take its layers' input this way.

Resume: the states live in memory only; a resumed run recomputes them as it meets each micro-batch again.
Memory: sum of example lengths x hidden size x 4 bytes (float32), or half that in bfloat16 beyond STORE_FP32_BYTES.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import JobError
from ..events import log

STORE_FP32_BYTES = 1.5 * 2**30


def decoder_of(model: Any) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()


def layer_count(model: Any) -> int:
    return len(decoder_of(model).layers)


@contextmanager
def decoder_span(decoder: Any, start: int, stop: int | None, *, final_norm: bool) -> Iterator[None]:
    """Run the decoder over layers[start:stop] only (and its final norm or not): the decoder's own forward, so
    rotary embeddings and the attention mask (packing included) are built exactly as in a full pass."""
    import torch

    layers, norm = decoder.layers, decoder.norm
    decoder.layers = torch.nn.ModuleList(list(layers)[start:stop])
    if not final_norm:
        decoder.norm = torch.nn.Identity()
    try:
        yield
    finally:
        decoder.layers = layers
        decoder.norm = norm


class FrozenPrefix:
    """Per-example output of the bottom `n_frozen` layers, filled lazily micro-batch by micro-batch."""

    def __init__(self, model: Any, n_frozen: int, lengths: list[int]) -> None:
        self.decoder = decoder_of(model)
        self.n_frozen = n_frozen
        self.lengths = lengths  # per example, in tokens
        self.states: dict[int, Any] = {}
        hidden = int(self.decoder.norm.weight.shape[-1])
        fp32_bytes = sum(lengths) * hidden * 4
        import torch

        self.store_dtype = torch.float32 if fp32_bytes <= STORE_FP32_BYTES else torch.bfloat16
        self.expected_mb = round(fp32_bytes / (1 if self.store_dtype == torch.float32 else 2) / 2**20, 1)

    def hidden(self, rows: list[list[int]], batch: dict[str, Any]) -> Any:
        """Last hidden states (after the final norm) of a collated micro-batch, from the stored bottom states."""
        import torch

        lengths = self.lengths
        if any(i not in self.states for row in rows for i in row):
            self._fill(rows, batch)
        width = batch["input_ids"].shape[1]
        first = self.states[rows[0][0]]
        h = torch.zeros(len(rows), width, first.shape[-1], dtype=self.decoder.norm.weight.dtype, device=first.device)
        for r, row in enumerate(rows):
            start = 0
            for i in row:
                h[r, start : start + lengths[i]] = self.states[i]
                start += lengths[i]
        with decoder_span(self.decoder, self.n_frozen, None, final_norm=True):
            out = self.decoder(inputs_embeds=h, position_ids=batch["position_ids"], use_cache=False)
        return out.last_hidden_state

    def _fill(self, rows: list[list[int]], batch: dict[str, Any]) -> None:
        import torch

        lengths = self.lengths
        training = self.decoder.training
        self.decoder.eval()  # frozen layers: no dropout, as in the no-cache path's base layers
        with torch.no_grad(), decoder_span(self.decoder, 0, self.n_frozen, final_norm=False):
            h = self.decoder(
                input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
            ).last_hidden_state
        self.decoder.train(training)
        for r, row in enumerate(rows):
            start = 0
            for i in row:
                self.states[i] = h[r, start : start + lengths[i]].to(self.store_dtype).clone()
                start += lengths[i]

    def check(self, rows: list[list[int]], batch: dict[str, Any]) -> None:
        """The stored-states path gives the full forward's hidden states (once, on the first micro-batch)."""
        import torch

        training = self.decoder.training
        self.decoder.eval()  # the same (dropout-free) function on both paths
        with torch.no_grad():
            cached = self.hidden(rows, batch).float()
            full = self.decoder(
                input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
            ).last_hidden_state.float()
        self.decoder.train(training)
        # only the examples' own positions: a row's padding is not stored (zeros stand in for it), and it comes after
        # every real token of the row, so no real token attends to it
        real = torch.zeros(full.shape[:2], dtype=torch.bool, device=full.device)
        for r, row in enumerate(rows):
            real[r, : sum(self.lengths[i] for i in row)] = True
        scale = float(full[real].abs().max()) or 1.0
        diff = float((cached - full)[real].abs().max())
        tolerance = 1e-4 if self.store_dtype == torch.float32 else 2e-2
        if diff > tolerance * scale:
            raise JobError(
                "config",
                f"cache_frozen_layers: the top layers from stored states differ from the full forward "
                f"(max difference {diff:.3g}, scale {scale:.3g}): this model's decoder does not run that way",
                "set cache_frozen_layers to false",
            )
        log(f"frozen-layer cache checked against the full forward (max difference {diff:.2g})")
