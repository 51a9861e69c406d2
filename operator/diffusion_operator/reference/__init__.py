"""Reference pages generated from their sources: the DiffusionService API and the chart's values.

Pure text builders (no I/O but reading the chart files ``tools/generate.py`` passes in); the paths
they are written to belong to ``tools/generate.py``, and ``--check`` fails when a committed page differs.
"""
