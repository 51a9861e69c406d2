"""One autoscaler tick, planned: (service, fleet, observation, now) -> everything the tick will do.

The reconcile's shape for the autoscaler: the edges read the service, the fleet (``fleet.parse_fleet``)
and the signals (``metrics.observe``); this decides, without I/O, the Deployment's count, whether to
rank the pods before a scale-down, the speed tier and the pods to send it to, the status and the
Events; the edges apply the plan, and ``settle`` folds what the writes did into the status
(``status.after_writes``). The kopf timer in ``handlers/autoscale.py`` only wires these together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.api.status import DiffusionServiceStatus
from diffusion_operator.autoscaling.cold_start import ColdStart
from diffusion_operator.autoscaling.decision import Decision, decide
from diffusion_operator.autoscaling.fleet import Fleet
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.autoscaling.observation import Observation
from diffusion_operator.autoscaling.speed_tier import lapse_s
from diffusion_operator.autoscaling.status import (
    Notice,
    WriteFailure,
    after_writes,
    cold_start_of,
    epoch,
    history_of,
    scaling_status,
)


@dataclass(frozen=True)
class Ranking:
    """Rank these pods by their work now before the scale-down, so the idle ones go
    (``deletion_cost``); ``pods`` None: the tick did not list them, the edge lists the live ones."""

    pods: tuple[str, ...] | None


@dataclass(frozen=True)
class SpeedTierOrder:
    """Send ``steps`` (0: full steps) to the control model at each address, kept for ``lapse_s``."""

    steps: int
    lapse_s: float
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class TickPlan:
    decision: Decision
    #: The Deployment's ``spec.replicas`` to write under the autoscaler's field manager (None: unchanged).
    replicas: int | None
    ranking: Ranking | None
    speed_tier: SpeedTierOrder | None
    cold_start: ColdStart
    #: The status if every write lands (``settle`` adds what they did).
    status: DiffusionServiceStatus
    #: The Events if every write lands.
    notices: tuple[Notice, ...]
    target_s: float


def autoscaled(service: DiffusionService) -> bool:
    """Whether the service has anything for the autoscaler (the CRD requires the target when enabled)."""
    spec = service.spec.autoscaling
    return spec.enabled and spec.queue_latency_target is not None


def speed_tier_on(status: DiffusionServiceStatus) -> bool:
    """While the tier is on, every tick refreshes it on every serving pod (so their addresses are needed)."""
    autoscaling = status.autoscaling
    return bool(autoscaling and autoscaling.history and autoscaling.history.speed_tier_since is not None)


def needs_pods(service: DiffusionService, ready: int) -> bool:
    """List the pods only when the tick uses them: the tier is on, or a pod may have become Ready since
    the last tick (for the cold start: the ready count moved, or nothing was measured yet).

    The lifecycle writes ``status.readyReplicas`` when the Deployment changes, so a pod that just became
    Ready shows as a difference for a tick or two; a steady fleet costs no list call per tick.
    """
    status = service.status
    measured = status.autoscaling is not None and status.autoscaling.cold_start is not None
    started = ready > 0 and (not measured or ready != (status.ready_replicas or 0))
    return started or speed_tier_on(status)


def plan_tick(service: DiffusionService, fleet: Fleet, observation: Observation, now: datetime, *,
              interval_s: float) -> TickPlan:
    """Everything one tick does; ``interval_s`` is the configured tick (the speed tier's lapse follows it)."""
    spec, before = service.spec.autoscaling, service.status
    cold = cold_start_of(before).with_pods(fleet.starts)
    quality = before.engine.quality if before.engine is not None else None
    policy = policy_from_spec(spec, pipeline_steps=service.spec.pipeline.steps, cold_start_s=cold.seconds,
                              quality_floor_steps=quality.lowest_passing_steps if quality is not None else None)
    decision = decide(observation, policy, history_of(before), epoch(now))
    target = timedelta(seconds=spec.queue_latency_target_s)
    status = scaling_status(before, decision, target=target, generation=service.generation, now=now,
                            cold_start=cold)
    tier = None
    if decision.speed_tier_steps is not None or speed_tier_on(before):
        tier = SpeedTierOrder(decision.speed_tier_steps or 0, lapse_s(interval_s), fleet.serving_addresses)
    notices: tuple[Notice, ...] = ()
    if decision.changes_replicas:
        reason = Reason.SCALED_UP if decision.replicas > decision.previous_replicas else Reason.SCALED_DOWN
        notices = (Notice("Normal", reason,
                          f"{decision.previous_replicas} -> {decision.replicas}: {decision.message}"[:1024]),)
    return TickPlan(
        decision=decision,
        replicas=decision.replicas if decision.changes_replicas else None,
        ranking=Ranking(fleet.live_pods) if 0 < decision.replicas < decision.previous_replicas else None,
        speed_tier=tier, cold_start=cold, status=status, notices=notices, target_s=spec.queue_latency_target_s,
    )


def settle(plan: TickPlan, service: DiffusionService, failures: tuple[WriteFailure, ...],
           now: datetime) -> tuple[DiffusionServiceStatus, tuple[Notice, ...]]:
    """The status and Events once the writes are done: a refused count posts no ScaledUp/ScaledDown."""
    status, warnings = after_writes(plan.status, service.status, failures, generation=service.generation, now=now)
    scaled = not any(f.reason == Reason.FAILED_UPDATE_SCALE for f in failures)
    return status, (*(plan.notices if scaled else ()), *warnings)
