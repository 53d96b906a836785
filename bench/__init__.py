"""Benchmarks (`make bench`): run as modules from the project root, `python -m bench.run`."""
