"""What the scaler saw in one evaluation: Prometheus signals plus the Deployment's replica counts.

The metrics adapter builds this at the edge; the decision only reads it. A failed read is an
Observation too (with ``failure`` set), so "no data" can never be mistaken for "no load".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class MetricsFailure(StrEnum):
    """Why the signals could not be read; values match ``metrics.prometheus_client`` error kinds."""

    UNREACHABLE = "Unreachable"
    TIMEOUT = "Timeout"
    HTTP_ERROR = "HTTPError"
    BAD_RESPONSE = "BadResponse"
    QUERY_ERROR = "QueryError"
    EMPTY_RESULT = "EmptyResult"
    MULTIPLE_SERIES = "MultipleSeries"
    NON_FINITE = "NonFinite"


@dataclass(frozen=True)
class Observation:
    """One evaluation's inputs.

    ``current_replicas`` is the Deployment's ``spec.replicas`` (what we asked for); ``ready_replicas``
    counts pods that serve. The difference is replicas still starting (scheduling, engine load), which
    add capacity soon but do not show in the metrics yet.

    Signals (all optional except that a successful observation needs latency or pending):
    ``queue_latency_s`` average queue wait per request over the rate window (lags: counters move when
    requests complete); ``pending_requests`` requests waiting now (the fast signal); ``arrival_rate``
    requests/s; ``service_time_s`` replica-seconds per request in one execution (a batch's duration);
    ``batch_size`` average requests per execution; ``steps_per_request`` the denoising steps the pipeline
    ran per request (lower while the overload speed tier serves fewer steps).
    """

    current_replicas: int
    ready_replicas: int
    queue_latency_s: float | None = None
    pending_requests: float | None = None
    arrival_rate: float | None = None
    service_time_s: float | None = None
    batch_size: float | None = None
    steps_per_request: float | None = None
    failure: MetricsFailure | None = None
    failure_detail: str = ""

    @classmethod
    def failed(cls, failure: MetricsFailure, detail: str, current_replicas: int,
               ready_replicas: int) -> Observation:
        return cls(current_replicas=current_replicas, ready_replicas=ready_replicas,
                   failure=failure, failure_detail=detail)

    @property
    def starting_replicas(self) -> int:
        return max(0, self.current_replicas - self.ready_replicas)

    def problem(self) -> tuple[MetricsFailure, str] | None:
        """The reason this observation cannot be trusted, or None when it can."""
        if self.failure is not None:
            return self.failure, self.failure_detail or self.failure.value
        if self.queue_latency_s is None and self.pending_requests is None:
            return MetricsFailure.EMPTY_RESULT, "neither queue latency nor pending requests observed"
        for name in ("queue_latency_s", "pending_requests", "arrival_rate", "service_time_s", "batch_size",
                     "steps_per_request"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                return MetricsFailure.NON_FINITE, f"{name} is {value}"
        return None
