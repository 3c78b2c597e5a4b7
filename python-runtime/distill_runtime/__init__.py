"""distill_runtime: the Python CUDA/CPU runtime driven by the TypeScript lib (one entry per job)."""

__version__ = "0.1.0"
