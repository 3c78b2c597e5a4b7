"""Schema-constrained decoding with a transformers model: the output always parses and fits the task.

What is forced and how values are chosen is specified in encoding.py (the skeleton, the candidates, calibration);
this module runs it on a batch with the KV cache:

1. prefill: prompt ids (left padded) + the first skeleton piece;
2. per field, from the next-token log-probs at the end of its piece:
   - boolean / enum: each candidate scored by the sum of its tokens' log-probs (one token each for SmolLM2's true
     and false: no extra forward; a longer candidate is fed, scored, then retracted); booleans are true iff
     score(true) - score(false) > the field's calibration threshold (0 without calibration), enums take the best;
   - integer / string: greedy over the tokens that may continue the value (digits, and a leading minus sign; for a
     string any token without a quote, backslash or control character), until a token that ends the value (one
     starting with "," or "}" after a number, one starting with a quote in a string) or a length limit; the number
     is then clamped into [minimum, maximum], the string cut to maxLength;
   then the chosen value's ids (as encode_target writes them, the generated ones retracted) and the next piece are
   fed in one small cached step.
3. the completion is render_target(labels): valid JSON of the schema by construction.

Rows of a batch can need chunks of different lengths (enum values, free-form values): chunks are left padded with
masked tokens, positions counted per row, so every row sees exactly its own ids. "Retracting" masks tokens out of the
attention mask and rewinds the row's position: the model never sees them again.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from ..encoding import candidates, skeleton, text_ids, value_ids
from ..task import FieldSpec, Task

MAX_INT_CHARS = 19  # within a 64-bit integer
MAX_STRING_TOKENS = 128
DEFAULT_MAX_STRING_CHARS = 500


@dataclass
class Decoded:
    labels: dict[str, Any]
    margins: dict[str, float]  # boolean fields: logprob(true) - logprob(false)
    output_tokens: int  # the target's tokens (skeleton + values), what a free decoder would have generated


class Rows:
    """A batch of sequences growing chunk by chunk through the model's KV cache."""

    def __init__(self, model: Any, pad_id: int, batch: int, device: Any) -> None:
        import torch
        from transformers import DynamicCache

        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.cache = DynamicCache(config=model.config)
        self.mask = torch.zeros(batch, 0, dtype=torch.long, device=device)
        self.next_pos = [0] * batch

    def feed(self, chunks: list[list[int]], keep: int = 1) -> Any:
        """Append one chunk per row (left padded); the log-probs of the next token at the last `keep` positions,
        [rows, keep, vocab] (a row's chunk ends at the last position)."""
        import torch

        width = max(len(c) for c in chunks)
        ids, chunk_mask, positions = [], [], []
        for r, chunk in enumerate(chunks):
            pad = width - len(chunk)
            ids.append([self.pad_id] * pad + chunk)
            chunk_mask.append([0] * pad + [1] * len(chunk))
            start = self.next_pos[r]
            positions.append([max(start - 1, 0)] * pad + list(range(start, start + len(chunk))))
            self.next_pos[r] += len(chunk)
        self.mask = torch.cat([self.mask, torch.tensor(chunk_mask, device=self.device)], dim=1)
        out = self.model(
            input_ids=torch.tensor(ids, device=self.device),
            attention_mask=self.mask,
            position_ids=torch.tensor(positions, device=self.device),
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=keep,
        )
        self.cache = out.past_key_values
        return torch.log_softmax(out.logits.float(), dim=-1)

    def retract(self, lengths: list[int]) -> None:
        """Take back each row's last lengths[r] real tokens: masked out, positions rewound."""
        for r, n in enumerate(lengths):
            if n == 0:
                continue
            real = self.mask[r].nonzero().flatten()
            self.mask[r, real[-n:]] = 0
            self.next_pos[r] -= n


def score_candidates(rows: Rows, logprobs: Any, options: list[list[int]]) -> Any:
    """[rows, candidates]: the sum of each candidate's token log-probs after the current position."""
    import torch

    scores = torch.stack([logprobs[:, ids[0]] for ids in options], dim=1)
    for c, ids in enumerate(options):
        if len(ids) > 1:  # feed all but the last token, score the rest, then take them back
            rest = rows.feed([ids[:-1]] * len(rows.next_pos), keep=len(ids) - 1)
            for k, token in enumerate(ids[1:]):
                scores[:, c] += rest[:, k, token]
            rows.retract([len(ids) - 1] * len(rows.next_pos))
    return scores


@functools.lru_cache(maxsize=4)
def _token_classes(tokenizer: Any) -> dict[str, Any]:
    """Vocabulary masks for the free-form values (computed once per tokenizer, only for tasks that have them)."""
    import torch

    n = len(tokenizer)
    special = set(tokenizer.all_special_ids)
    texts = [tokenizer.decode([i]) if i not in special else "" for i in range(n)]

    def mask(pred: Any) -> Any:
        return torch.tensor([bool(t) and pred(t) for t in texts])

    return {
        "digits": mask(lambda t: t.isascii() and t.isdigit()),
        "minus": mask(lambda t: t == "-"),
        "number_end": mask(lambda t: t[0] in ",}"),
        "string_body": mask(lambda t: not any(ch in '"\\' or ord(ch) < 0x20 for ch in t)),
        "string_end": mask(lambda t: t[0] == '"'),
        "texts": texts,
    }


def free_value(rows: Rows, logprobs: Any, spec: FieldSpec, tokenizer: Any) -> list[Any]:
    """Greedy integer or string values for every row (see the module docstring); the generated tokens are retracted."""
    import torch

    classes = _token_classes(tokenizer)
    batch = len(rows.next_pos)
    generated: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    last = logprobs[:, -1]
    if spec.type == "string":  # the opening quote is part of the value's JSON: force it
        last = rows.feed([text_ids(tokenizer, '"')] * batch)[:, -1]
    ends = classes["number_end" if spec.type == "integer" else "string_end"]
    for _ in range(MAX_STRING_TOKENS if spec.type == "string" else MAX_INT_CHARS):
        allowed = torch.zeros(batch, last.shape[-1], dtype=torch.bool)
        for r in range(batch):
            if spec.type == "integer":
                allowed[r] = classes["digits"]
                if generated[r] and classes["digits"][generated[r][-1]]:
                    allowed[r] |= classes["number_end"]
                elif not generated[r]:
                    allowed[r] |= classes["minus"]
            else:
                allowed[r] = classes["string_body"] | classes["string_end"]
        picks = last.masked_fill(~allowed.to(last.device), float("-inf")).argmax(dim=-1).tolist()
        for r, token in enumerate(picks):
            if not done[r] and ends[token]:
                done[r] = True
            elif not done[r]:
                generated[r].append(token)
        if all(done):
            break
        # finished rows feed a pad, taken back at once: a row's sequence holds only its own value
        last = rows.feed([[rows.pad_id] if done[r] else [generated[r][-1]] for r in range(batch)])[:, -1]
        rows.retract([1 if done[r] else 0 for r in range(batch)])
    rows.retract([len(g) + (1 if spec.type == "string" else 0) for g in generated])
    return [_finish(spec, tokenizer.decode(g)) for g in generated]


def _finish(spec: FieldSpec, text: str) -> Any:
    if spec.type == "string":
        return text[: spec.max_length if spec.max_length is not None else DEFAULT_MAX_STRING_CHARS]
    value = int(text) if re.fullmatch(r"-?[0-9]+", text) else int(spec.minimum if spec.minimum is not None else 0)
    if spec.minimum is not None and value < spec.minimum:
        value = int(-(-spec.minimum // 1))  # the smallest integer >= minimum
    if spec.maximum is not None and value > spec.maximum:
        value = int(spec.maximum // 1)
    return value


def decode_batch(
    model: Any, tokenizer: Any, task: Task, prompts: list[list[int]], thresholds: dict[str, float], device: Any
) -> list[Decoded]:
    """Constrained greedy decoding of a batch of prompt ids (module docstring)."""
    import torch

    sk = skeleton(tokenizer, task)
    batch = len(prompts)
    rows = Rows(model, tokenizer.pad_token_id, batch, device)
    labels: list[dict[str, Any]] = [{} for _ in range(batch)]
    margins: list[dict[str, float]] = [{} for _ in range(batch)]
    with torch.inference_mode():
        logprobs = rows.feed([p + list(sk.pieces[0]) for p in prompts])
        for j, spec in enumerate(task.fields):
            options = candidates(tokenizer, spec)
            if options is not None:
                scores = score_candidates(rows, logprobs[:, -1], [ids for _, ids in options])
                for r in range(batch):
                    if spec.type == "boolean":
                        margin = float(scores[r, 0] - scores[r, 1])
                        margins[r][spec.name] = round(margin, 4)
                        labels[r][spec.name] = margin > thresholds.get(spec.name, 0.0)
                    else:
                        labels[r][spec.name] = options[int(scores[r].argmax())][0]
            else:
                for r, value in enumerate(free_value(rows, logprobs, spec, tokenizer)):
                    labels[r][spec.name] = value
            if j + 1 < len(task.fields):  # the chosen value as training wrote it, then the next piece
                nxt = list(sk.pieces[j + 1])
                logprobs = rows.feed([value_ids(tokenizer, labels[r][spec.name]) + nxt for r in range(batch)])
    lengths = [sum(len(p) for p in sk.pieces) + len(sk.closing) for _ in range(batch)]
    for r in range(batch):
        lengths[r] += sum(len(value_ids(tokenizer, v)) for v in labels[r].values())
    return [Decoded(labels[r], margins[r], lengths[r]) for r in range(batch)]
