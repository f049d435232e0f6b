"""Shared parts of the materialization benchmarks (bench/materialize_*.py)."""
