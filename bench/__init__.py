"""Benchmarks of lapsewatch: `python -m bench [name ...]` (see BENCHMARKS.md)."""
