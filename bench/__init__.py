"""Benchmarks: one script each, measured against a baseline in the same run."""
