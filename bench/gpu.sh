#!/usr/bin/env bash
# The GPU bench, one short script for a lent GPU machine (<= 8 minutes on an H100): bf16 LoRA training and batch
# inference of a Llama-2-7B-shaped model (random weights, no network) through our own train and infer jobs; writes
# bench/results/gpu.json with the hardware. What it measures and how: python-runtime/distill_runtime/bench/gpu.py.
#
#   bench/gpu.sh                  on the GPU machine, from a copy of the repository (no install needed)
#   bench/gpu.sh --tiny           the same path with a tiny model, on a CPU (the tests run this)
#   bench/gpu.sh --fetch-wheels   here, with PyPI: the wheels the GPU machine lacks, into .whl/ (carry it along)
#
# It needs python3 with torch, transformers, peft, accelerate, tokenizers and safetensors (the GPU image has them).
# The runtime also needs pydantic, which that image lacks: when it is missing, the wheels from .whl/ (see
# --fetch-wheels) are unpacked into a temporary folder on PYTHONPATH; nothing is installed into the environment.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# pydantic and what it needs, at the versions python-runtime/pyproject.toml pins (pydantic-core matches pydantic).
WHEELS="pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5"
wheel_dir="${DISTILL_WHEELS:-$root/.whl}"

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  py_version="${2:-3.12}"  # the GPU image's Python
  mkdir -p "$wheel_dir"
  # shellcheck disable=SC2086
  python3 -m pip download --no-deps --only-binary=:all: --python-version "$py_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$wheel_dir" $WHEELS
  echo "wheels in $wheel_dir (git-ignored): name .whl in the device run's carry list"
  exit 0
fi

if [[ -n "${DISTILL_PYTHON:-}" ]]; then
  py="$DISTILL_PYTHON"
elif [[ " $* " == *" --tiny "* && -x "$root/.venv/bin/python" ]]; then
  py="$root/.venv/bin/python"  # the CPU check uses the project's venv when there is one
else
  py=python3
fi
export PYTHONPATH="$root/python-runtime${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if ! "$py" -c "import pydantic" 2>/dev/null; then
  shopt -s nullglob
  wheels=("$wheel_dir"/*.whl)
  if (( ${#wheels[@]} == 0 )); then
    echo "gpu.sh: $py has no pydantic and $wheel_dir holds no wheels." >&2
    echo "  fetch them where PyPI is reachable: bench/gpu.sh --fetch-wheels, then bring .whl/ along" >&2
    exit 2
  fi
  site="$(mktemp -d)"
  trap 'rm -rf "$site"' EXIT
  for w in "${wheels[@]}"; do "$py" -m zipfile -e "$w" "$site"; done
  export PYTHONPATH="$PYTHONPATH:$site"
  echo "gpu.sh: pydantic from ${#wheels[@]} wheels in $wheel_dir (unpacked to $site)" >&2
fi

"$py" -c "import torch, transformers, peft, accelerate, tokenizers, safetensors, pydantic" || {
  echo "gpu.sh: $py lacks a package the bench needs (above)" >&2
  exit 2
}
exec "$py" -m distill_runtime.bench.gpu "$@"
