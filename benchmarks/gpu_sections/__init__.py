"""The sections of `benchmarks/gpu_check.py`, one module per concept; `context` holds what they share."""
