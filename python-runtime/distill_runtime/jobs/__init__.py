"""The jobs `python -m distill_runtime <job>` runs, one module each: read the JSON config, drive the recipe or engine,
speak events.py's stream. train (training/recipe.py), infer (engines/), merge, export (GGUF), tokens."""
