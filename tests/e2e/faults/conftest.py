"""Fixtures of the fault-injection suite (the pieces they hand out live in ``support``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.faults.support import RESULTS_ENV, FaultyPrometheus, Figures


@pytest.fixture
def faulty_prometheus() -> Iterator[FaultyPrometheus]:
    prometheus = FaultyPrometheus()
    prometheus.start()
    yield prometheus
    prometheus.stop()


@pytest.fixture
def figures(tmp_path: Path) -> Figures:
    return Figures(Path(os.environ[RESULTS_ENV]) if os.environ.get(RESULTS_ENV) else tmp_path / "figures")
