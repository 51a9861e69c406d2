"""The autoscaler tick as a table: service, fleet and signals in; the count, the ranking, the speed tier,
the status and the Events out. Then what the writes did: a refused write on the object, and cleared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.autoscaling import MetricsFailure, Observation
from diffusion_operator.autoscaling.fleet import Fleet, Pod, parse_fleet
from diffusion_operator.autoscaling.status import WriteFailure, epoch
from diffusion_operator.autoscaling.tick import Ranking, SpeedTierOrder, needs_pods, plan_tick, settle

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TICK_S = 15.0
AUTOSCALED = {"enabled": True, "minReplicas": 1, "maxReplicas": 8, "queueLatencyTarget": "10s"}
EAGER_DOWN = {"scaleDown": {"stabilizationWindowSeconds": 0, "burstMemory": "0s"}}
TIERED = {"overload": {"enabled": True, "minSteps": 20}}


def service(status: dict[str, Any] | None = None, **autoscaling: Any) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "s", "namespace": "n", "uid": "u1", "generation": 4},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, "autoscaling": {**AUTOSCALED, **autoscaling}},
        "status": status or {},
    })


def pod(name: str, address: str | None = "10.0.0.1", *, ready: bool = True, terminating: bool = False,
        start_s: float | None = 84.0) -> Pod:
    created = NOW - timedelta(hours=1)
    ready_since = created + timedelta(seconds=start_s) if ready and start_s is not None else None
    return Pod(name, address, created, ready, ready_since, terminating)


def signals(current: int, ready: int | None = None, **kw: Any) -> Observation:
    values = {"queue_latency_s": 0.1, "pending_requests": 0.0, "arrival_rate": 1.0, "service_time_s": 1.0,
              "batch_size": 1.0, **kw}
    return Observation(current_replicas=current, ready_replicas=current if ready is None else ready, **values)


TIER_ON = {"autoscaling": {"history": {"speedTierSince": epoch(NOW) - 30}}}
TWO = (pod("a", "10.0.0.1"), pod("b", "10.0.0.2"))


@dataclass(frozen=True)
class Case:
    service: DiffusionService
    fleet: Fleet
    observation: Observation
    replicas: int | None
    ranking: Ranking | None
    tier: SpeedTierOrder | None
    notices: tuple[str, ...]


CASES = {
    "a busy fleet grows, and says so": Case(
        service(), Fleet(2, 2), signals(2, queue_latency_s=30.0, pending_requests=40.0, arrival_rate=4.0),
        replicas=7, ranking=None, tier=None, notices=(Reason.SCALED_UP,)),
    "a steady fleet writes nothing but its status": Case(
        service(), Fleet(2, 2), signals(2), replicas=None, ranking=None, tier=None, notices=()),
    "an idle fleet ranks its listed pods before it shrinks": Case(
        service(**EAGER_DOWN), Fleet(3, 3, (*TWO, pod("c", terminating=True), pod("d"))), signals(3, arrival_rate=0.01),
        replicas=1, ranking=Ranking(("a", "b", "d")), tier=None, notices=(Reason.SCALED_DOWN,)),
    "pods not listed this tick are listed for the ranking": Case(
        service(**EAGER_DOWN), Fleet(3, 3), signals(3, arrival_rate=0.01),
        replicas=1, ranking=Ranking(None), tier=None, notices=(Reason.SCALED_DOWN,)),
    "failed metrics hold the fleet": Case(
        service(), Fleet(2, 2), Observation.failed(MetricsFailure.UNREACHABLE, "down", 2, 2),
        replicas=None, ranking=None, tier=None, notices=()),
    "a breach ahead sends the tier to the serving pods, kept four ticks": Case(
        service(**TIERED), Fleet(2, 1, (pod("a", "10.0.0.1"), pod("b", None), pod("c", "10.0.0.3", ready=False))),
        signals(2, 1, pending_requests=20.0, arrival_rate=0.5, service_time_s=9.0), replicas=8, ranking=None,
        tier=SpeedTierOrder(20, 60.0, ("10.0.0.1",)), notices=(Reason.SCALED_UP,)),
    "a tier that ends is sent as full steps": Case(
        service(TIER_ON, **TIERED), Fleet(2, 2, TWO), signals(2), replicas=None, ranking=None,
        tier=SpeedTierOrder(0, 60.0, ("10.0.0.1", "10.0.0.2")), notices=()),
    "without the tier nothing is sent": Case(
        service(), Fleet(2, 1, TWO), signals(2, 1, pending_requests=20.0, arrival_rate=0.5, service_time_s=9.0),
        replicas=8, ranking=None, tier=None, notices=(Reason.SCALED_UP,)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_tick_plans_every_write(case: Case) -> None:
    plan = plan_tick(case.service, case.fleet, case.observation, NOW, interval_s=TICK_S)
    assert plan.replicas == case.replicas
    assert plan.ranking == case.ranking
    assert plan.speed_tier == case.tier
    assert tuple(n.reason for n in plan.notices) == case.notices
    assert plan.status.autoscaling is not None and plan.status.autoscaling.last_decision_reason
    assert plan.target_s == 10.0


def test_the_tiers_lapse_follows_the_configured_tick() -> None:
    case = CASES["a breach ahead sends the tier to the serving pods, kept four ticks"]
    plan = plan_tick(case.service, case.fleet, case.observation, NOW, interval_s=45.0)
    assert plan.speed_tier is not None and plan.speed_tier.lapse_s == 180.0


def test_the_cold_start_is_learned_from_the_listed_pods_only_once_ready() -> None:
    fleet = Fleet(3, 2, (pod("a", start_s=80.0), pod("b", start_s=100.0), pod("c", ready=False)))
    plan = plan_tick(service(), fleet, signals(3, 2), NOW, interval_s=TICK_S)
    assert [s.pod for s in plan.cold_start.samples] == ["a", "b"]
    assert plan.status.autoscaling is not None and plan.status.autoscaling.cold_start is not None
    assert plan.status.autoscaling.cold_start.seconds == 100.0


@pytest.mark.parametrize(("status", "ready", "listed"), [
    ({}, 2, True),  # nothing measured yet
    ({"readyReplicas": 2, "autoscaling": {"coldStart": {"seconds": 80}}}, 2, False),  # steady: no list call
    ({"readyReplicas": 1, "autoscaling": {"coldStart": {"seconds": 80}}}, 2, True),  # a pod became Ready
    ({}, 0, False),  # nothing ready, nothing to measure
    (TIER_ON, 0, True),  # the tier on: every tick refreshes it
])
def test_pods_are_listed_only_when_the_tick_uses_them(status: dict[str, Any], ready: int, listed: bool) -> None:
    assert needs_pods(service(status), ready) is listed


def test_the_fleet_is_parsed_once_from_the_objects() -> None:
    pods = [
        {"metadata": {"name": "a", "creationTimestamp": "2026-12-03T10:00:00Z"},
         "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True",
                                                         "lastTransitionTime": "2026-12-03T10:01:24Z"}]}},
        {"metadata": {"name": "b", "deletionTimestamp": "2026-12-03T11:00:00Z"},
         "status": {"podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"metadata": {"name": "c"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
        {"metadata": {}},
    ]
    fleet = parse_fleet({"spec": {"replicas": 3}, "status": {"readyReplicas": 2}}, pods)
    assert (fleet.replicas, fleet.ready) == (3, 2)
    assert fleet.serving_addresses == ("10.0.0.1",)
    assert fleet.live_pods == ("a", "c")
    assert [(s.pod, s.seconds) for s in fleet.starts] == [("a", 84.0)]
    assert parse_fleet({}).live_pods is None and parse_fleet({}).replicas == 0


QUOTA = WriteFailure(Reason.FAILED_UPDATE_SCALE, "Deployment s: HTTP 403 exceeded quota")
RANKING = WriteFailure(Reason.FAILED_UPDATE_DELETION_COST, "Pod a: HTTP 403 forbidden")
TIER = WriteFailure(Reason.FAILED_SET_SPEED_TIER, "1 of 2 pod(s) did not take the speed tier")


def able(status: Any) -> tuple[str, str]:
    (condition,) = [c for c in status.conditions if c.type == "AbleToScale"]
    return condition.status, condition.reason


@pytest.mark.parametrize(("failures", "condition", "notices"), [
    ((), ("True", Reason.READY_FOR_NEW_SCALE), [("Normal", Reason.SCALED_UP)]),
    ((QUOTA,), ("False", Reason.FAILED_UPDATE_SCALE), [("Warning", Reason.FAILED_RESCALE)]),
    ((RANKING,), ("False", Reason.FAILED_UPDATE_DELETION_COST),
     [("Normal", Reason.SCALED_UP), ("Warning", Reason.FAILED_UPDATE_DELETION_COST)]),
    ((TIER,), ("False", Reason.FAILED_SET_SPEED_TIER),
     [("Normal", Reason.SCALED_UP), ("Warning", Reason.FAILED_SET_SPEED_TIER)]),
])
def test_what_the_writes_did_is_on_the_object(failures, condition, notices) -> None:  # type: ignore[no-untyped-def]
    case = CASES["a busy fleet grows, and says so"]
    plan = plan_tick(case.service, case.fleet, case.observation, NOW, interval_s=TICK_S)
    status, posted = settle(plan, case.service, failures, NOW)
    assert able(status) == condition
    assert [(n.type, n.reason) for n in posted] == notices
    assert status.autoscaling is not None and status.autoscaling.history is not None
    scaled = QUOTA not in failures
    assert bool(status.autoscaling.history.scale_events) is scaled
    assert (status.autoscaling.last_scale_time == NOW) is scaled


def test_a_lasting_refusal_warns_once_and_clears_on_the_next_success() -> None:
    case = CASES["a busy fleet grows, and says so"]
    first = plan_tick(case.service, case.fleet, case.observation, NOW, interval_s=TICK_S)
    refused, warned = settle(first, case.service, (QUOTA,), NOW)
    again = service(refused.model_dump(by_alias=True, mode="json"))
    later = NOW + timedelta(seconds=TICK_S)
    second = plan_tick(again, case.fleet, case.observation, later, interval_s=TICK_S)
    still, silent = settle(second, again, (QUOTA,), later)
    assert [n.reason for n in warned] == [Reason.FAILED_RESCALE] and silent == ()
    assert able(still) == ("False", Reason.FAILED_UPDATE_SCALE)
    cleared, _ = settle(second, again, (), later)
    assert able(cleared) == ("True", Reason.READY_FOR_NEW_SCALE)


@pytest.mark.parametrize(("floor", "tier_steps"), [(24, 24), (18, 20), (30, None)])
def test_the_tier_never_serves_fewer_steps_than_the_engines_quality_floor(floor: int, tier_steps: int | None) -> None:
    case = CASES["a breach ahead sends the tier to the serving pods, kept four ticks"]
    measured = {"engine": {"quality": {"verdict": "Passed", "lowestPassingSteps": floor}}}
    plan = plan_tick(service(measured, **TIERED), case.fleet, case.observation, NOW, interval_s=TICK_S)
    assert (plan.speed_tier.steps if plan.speed_tier is not None else None) == tier_steps
