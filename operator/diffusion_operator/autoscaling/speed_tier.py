"""The speed tier: serve with fewer denoising steps while new capacity is still starting.

Why. When load jumps, the replicas ordered now serve only after a cold start (~90 s for SDXL), and
every request queued meanwhile on the old pods waits behind the backlog: no scaling decision can help
those (``bench/results/autoscaler-bounds.md``). Work per image is proportional to its steps, so serving
30-step requests with 20 makes the pods that exist 1.5x faster, now. Image quality drops a little
and every such response says so (the pipeline's ``degraded`` output, a counter on /metrics).

When. The tier turns on when the queue *will* breach the SLA before new capacity can be Ready: the
wait implied by the backlog, grown at the arrival rate minus what the ready pods serve at full steps
for the time until the starting pods serve, exceeds the target. It turns off once the ready pods keep
up at full steps and the backlog's wait is under half the target (the hysteresis keeps it from
flapping), and at once whenever the metrics cannot be read or the tier is disabled: degraded images
need evidence, unlike holding replicas. It never serves fewer steps than ``min_steps`` and never
touches a request that set its own ``steps`` (the pipeline enforces both; the decision only names the
step count).

Observed service time is per request at the steps actually served; while the tier is on it reads
low, so sizing must use the full-step time (``full_steps_service_time``) or the fleet would be sized
for degraded images and the tier would never switch off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusion_operator.api.conditions import Reason
from diffusion_operator.autoscaling.observation import Observation

# Turn off only when the backlog's wait is under this share of the target at full steps.
OFF_BELOW = 0.5
# Each pod keeps the tier this many autoscaler ticks unless refreshed: one missed refresh does not flap
# it, and a pod the operator no longer reaches (or a stopped operator) is back at full steps soon after.
LAPSE_TICKS = 4


def lapse_s(tick_interval_s: float) -> float:
    """How long a pod keeps the tier it was sent (the control model's ``ttl_s``): ``LAPSE_TICKS`` of the
    configured tick, so a longer tick does not let the tier lapse between refreshes (60 s at 15 s)."""
    return LAPSE_TICKS * tick_interval_s


def tier_min_steps(min_steps: int, quality_floor_steps: int | None) -> int:
    """The fewest steps the tier may serve: ``spec.autoscaling.overload.minSteps``, raised to the lowest
    step count that passed the engine's quality gate when the build scored one. A ``minSteps`` below
    that floor is also reported (``StepsQuality=False``); the tier itself never serves images the
    gate would refuse. Equal to the pipeline's steps or above, the tier has nothing to trade and stays off."""
    return min_steps if quality_floor_steps is None else max(min_steps, quality_floor_steps)


@dataclass(frozen=True)
class SpeedTierPolicy:
    """``spec.autoscaling.overload`` as the decision reads it; ``default_steps`` is ``spec.pipeline.steps``."""

    min_steps: int
    default_steps: int

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps < self.default_steps:
            raise ValueError("need 1 <= min_steps < default_steps")

    @property
    def work_factor(self) -> float:
        """Work per degraded image relative to a full one (service time is proportional to steps)."""
        return self.min_steps / self.default_steps


@dataclass(frozen=True)
class SpeedTier:
    """``steps``: what requests without their own ``steps`` get now (None: the pipeline's default)."""

    steps: int | None
    reason: str
    message: str

    @property
    def active(self) -> bool:
        return self.steps is not None


def full_steps_service_time(service_time_s: float | None, steps_per_request: float | None, tier_active: bool,
                            tier: SpeedTierPolicy | None) -> float | None:
    """The per-request service time at full steps, from one measured while the tier may have been on.

    With the pipeline's steps counter (``steps_per_request``) the time scales exactly to the default
    steps. Without it, while the tier is on, it assumes every request in the window was degraded: the
    estimate errs high and the fleet is sized larger, never smaller.
    """
    if service_time_s is None or tier is None:
        return service_time_s
    if steps_per_request is not None and steps_per_request > 0:
        return service_time_s * tier.default_steps / steps_per_request
    return service_time_s / tier.work_factor if tier_active else service_time_s


def breach_ahead(observation: Observation, service_time_s: float, target_s: float, until_ready_s: float) -> float:
    """The longest queue wait expected before new capacity serves, at full steps (seconds)."""
    ready = max(observation.ready_replicas, 1)
    pending = observation.pending_requests or 0.0
    serving = ready / service_time_s  # requests/s the ready pods complete at full steps
    growth = max(0.0, (observation.arrival_rate or 0.0) - serving)
    backlog = pending + growth * until_ready_s
    return backlog * service_time_s / ready


def decide_tier(observation: Observation, tier: SpeedTierPolicy | None, *, service_time_s: float | None,
                target_s: float, until_ready_s: float, was_active: bool) -> SpeedTier:
    """Fewer steps now, or full steps, with the reason."""
    if tier is None:
        return SpeedTier(None, Reason.SPEED_TIER_DISABLED, "the speed tier is off")
    problem = observation.problem()
    if problem is not None:
        return SpeedTier(None, Reason.METRICS_UNAVAILABLE, f"full steps while metrics fail ({problem[1]})")
    if service_time_s is None or not math.isfinite(service_time_s) or service_time_s <= 0:
        return SpeedTier(None, Reason.METRICS_UNAVAILABLE, "full steps: no service time observed")
    wait = breach_ahead(observation, service_time_s, target_s, until_ready_s)
    now_wait = (observation.pending_requests or 0.0) * service_time_s / max(observation.ready_replicas, 1)
    detail = (f"expected wait {wait:.1f}s within {until_ready_s:.0f}s vs target {target_s:g}s "
              f"(backlog wait now {now_wait:.1f}s)")
    if wait > target_s or (was_active and (wait > target_s * OFF_BELOW or now_wait > target_s * OFF_BELOW)):
        return SpeedTier(tier.min_steps, Reason.QUEUE_WILL_BREACH_SLA,
                         f"{tier.min_steps} of {tier.default_steps} steps: {detail}")
    return SpeedTier(None, Reason.FULL_STEPS, f"full steps: {detail}")


def seconds_until_ready(observation: Observation, cold_start_s: float, last_scale_up: float | None,
                        now: float) -> float:
    """How long until the starting replicas serve (or a replica ordered now would)."""
    if observation.starting_replicas > 0 and last_scale_up is not None:
        return max(0.0, cold_start_s - (now - last_scale_up))
    return cold_start_s
