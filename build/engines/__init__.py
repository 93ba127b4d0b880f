"""Alternative build engines; the in-process one (build/pipeline.py) stays the default."""
