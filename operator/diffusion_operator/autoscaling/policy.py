"""The scaling policy: what the operator promises (a queue-latency target) and how fast it may move.

Shaped like the HPA's ``behavior`` so operators can reason about it with what they already know, with
defaults tuned on the simulator in ``bench/autoscaler`` (see docs/autoscaling.md for the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FallbackMode(StrEnum):
    """What to do after ``failure_threshold`` consecutive failed metric reads (KEDA's ``fallback``)."""

    HOLD = "Hold"  # keep the current replicas (the default: an outage never shrinks the fleet)
    FIXED = "Fixed"  # go to ``fallback_replicas`` — but only upwards, never below the current count


@dataclass(frozen=True)
class RateLimit:
    """At most ``pods`` pods or ``percent`` % of the fleet per ``period_s`` (one HPA policy each)."""

    period_s: float
    pods: int | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        if self.period_s <= 0:
            raise ValueError("period_s must be positive")
        if (self.pods is None) == (self.percent is None):
            raise ValueError("a rate limit sets exactly one of pods or percent")
        if (self.pods is not None and self.pods < 1) or (self.percent is not None and self.percent <= 0):
            raise ValueError("a rate limit must allow some change")


@dataclass(frozen=True)
class DirectionRules:
    """Stabilization and rate limits for one direction; the most permissive limit wins (HPA ``Max``)."""

    stabilization_window_s: float
    limits: tuple[RateLimit, ...] = ()

    def __post_init__(self) -> None:
        if self.stabilization_window_s < 0:
            raise ValueError("stabilization_window_s must be >= 0")


# Scale up fast: an SDXL replica takes ~90 s to come up, so hesitation costs a cold start's worth of
# queueing. Unlike the HPA default (4 pods or 100 % per 15 s) we allow a 10x burst to be met in one step.
DEFAULT_SCALE_UP = DirectionRules(
    stabilization_window_s=0.0,
    limits=(RateLimit(period_s=15.0, pods=8), RateLimit(period_s=15.0, percent=900.0)),
)
# Scale down after 2 min, at most half the fleet per minute. The HPA waits 300 s because its ratio of
# a lagging queue-time average cannot tell "the queue drained" from "the load left"; the capacity
# estimate can, and every idle L4 minute is paid for. Tuned on bench/autoscaler: 180 s moved SLA
# attainment by -0.6..+0.2 pp for 1-6 % more GPU-hours; 60 s saved 2-7 % but lost 0.25 pp on the diurnal.
DEFAULT_SCALE_DOWN = DirectionRules(
    stabilization_window_s=120.0,
    limits=(RateLimit(period_s=60.0, percent=50.0), RateLimit(period_s=60.0, pods=1)),
)


@dataclass(frozen=True)
class ScalingPolicy:
    """Typed ``spec.autoscaling`` as the decision needs it (the API layer maps the CRD onto this).

    ``queue_latency_target_s`` is the per-request queue-wait SLA. The capacity estimate sizes the fleet
    so that ``target_quantile`` of requests wait less than it; the measured average queue latency and
    the pending count are the feedback that catches what the estimate misses.
    """

    min_replicas: int = 1
    max_replicas: int = 10
    queue_latency_target_s: float = 10.0
    target_quantile: float = 0.99
    tolerance: float = 0.1
    scale_up: DirectionRules = field(default=DEFAULT_SCALE_UP)
    scale_down: DirectionRules = field(default=DEFAULT_SCALE_DOWN)
    # Per-request replica time to assume until the service time has been observed (e.g. at zero
    # replicas); the engine plan knows it. None: size from latency/pending only until observed.
    expected_service_time_s: float | None = None
    # Squared coefficient of variation of the service time; SDXL at a fixed size and step count is
    # nearly deterministic, which halves queueing versus the exponential assumption (Allen-Cunneen).
    service_time_cv2: float = 0.1
    # A backlog of P pending requests asks for P x service time / backlog_drain_s replicas on top of
    # what the arrival rate needs. It is the fastest burst signal (the arrival estimate needs a window
    # to see a step). Tuned on bench/autoscaler: 30 s cut misses 6-9 % on the step and spike traces
    # against 60 s at the same GPU-hours; 120 s saved ~3 % GPU-hours but missed 27 % more on spikes.
    backlog_drain_s: float = 30.0
    failure_threshold: int = 3
    fallback: FallbackMode = FallbackMode.HOLD
    fallback_replicas: int | None = None
    # Scale to zero (min_replicas == 0): wake when more than this many requests are pending at the
    # activator; go to zero after this long with no arrivals and nothing pending.
    activation_pending_requests: float = 0.0
    scale_to_zero_after_s: float = 600.0
    # Scale-down waits for replicas that are still starting (they will add capacity), but not forever:
    # a pod that cannot be scheduled (no GPU left) or never loads its engines would otherwise pin the
    # fleet at its peak. 15 min covers GKE GPU node provisioning (4-7 min) plus an SDXL engine load.
    startup_timeout_s: float = 900.0
    # Burst memory (autoscaling/bursts.py): once demand has jumped by ``burst_growth`` (and 5+ pods)
    # twice within ``burst_memory_s``, scale-down stops at what the latest burst needed until
    # ``burst_hold_gaps`` mean gaps between bursts pass without another. A reactive scaler cannot
    # serve a burst's first cold start; capacity already there can. Tuned on bench/autoscaler (4x spikes,
    # one per ~20 min): 90 min held every spike after the second (misses -71 %, GPU-hours +36 %);
    # 60 min missed 1226 requests, 45 min 1606; 2 gaps instead of 3 let go too early (1226). 0 turns
    # it off. Traces without repeated jumps (ramp, diurnal, a single step) never trigger it.
    burst_memory_s: float = 5400.0
    burst_growth: float = 0.5
    burst_hold_gaps: float = 3.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ValueError("need 0 <= min_replicas <= max_replicas and max_replicas >= 1")
        if self.queue_latency_target_s <= 0:
            raise ValueError("queue_latency_target_s must be positive")
        if not 0.5 <= self.target_quantile < 1:
            raise ValueError("target_quantile must be in [0.5, 1)")
        if not 0 <= self.tolerance < 1:
            raise ValueError("tolerance must be in [0, 1)")
        if self.backlog_drain_s <= 0:
            raise ValueError("backlog_drain_s must be positive")
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if self.fallback is FallbackMode.FIXED and self.fallback_replicas is None:
            raise ValueError("fallback Fixed needs fallback_replicas")
        if self.startup_timeout_s <= 0:
            raise ValueError("startup_timeout_s must be positive")
        if self.expected_service_time_s is not None and self.expected_service_time_s <= 0:
            raise ValueError("expected_service_time_s must be positive")
        if self.burst_memory_s < 0:
            raise ValueError("burst_memory_s must be >= 0 (0 turns the burst memory off)")
        if self.burst_growth <= 0 or self.burst_hold_gaps <= 0:
            raise ValueError("burst_growth and burst_hold_gaps must be positive")

    @property
    def allows_zero(self) -> bool:
        return self.min_replicas == 0

    @property
    def history_horizon_s(self) -> float:
        """How much history the decision looks at in full (windows and rate-limit periods).

        Recommendations older than this are kept thinned for ``burst_memory_s`` (``History.pruned``).
        """
        periods = [limit.period_s for rules in (self.scale_up, self.scale_down) for limit in rules.limits]
        windows = [self.scale_up.stabilization_window_s, self.scale_down.stabilization_window_s]
        return max([*periods, *windows, 0.0])
