"""distill_runtime: the Python CUDA/CPU runtime driven by the TypeScript lib (one entry per job)."""

import os

# Before any job imports torch (the imports are lazy): OpenMP's default spin-waiting makes every small op crawl when the
# cores are shared with other work (measured on 2 busy cores: ~20x slower training steps, 3-6 s instead of 0.1 s per
# decode step); passive waiting costs nothing measurable otherwise. Set it in the environment to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
