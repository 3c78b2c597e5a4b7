"""What the bench ran on: the machine, the versions, and the GPU's dense bf16 peak from data/hardware.json."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..task import project_root


def hardware_peaks() -> list[dict[str, Any]]:
    """data/hardware.json's GPUs, most specific name first (the first whose `match` the device name contains wins)."""
    return json.loads((project_root() / "data" / "hardware.json").read_text(encoding="utf-8"))["gpus"]


def peak_tflops(gpu_name: str | None) -> tuple[float | None, str | None]:
    """(dense bf16 TFLOP/s, the hardware.json entry's match) for a device name, or (None, None) when unknown."""
    if not gpu_name:
        return None, None
    for entry in hardware_peaks():
        if entry["match"].lower() in gpu_name.lower():
            return float(entry["bf16_dense_tflops"]), entry["match"]
    return None, None


def machine_info() -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memoryGiB": _memory_gib(),
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "peft": _version("peft"),
        "accelerate": _version("accelerate"),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_sms=props.multi_processor_count,
        )
        smi = shutil.which("nvidia-smi")
        if smi:
            r = subprocess.run(
                [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                check=False,
            )
            if r.returncode == 0 and r.stdout.strip():
                name, memory, driver = (x.strip() for x in r.stdout.strip().splitlines()[0].split(","))
                info.update(nvidia_smi_name=name, nvidia_smi_memory=memory, driver=driver)
    return info


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> int | None:
    try:
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        return round(kb / 2**20)
    except (OSError, ValueError, IndexError):
        return None
