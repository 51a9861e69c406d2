"""Summaries of a load test: latency percentiles, throughput, errors and the share within the SLA.

Latency is measured from the *scheduled* send time, not from when a worker got round to it, so time
spent waiting for a free connection counts (otherwise a slow server would look fast: coordinated
omission). Percentiles use linear interpolation between ranks, numpy's default, so they match what
people get from ``numpy.percentile`` on the saved samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One request of a load test; times are seconds from the test's start."""

    scheduled_s: float
    sent_s: float
    done_s: float
    ok: bool
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.done_s - self.scheduled_s


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    requests: int
    succeeded: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    mean_s: float | None
    images_per_s: float
    sla_s: float | None
    within_sla: float | None
    queue_share: float | None
    wall_s: float
    error_examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(samples: Sequence[Sample], sla_s: float | None, queue_share: float | None,
              wall_s: float) -> Summary:
    """What a load test prints and saves; errors count as outside the SLA (a failure is no answer)."""
    latencies = [s.latency_s for s in samples if s.ok]
    failed = [s for s in samples if not s.ok]
    within = None
    if sla_s is not None and samples:
        within = sum(1 for value in latencies if value <= sla_s) / len(samples)
    examples = sorted({s.error or "unknown error" for s in failed})[:3]
    return Summary(
        requests=len(samples),
        succeeded=len(latencies),
        errors=len(failed),
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        p99_s=percentile(latencies, 99),
        mean_s=sum(latencies) / len(latencies) if latencies else None,
        images_per_s=len(latencies) / wall_s if wall_s > 0 else 0.0,
        sla_s=sla_s,
        within_sla=within,
        queue_share=queue_share,
        wall_s=wall_s,
        error_examples=examples,
    )
