"""The transformers engine (CPU or GPU): prompts sorted by length in windows, batched with LEFT padding, decoded with
the KV cache. decoding "constrained" (the default): the task's JSON skeleton is forced and only the values are chosen
(inference/constrained.py), so every output parses; a boolean's margin (logprob true - false) goes into the row, and
the adapter's calibration.json (if any) sets its thresholds. decoding "free": model.generate, greedy, each row stopping
at EOS or as soon as its JSON object closes (JsonClosed below)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..encoding import encode_prompts, read_thresholds
from ..events import log
from ..inference.config import InferConfig
from ..inference.constrained import Decoded, decode_batch
from ..inference.output import (
    Throughput,
    default_max_new_tokens,
    emit_start,
    json_object_end,
    labeled,
    longest_target_tokens,
    prediction,
)
from ..task import Example, Task, render_target, resolve_path
from .base import Write

# Prompts are sorted by length inside windows of this many batches, so output is written as it is produced.
SORT_WINDOW_BATCHES = 32


def make_json_closed_criteria(tokenizer: Any, prompt_width: int) -> Any:
    """A transformers StoppingCriteria: a row is done once its decoded continuation holds a closed JSON
    object. It also records, per row, how many new tokens that took (the rest of the row is padding)."""
    import torch
    from transformers import StoppingCriteria

    class JsonClosed(StoppingCriteria):
        def __init__(self) -> None:
            self.closed_at: dict[int, int] = {}

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            new_tokens = input_ids[:, prompt_width:]
            done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            for row, text in enumerate(tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                if row in self.closed_at:
                    done[row] = True
                elif json_object_end(text) is not None:
                    self.closed_at[row] = new_tokens.shape[1]
                    done[row] = True
            return done  # type: ignore[return-value]

    return JsonClosed()


def load_transformers_model(config: InferConfig) -> tuple[Any, Any, Any]:
    from ..model import adapter_folder, device_and_dtype, load_model_and_tokenizer, merge_adapter, quiet_transformers

    quiet_transformers()
    device, dtype = device_and_dtype(config.device, config.dtype)
    spec = config.merged_dir if config.merged_dir is not None else config.model
    assert spec is not None
    model, tokenizer = load_model_and_tokenizer(spec, dtype=dtype, device=device, padding_side="left")
    if config.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_folder(config.adapter_dir)))
        if config.merge:
            model = merge_adapter(model)
    model.eval()
    return model, tokenizer, device


def generate_batch(
    model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int, device: Any
) -> list[tuple[str, int]]:
    """Greedy continuations of token-id prompts, batched with left padding: [(completion, output tokens)]."""
    import torch

    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
    attention_mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    criteria = make_json_closed_criteria(tokenizer, width)
    eos = tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            stopping_criteria=[criteria],
            eos_token_id=eos,
            pad_token_id=pad,
            use_cache=True,
        )
    results = []
    for row, tokens in enumerate(out[:, width:].tolist()):
        length = len(tokens)
        if eos in tokens:  # EOS is a generated token (it counts); what follows it is padding
            length = tokens.index(eos) + 1
        length = min(length, criteria.closed_at.get(row, length))
        results.append((tokenizer.decode(tokens[:length], skip_special_tokens=True), length))
    return results


def windows(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


# Constrained decoding reads each prompt once, so a batch's cost is its rows times its longest prompt: a batch is cut
# early where padding would pass this share of its tokens. The bench's 64 recipes, sorted, were 28% padding in batches
# of 16 (their lengths have a long tail); npm start's 313 in sorted windows 4.5%, which this mostly leaves whole.
MAX_PADDING = 0.1


def padded_batches(
    order: list[int], lengths: list[int], size: int, max_padding: float = MAX_PADDING
) -> Iterator[list[int]]:
    """Batches of at most `size` of `order` (sorted longest first), each cut before its padding passes max_padding."""
    batch: list[int] = []
    for i in order:
        if batch:
            longest = lengths[batch[0]]
            rows = len(batch) + 1
            padding = 1 - (sum(lengths[j] for j in batch) + lengths[i]) / (rows * longest)
            if len(batch) == size or padding > max_padding:
                yield batch
                batch = []
        batch.append(i)
    if batch:
        yield batch


class TransformersEngine:
    name = "transformers"

    def run(
        self, config: InferConfig, task: Task, examples: list[Example], write: Write, meter: Throughput
    ) -> dict[str, Any]:
        model, tokenizer, device = load_transformers_model(config)
        constrained = config.decoding == "constrained"
        if constrained:  # nothing is generated freely: the longest target bounds the output
            max_new_tokens = longest_target_tokens(task, tokenizer)
        else:
            max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, tokenizer)
        thresholds = calibration_thresholds(config) if constrained else {}
        if thresholds:
            log(f"calibration: boolean thresholds {thresholds}")
        prompts, cut = encode_prompts(tokenizer, task, [e.text for e in examples])
        emit_start(config, "transformers", str(device), model, max_new_tokens, meter)
        lengths = [len(p) for p in prompts]
        # free generation keeps full batches: its many decoding steps cost per batch, not per padded token
        size = config.batch_size
        for window in windows(list(range(len(examples))), config.batch_size * SORT_WINDOW_BATCHES):
            # Longest first: similar lengths share a batch (less padding) and a too-big batch fails at once.
            order = sorted(window, key=lambda i: -len(prompts[i]))
            by_index: dict[int, dict] = {}
            for batch in padded_batches(order, lengths, size) if constrained else windows(order, size):
                batch_prompts = [prompts[i] for i in batch]
                if constrained:
                    decoded = decode_batch(model, tokenizer, task, batch_prompts, thresholds, device)
                    records = [
                        constrained_prediction(task, i, examples[i], d, len(prompts[i]))
                        for i, d in zip(batch, decoded, strict=True)
                    ]
                else:
                    outputs = generate_batch(model, tokenizer, batch_prompts, max_new_tokens, device)
                    records = [
                        prediction(task, i, examples[i], text, len(prompts[i]), n)
                        for i, (text, n) in zip(batch, outputs, strict=True)
                    ]
                by_index.update((r["index"], r) for r in records)
                meter.add(records)
                meter.emit_progress()
            write([by_index[i] for i in window])  # input order restored
        return {"device": str(device), "max_new_tokens": max_new_tokens, "inputs_cut": cut}

    def open(self, config: InferConfig, task: Task) -> TransformersLabeler:
        model, tokenizer, device = load_transformers_model(config)
        return TransformersLabeler(config, task, model, tokenizer, device)


class TransformersLabeler:
    """The loaded model for batch-at-a-time callers (the corpus job, Ray's map_batches): label_batch decodes exactly
    as run() does (constrained by default, the calibration's thresholds), sorting its texts by prompt length (less
    padding), config.batch_size at a time, and returns the rows in the texts' order."""

    def __init__(self, config: InferConfig, task: Task, model: Any, tokenizer: Any, device: Any) -> None:
        self.config, self.task, self.model, self.tokenizer, self._device = config, task, model, tokenizer, device
        self.device = str(device)
        self.constrained = config.decoding == "constrained"
        if self.constrained:
            self.max_new_tokens = longest_target_tokens(task, tokenizer)
        else:
            self.max_new_tokens = config.max_new_tokens or default_max_new_tokens(task, tokenizer)
        self.thresholds = calibration_thresholds(config) if self.constrained else {}
        self.params_total = sum(p.numel() for p in model.parameters())

    def label_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        prompts, _ = encode_prompts(self.tokenizer, self.task, texts)
        rows: list[dict[str, Any] | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(prompts[i]))
        lengths = [len(p) for p in prompts]
        size = self.config.batch_size
        for batch in padded_batches(order, lengths, size) if self.constrained else windows(order, size):
            batch_prompts = [prompts[i] for i in batch]
            if self.constrained:
                decoded = decode_batch(
                    self.model, self.tokenizer, self.task, batch_prompts, self.thresholds, self._device
                )
                for i, d in zip(batch, decoded, strict=True):
                    row = labeled(self.task, render_target(self.task, d.labels), len(prompts[i]), d.output_tokens)
                    if d.margins:
                        row["margins"] = d.margins
                    rows[i] = row
            else:
                outputs = generate_batch(self.model, self.tokenizer, batch_prompts, self.max_new_tokens, self._device)
                for i, (text, n) in zip(batch, outputs, strict=True):
                    rows[i] = labeled(self.task, text, len(prompts[i]), n)
        return [r for r in rows if r is not None]


def calibration_thresholds(config: InferConfig) -> dict[str, float]:
    """The boolean thresholds of the model's calibration.json (beside the adapter, or in the merged folder), unless
    calibration is off."""
    if not config.calibration:
        return {}
    folder = config.adapter_dir if config.adapter_dir is not None else config.merged_dir
    return read_thresholds(resolve_path(folder)) if folder is not None else {}


def constrained_prediction(task: Task, index: int, example: Example, decoded: Decoded, input_tokens: int) -> dict:
    record = prediction(task, index, example, render_target(task, decoded.labels), input_tokens, decoded.output_tokens)
    if decoded.margins:
        record["margins"] = decoded.margins
    return record
