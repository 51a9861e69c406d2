"""The benchmark's baselines follow the HPA's replica calculator, and the simulator keeps its books."""

from __future__ import annotations

import numpy as np
import pytest

from bench.autoscaler.fleet import FleetSimulator
from bench.autoscaler.hpa import HpaBehavior, external_average_value_replicas, pods_metric_replicas
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.prometheus import ScrapeStore
from bench.autoscaler.scalers import OracleScaler, observe
from bench.autoscaler.traces import Trace

PODS = frozenset({1, 2, 3, 4})


@pytest.mark.parametrize(
    ("values", "live", "expected"),
    [
        ({1: 100.0, 2: 100.0, 3: 100.0, 4: 100.0}, PODS, 4),  # at target
        ({1: 105.0, 2: 105.0, 3: 105.0, 4: 105.0}, PODS, 4),  # inside the 10 % tolerance
        ({1: 200.0, 2: 200.0, 3: 200.0, 4: 200.0}, PODS, 8),  # ratio 2
        ({1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}, PODS, 0),  # an empty queue asks for zero (clamped later)
        ({1: 300.0, 2: 300.0}, PODS, 6),  # scale up: the 2 pods without metrics count as 0 -> ratio 1.5
        ({1: 20.0, 2: 20.0}, PODS, 3),  # scale down: missing pods count as at target -> ratio 0.6
        ({}, PODS, None),  # no metrics at all: the HPA does nothing
    ],
)
def test_pods_metric_replicas_follow_the_replica_calculator(values: dict[int, float], live: frozenset[int],
                                                            expected: int | None) -> None:
    assert pods_metric_replicas(4, 100.0, values, live) == expected


def test_external_average_value_divides_the_total_by_the_per_pod_target() -> None:
    assert external_average_value_replicas(4, total=12.0, target_per_pod=1.0) == 12
    assert external_average_value_replicas(4, total=4.2, target_per_pod=1.0) == 4
    assert external_average_value_replicas(4, total=0.0, target_per_pod=1.0) == 0


def test_hpa_default_behaviour_limits_scale_up_and_stabilizes_scale_down() -> None:
    behavior = HpaBehavior(min_replicas=1, max_replicas=100)
    assert behavior.normalize(50, current=2, now=0.0) == 6  # max(4 pods, 100 %) per 15 s
    assert behavior.normalize(1, current=6, now=15.0) == 6  # the 300 s window remembers 50
    assert behavior.normalize(1, current=6, now=400.0) == 1  # and then 100 % per 15 s may drop to min


def test_prometheus_increase_extrapolates_and_counters_only_move_on_completion() -> None:
    store = ScrapeStore()
    for t, success in [(0.0, 0.0), (15.0, 0.0), (30.0, 3.0), (45.0, 6.0)]:
        store.record(t, {"queue_us": success * 1e6, "success": success, "service_us": 0.0, "inference_count": 0.0,
                         "exec_count": 0.0, "pending": 2.0}, {})
    assert store.increase("success", 45.0, 60.0) == pytest.approx(6.0 * 60 / 45)
    assert store.deriv("pending", 45.0, 60.0) == pytest.approx(0.0)
    assert store.increase("success", 45.0, 10.0) is None  # one sample is not a rate


def constant_trace(rate: float, seconds: int, seed: int = 3) -> Trace:
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.uniform(0, seconds, size=rng.poisson(rate * seconds)))
    return Trace("constant", "test", np.full(seconds, rate), arrivals)


def test_the_oracle_meets_the_sla_on_steady_load_and_every_request_is_accounted() -> None:
    config = FleetConfig()
    trace = constant_trace(1.0, 1800)
    oracle = OracleScaler.for_trace(trace, config)
    result = FleetSimulator(trace, config, oracle, initial_replicas=oracle.schedule[0]).run()
    assert len(result.waits) == len(trace.arrivals) and not np.isnan(result.waits).any()
    assert np.mean(result.waits <= config.sla_s) >= 0.99
    assert result.gpu_seconds == pytest.approx(oracle.schedule[0] * 1800, rel=0.01)


def test_our_observation_of_a_steady_fleet_reads_its_arrival_rate_and_service_time() -> None:
    config = FleetConfig()
    trace = constant_trace(1.0, 1200)
    seen = []

    def watch(view):  # type: ignore[no-untyped-def]
        if view.now > 600:
            seen.append(observe(view))
        return 14

    FleetSimulator(trace, config, watch, initial_replicas=14).run()
    assert np.mean([o.arrival_rate for o in seen]) == pytest.approx(1.0, rel=0.15)
    assert np.mean([o.service_time_s for o in seen]) == pytest.approx(9.0, rel=0.05)
