"""The scaling policy: what the operator promises (a queue-latency target) and how fast it may move.

Shaped like the HPA's ``behavior`` so operators can reason about it with what they already know, with
defaults tuned on the simulator in ``bench/autoscaler`` (see docs/autoscaling.md for the numbers).
Where the CRD exposes a setting, its default is the CRD's (``api/spec_autoscaling.py``, where the
tuning is explained) and is derived from it here, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from diffusion_operator.api.durations import parse_duration
from diffusion_operator.api.spec_autoscaling import (
    ActivationSpec,
    AutoscalingSpec,
    FallbackSpec,
    ScaleDownBehaviour,
    ScaleUpBehaviour,
)
from diffusion_operator.autoscaling.speed_tier import SpeedTierPolicy


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


def direction_rules(behaviour: ScaleUpBehaviour | ScaleDownBehaviour) -> DirectionRules:
    """One direction of ``spec.autoscaling`` (the HPA's ``behavior`` shape) as the decision reads it."""
    limits = tuple(
        RateLimit(float(p.period_seconds), pods=p.value) if p.type == "Pods"
        else RateLimit(float(p.period_seconds), percent=float(p.value))
        for p in behaviour.policies
    )
    return DirectionRules(float(behaviour.stabilization_window_seconds), limits)


def _seconds(duration: str) -> float:
    return parse_duration(duration).total_seconds()


#: The CRD's defaults (each explained next to its field in api/spec_autoscaling.py).
DEFAULT_SCALE_UP = direction_rules(ScaleUpBehaviour())
DEFAULT_SCALE_DOWN = direction_rules(ScaleDownBehaviour())
DEFAULT_BURST_MEMORY_S = _seconds(ScaleDownBehaviour().burst_memory)
DEFAULT_MIN_REPLICAS = AutoscalingSpec().min_replicas
DEFAULT_FAILURE_THRESHOLD = FallbackSpec().failure_threshold
DEFAULT_FALLBACK_MODE = FallbackMode(FallbackSpec().mode)
DEFAULT_ACTIVATION_PENDING = float(ActivationSpec.model_fields["pending_threshold"].default)
DEFAULT_SCALE_TO_ZERO_AFTER_S = _seconds(ActivationSpec.model_fields["scale_to_zero_after"].default)


@dataclass(frozen=True)
class ScalingPolicy:
    """Typed ``spec.autoscaling`` as the decision needs it (the API layer maps the CRD onto this).

    ``queue_latency_target_s`` is the per-request queue-wait SLA. The capacity estimate sizes the fleet
    so that ``target_quantile`` of requests wait less than it; the measured average queue latency and
    the pending count are the feedback that catches what the estimate misses.
    """

    min_replicas: int = DEFAULT_MIN_REPLICAS
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
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    fallback: FallbackMode = DEFAULT_FALLBACK_MODE
    fallback_replicas: int | None = None
    # Scale to zero (min_replicas == 0): wake when more than this many requests are pending at the
    # activator; go to zero after this long with no arrivals and nothing pending.
    activation_pending_requests: float = DEFAULT_ACTIVATION_PENDING
    scale_to_zero_after_s: float = DEFAULT_SCALE_TO_ZERO_AFTER_S
    # Scale-down waits for replicas that are still starting (they will add capacity), but not forever:
    # a pod that cannot be scheduled (no GPU left) or never loads its engines would otherwise pin the
    # fleet at its peak. 15 min covers GKE GPU node provisioning (4-7 min) plus an SDXL engine load.
    startup_timeout_s: float = 900.0
    # Burst memory (autoscaling/bursts.py): once demand has jumped by ``burst_growth`` (and 5+ pods)
    # twice within ``burst_memory_s``, scale-down stops at what the latest burst needed until
    # ``burst_hold_gaps`` mean gaps between bursts pass without another. A reactive scaler cannot
    # serve a burst's first cold start; capacity already there can. Tuned on bench/autoscaler (4x spikes,
    # one per ~20 min): 2 gaps instead of 3 let go too early (1226 misses); the memory's length is the
    # CRD's scaleDown.burstMemory. Traces without repeated jumps (ramp, diurnal, a single step) never
    # trigger it.
    burst_memory_s: float = DEFAULT_BURST_MEMORY_S
    burst_growth: float = 0.5
    burst_hold_gaps: float = 3.0
    # Predictive floor (autoscaling/predictive.py): the season of the arrival pattern to forecast, or
    # None to turn the floor off. The CRD's default is a day (``spec.autoscaling.predictive``).
    forecast_season_s: float | None = None
    # Seconds from ordering a replica to it serving, until the service's own pods have been measured
    # (``autoscaling.cold_start``): the forecast looks this far ahead, the speed tier asks whether the
    # queue breaches the SLA before then. 90 s: an SDXL engine load on L4 (bench/autoscaler/model.py).
    cold_start_s: float = 90.0
    # The speed tier (autoscaling/speed_tier.py); None: off (the CRD's default).
    speed_tier: SpeedTierPolicy | None = None

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
        if self.forecast_season_s is not None and self.forecast_season_s <= 0:
            raise ValueError("forecast_season_s must be positive (None turns the predictive floor off)")
        if self.cold_start_s <= 0:
            raise ValueError("cold_start_s must be positive")

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
