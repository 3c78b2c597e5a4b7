"""What every inference engine shares: the infer job's config (config.py), and turning generated text into
prediction rows, stopping rules and throughput counts (output.py). The engines are in ../engines/, the job that drives
them in ../jobs/infer.py.
"""
