"""The benchmark's new pieces: goodput per GPU-hour, KEDA's activation, static provisioning, traces, the tier."""

from __future__ import annotations

import numpy as np
import pytest

from bench.autoscaler import traces
from bench.autoscaler.bounds import ClairvoyantNow, ClairvoyantTier
from bench.autoscaler.fleet import ClusterView, FleetSimulator
from bench.autoscaler.hpa import HpaBehavior
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.prometheus import ScrapeStore
from bench.autoscaler.run import run_one
from bench.autoscaler.scalers import KedaScaler, OracleScaler, OurScaler, StaticScaler, default_policy
from bench.autoscaler.traces import Trace


def view(now: float, replicas: int, pending: float | None) -> ClusterView:
    store = ScrapeStore()
    if pending is not None:
        store.record(now, {"pending": pending}, {})
    return ClusterView(now, replicas, replicas, frozenset(range(replicas)), frozenset(range(replicas)), store)


def test_keda_wakes_from_zero_only_at_a_poll_above_the_activation_threshold() -> None:
    keda = KedaScaler(1.0, HpaBehavior(0, 10), activation_threshold=2.0, min_replica_count=0)
    assert keda(view(0.0, 0, pending=2.0)) == 0  # not above the threshold
    assert keda(view(15.0, 0, pending=5.0)) == 0  # above, but the next poll is at 30 s
    assert keda(view(30.0, 0, pending=5.0)) == 1  # the poll activates: one replica, then the HPA


def test_keda_reads_no_data_as_zero_and_never_goes_below_its_minimum() -> None:
    keda = KedaScaler(1.0, HpaBehavior(1, 10), min_replica_count=1)
    assert keda(view(400.0, 4, pending=None)) >= 1  # ignoreNullValues: 0, scaled down, but not below 1


def constant(rate: float, seconds: int) -> Trace:
    rng = np.random.default_rng(5)
    arrivals = np.sort(rng.uniform(0, seconds, size=rng.poisson(rate * seconds)))
    return Trace("constant", "test", np.full(seconds, rate), arrivals)


def test_goodput_is_requests_within_the_sla_per_gpu_hour() -> None:
    trace = constant(1.0, 1800)
    row, result = run_one(trace, FleetConfig(), "static", StaticScaler.for_trace)
    within = int(np.sum(result.waits <= FleetConfig().sla_s))
    assert row.goodput_per_gpu_hour == pytest.approx(within / row.gpu_hours)
    assert row.gpu_hours == pytest.approx(StaticScaler.for_trace(trace, FleetConfig()).replicas * 0.5)


def test_static_provisions_the_peak_from_the_start() -> None:
    trace = traces.build("step_burst")
    static = StaticScaler.for_trace(trace, FleetConfig())
    assert static.replicas == max(OracleScaler.for_trace(trace, FleetConfig()).schedule)
    row, _ = run_one(trace, FleetConfig(), "static", StaticScaler.for_trace)
    assert row.within_sla_pct > 99.9 and row.scale_events == 0


@pytest.mark.parametrize("name", ["flash_crowd", "weekly", "slow_decline", "heavy_tailed"])
def test_the_new_traces_are_built_and_carry_sizes_and_pins(name: str) -> None:
    trace = traces.build(name)
    assert len(trace.arrivals) > 1000 and trace.pinned is not None
    assert abs(trace.pinned.mean() - traces.PINNED_SHARE) < 0.02
    if name == "heavy_tailed":
        assert trace.sizes is not None and 0.8 < trace.sizes.mean() < 1.2 and trace.sizes.max() > 3
    else:
        assert trace.sizes is None


def test_the_old_traces_kept_their_arrivals() -> None:
    # Sizes and pins are drawn after the arrivals: the step burst's first arrivals are what they were.
    assert len(traces.build("step_burst").arrivals) == 19850


class Tier:
    """A scaler that holds its fleet and serves a fixed step factor."""

    def __init__(self, replicas: int, factor: float) -> None:
        self.replicas, self.step_factor = replicas, factor

    def __call__(self, view: ClusterView) -> int:
        return self.replicas


def test_the_speed_tier_shortens_unpinned_work_and_marks_it_degraded() -> None:
    trace = constant(1.0, 1200)
    pinned = np.zeros(len(trace.arrivals), dtype=bool)
    pinned[::5] = True
    trace = Trace(trace.name, trace.description, trace.intensity, trace.arrivals, pinned=pinned)
    full = FleetSimulator(trace, FleetConfig(), Tier(8, 1.0), 8).run()
    tier = FleetSimulator(trace, FleetConfig(), Tier(8, 2 / 3), 8).run()
    assert not full.degraded.any()
    assert tier.degraded.any() and not tier.degraded[pinned].any()  # pinned requests keep their steps
    assert np.mean(tier.waits) < np.mean(full.waits)


def test_our_scaler_learns_the_cold_start_of_the_pods_it_started() -> None:
    config = FleetConfig(node_provisioning=True)
    rate = np.full(1800, 0.5)
    rate[300:] = 3.0
    rng = np.random.default_rng(9)
    trace = Trace("step", "test", rate, np.sort(np.concatenate(
        [rng.uniform(0, 300, rng.poisson(150)), rng.uniform(300, 1800, rng.poisson(4500))])))
    scaler = OurScaler(default_policy(config))
    FleetSimulator(trace, config, scaler, initial_replicas=5).run()
    learned = scaler.cold_start.seconds
    assert learned is not None and learned > config.cold_start_s + 200  # node provisioning (4-7 min) is in it


def test_an_instant_tier_is_asked_at_every_batch_start_not_at_the_syncs() -> None:
    # A burst at 100 s, between two syncs (95 s and 110 s): only a tier the fleet asks per batch covers it.
    rate = np.full(600, 0.5)
    rate[100:] = 5.0
    arrivals = traces.poisson_arrivals(rate, np.random.default_rng(5))
    trace = Trace("burst", "", rate, arrivals, pinned=np.zeros(len(arrivals), dtype=bool))
    need = OracleScaler.for_trace(trace, FleetConfig()).schedule
    tier = ClairvoyantTier(need, rate, level=40, hold_s=0.0, factor=2 / 3, cold_start_s=90.0)
    result = FleetSimulator(trace, FleetConfig(), tier, 8).run()
    started = arrivals + result.waits
    assert result.degraded[(started >= 100) & (started < 110)].all()  # before the first sync that sees it
    assert not result.degraded[started < 100].any()
    assert not result.degraded[started > 110 + 90 + 1].any()  # off once the ordered capacity is Ready


def test_a_bound_that_knows_late_sees_the_burst_one_scrape_later() -> None:
    rate = np.full(300, 0.5)
    rate[100:] = 5.0
    late = ClairvoyantNow([1] * 300, rate, level=40, hold_s=0.0, late_s=15)
    assert not late.bursting(110.0) and late.bursting(115.0)
