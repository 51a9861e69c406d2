"""Build progress as log lines a person (and ``kubectl logs``) can follow: stage, percent, detail.

Stages carry fixed weights (export dominates on CPU, engine builds on GPU), so the percentage is a
pure function of (stage, fraction within it) and tests do not depend on timing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOG = logging.getLogger("engine_builder")

#: (stage, share of the whole build in percent); shares sum to 100.
STAGES: tuple[tuple[str, int], ...] = (
    ("source", 10),
    ("export", 40),
    ("parity", 10),
    ("engines", 20),
    ("quality", 10),
    ("repository", 5),
    ("publish", 5),
)


def percent(stage: str, fraction: float) -> int:
    """Overall completion when ``stage`` is ``fraction`` (0..1) done."""
    done = 0
    for name, share in STAGES:
        if name == stage:
            return min(100, int(done + share * max(0.0, min(1.0, fraction))))
        done += share
    raise KeyError(stage)


class Progress:
    """Logs ``progress stage=<s> pct=<n> <detail>`` and records each stage's wall time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.timings: dict[str, float] = {}

    def report(self, stage: str, fraction: float, detail: str = "") -> None:
        LOG.info("progress stage=%s pct=%d %s", stage, percent(stage, fraction), detail)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.report(name, 0.0, "started")
        start = self.clock()
        yield
        self.timings[name] = round(self.timings.get(name, 0.0) + self.clock() - start, 3)
        self.report(name, 1.0, f"done in {self.timings[name]:.1f}s")
