"""merge job: base model + LoRA adapter -> one plain transformers folder (safetensors + tokenizer).

The result loads with AutoModelForCausalLM.from_pretrained(output_dir) and serves with vLLM without LoRA support
(the original merged for the same reason). The base is loaded unquantized even when training used QLoRA: merging
into 4/8-bit weights would round the LoRA update away.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..config import MergeConfig, read_config_file, validate_config
from ..encoding import CALIBRATION_FILE
from ..events import emit, log
from ..model import adapter_folder, device_and_dtype, load_model_and_tokenizer, merge_adapter, quiet_transformers
from ..task import resolve_path


def run_from_file(path: str) -> None:
    merge(validate_config(MergeConfig, read_config_file(path), source=path))


def merge(config: MergeConfig) -> dict[str, str]:
    from peft import PeftModel

    t_start = time.time()
    quiet_transformers()
    adapter_dir = adapter_folder(config.adapter_dir)
    device, dtype = device_and_dtype(config.device, config.dtype)
    model, tokenizer = load_model_and_tokenizer(config.base_model, dtype=dtype, device=device)
    emit(
        "start",
        job="merge",
        config=config.model_dump(mode="json"),
        device=device.type,
        params_total=sum(p.numel() for p in model.parameters()),
        info={"dtype": str(dtype).removeprefix("torch."), "adapter_dir": str(adapter_dir)},
    )
    model = merge_adapter(PeftModel.from_pretrained(model, adapter_dir))

    output_dir = resolve_path(config.output_dir)
    tmp = output_dir.with_name(output_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    note = _training_note(adapter_dir)
    (tmp / "distill.json").write_text(json.dumps({**note, "merged_from": str(adapter_dir)}, indent=2) + "\n")
    if (adapter_dir / CALIBRATION_FILE).is_file():  # the decoder's thresholds belong to these weights too
        shutil.copy2(adapter_dir / CALIBRATION_FILE, tmp / CALIBRATION_FILE)
    if output_dir.is_dir():
        for kept in output_dir.glob("*.log"):  # this job's own log (lib/src/runtime/job.ts writes it here)
            kept.rename(tmp / kept.name)
        shutil.rmtree(output_dir)
    tmp.rename(output_dir)
    log(f"merged model written to {output_dir}")
    outputs = {"merged_dir": str(output_dir)}
    emit("done", job="merge", runtime_s=round(time.time() - t_start, 3), outputs=outputs, metrics={})
    return outputs


def _training_note(adapter_dir: Path) -> dict[str, object]:
    note = adapter_dir / "distill.json"
    return json.loads(note.read_text()) if note.is_file() else {}
