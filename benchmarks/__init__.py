"""Benchmarks (``make bench``, ``make bench-quick``, ``make grade-bench``): never part of a student release."""
