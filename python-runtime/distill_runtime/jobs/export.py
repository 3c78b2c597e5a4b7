"""`python -m distill_runtime export --config f.json`: a merged model folder -> one GGUF file (llama.cpp, Ollama,
node-llama-cpp, LM Studio).

The converter is llama.cpp's own convert_hf_to_gguf.py (with its gguf-py), taken offline from the llama.cpp source
that node-llama-cpp ships as a git bundle (node_modules/node-llama-cpp/llama/gitRelease.bundle). The bundle is
cloned once into the cache (keyed by its commit) and the script runs in this Python, which has what it imports
(torch, transformers, numpy, sentencepiece). Export a merged model: run the merge job on the adapter first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import read_config_file, validate_config
from ..errors import JobError
from ..events import emit, log
from ..model import cache_dir
from ..task import resolve_path

DEFAULT_BUNDLE = "node_modules/node-llama-cpp/llama/gitRelease.bundle"


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_dir: str = Field(min_length=1, description="a transformers model folder: the merge job's output_dir")
    output_file: str = Field(min_length=1, description="the .gguf file to write")
    outtype: Literal["f32", "f16", "bf16", "q8_0", "auto"] = "f16"
    llama_cpp_bundle: str = Field(default=DEFAULT_BUNDLE, description="git bundle of the llama.cpp source")


def llama_cpp_source(bundle: Path) -> Path:
    """A checkout of llama.cpp from the bundle, cloned once per bundle commit (~3 s) into the cache."""
    if not bundle.is_file():
        raise JobError(
            "missing_package",
            f"llama.cpp source bundle not found: {bundle}",
            "install the npm dependencies (npm install node-llama-cpp) or set llama_cpp_bundle to a llama.cpp bundle",
        )
    git = shutil.which("git")
    if git is None:
        raise JobError(
            "missing_package", "export needs git to unpack the llama.cpp bundle", "install git (apt-get install git)"
        )
    heads = subprocess.run([git, "bundle", "list-heads", str(bundle)], capture_output=True, text=True, check=False)
    if heads.returncode != 0 or not heads.stdout.strip():
        raise JobError("runtime", f"{bundle} is not a readable git bundle: {heads.stderr.strip()}")
    commit = heads.stdout.split()[0]
    target = cache_dir() / f"llama.cpp-{commit[:12]}"
    if not (target / "convert_hf_to_gguf.py").is_file():
        log(f"unpacking the llama.cpp source from {bundle} (once; cached in {target})")
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        clone = subprocess.run(
            [git, "clone", "--quiet", "--depth", "1", str(bundle), str(tmp)],
            capture_output=True,
            text=True,
            check=False,
        )
        if clone.returncode != 0:
            raise JobError("runtime", f"git clone of {bundle} failed: {clone.stderr.strip()}")
        if target.exists():  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, target)
    return target


def export(config: ExportConfig) -> dict[str, str]:
    started = time.time()
    merged = resolve_path(config.merged_dir)
    if not (merged / "config.json").is_file():
        raise JobError(
            "config",
            f"{merged} is not a transformers model folder (no config.json)",
            "export a merged model: run the merge job on the adapter and pass its output_dir as merged_dir",
        )
    output = resolve_path(config.output_file)
    if output.suffix != ".gguf":
        raise JobError("config", f"output_file must end in .gguf, got {output.name}")
    source = llama_cpp_source(resolve_path(config.llama_cpp_bundle))  # relative paths start at the project root
    emit("start", job="export", config=config.model_dump(), device="cpu", info={"llama_cpp": str(source)})
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    command = [sys.executable, str(source / "convert_hf_to_gguf.py"), str(merged), "--outfile", str(partial)]
    command += ["--outtype", config.outtype]
    log("running " + " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    log(result.stderr[-4000:])
    if result.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise JobError(
            "runtime",
            f"convert_hf_to_gguf.py failed (exit {result.returncode}): {tail}",
            "llama.cpp's converter supports the architectures it knows (Llama, Mistral, Qwen, Gemma, ...)",
        )
    os.replace(partial, output)
    outputs = {"gguf_file": str(output)}
    metrics = {"size_bytes": output.stat().st_size, "outtype": config.outtype}
    emit("done", job="export", runtime_s=round(time.time() - started, 3), outputs=outputs, metrics=metrics)
    return outputs


def run_from_file(path: str) -> None:
    export(validate_config(ExportConfig, read_config_file(path), source=str(path)))
