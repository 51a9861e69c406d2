"""Benchmarks (``make bench``); each subpackage is runnable with ``python -m bench.<name>``."""
