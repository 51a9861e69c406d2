"""The sim-to-real benchmark's pure parts: the compressed settings, the simulator's new knobs, the comparison."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from diffusion_operator.api.spec_autoscaling import AutoscalingSpec

from bench.autoscaler.fleet import FleetSimulator
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.scalers import StaticScaler
from bench.autoscaler.traces import Trace
from bench.sim_to_real import hpa_side, predict, report, settings
from bench.sim_to_real.load import LoadResult
from bench.sim_to_real.real_fleet import RealRun, Timeline
from bench.sim_to_real.repository import config_pbtxt


def test_the_compressed_spec_is_a_valid_autoscaling_spec_at_a_tenth_of_the_defaults() -> None:
    spec = AutoscalingSpec.model_validate(settings.our_autoscaling())
    defaults = AutoscalingSpec()
    assert spec.scale_down.stabilization_window_seconds == math.ceil(
        defaults.scale_down.stabilization_window_seconds / settings.COMPRESSION)
    assert [p.period_seconds for p in spec.scale_up.policies] == [2, 2]  # 15 s / 10, whole seconds
    assert spec.queue_latency_target == "1000ms"


def test_the_emulated_model_config_names_the_curve() -> None:
    text = config_pbtxt(0.9, 0.93, 4)
    assert 'name: "sdxl"' in text and "max_batch_size: 4" in text
    assert 'string_value: "0.9"' in text and 'string_value: "0.93"' in text


def constant(rate: float, seconds: int, seed: int = 3) -> Trace:
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.uniform(0, seconds, size=rng.poisson(rate * seconds)))
    return Trace("constant", "test", np.full(seconds, rate), arrivals)


def test_random_routing_queues_longer_than_least_request() -> None:
    trace = constant(1.5, 600)
    waits = {}
    for routing in ("least_request", "random"):
        config = FleetConfig(routing=routing, sync_interval_s=15.0)  # type: ignore[arg-type]
        result = FleetSimulator(trace, config, StaticScaler(16), 16).run()
        waits[routing] = float(np.quantile(result.waits, 0.99))
    assert waits["random"] > waits["least_request"]


def test_cold_starts_are_drawn_from_the_measured_samples() -> None:
    trace = constant(2.0, 300)
    config = FleetConfig(cold_start_samples=(12.0, 14.0))
    simulator = FleetSimulator(trace, config, StaticScaler(20), 1)
    simulator.run()
    starts = {round(p.ready_at - p.created, 6) for p in simulator.pods.values() if p.ready_at is not None}
    assert starts and starts <= {12.0, 14.0}


def timeline() -> Timeline:
    line = Timeline()
    for step in range(40):
        t = step * 0.5
        line.t.append(t)
        line.spec.append(2)
        line.ready.append(1 if t < 10 else 2)
        line.live.append(2)
    line.first_seen = {"a": 0.0, "b": 3.0}
    line.first_ready = {"a": 0.0, "b": 10.0}
    return line


def test_timeline_cold_starts_and_pod_seconds() -> None:
    line = timeline()
    assert line.cold_starts(after=1.0) == [7.0]
    assert line.pod_seconds(0.0, 10.0) == pytest.approx(20.0)  # 2 pods for 10 s
    assert line.pod_seconds(5.0, 100.0) == pytest.approx(29.0)  # to the last sample (19.5 s), no further


def test_figures_count_failures_as_misses_and_report_uncompressed_goodput() -> None:
    waits = np.array([0.1, 0.5, 2.0, math.nan])
    figures = report.figures(waits, pod_seconds=360.0, peak_ready=3)
    assert figures.failed == 1
    assert figures.within_sla_pct == 50.0
    assert figures.p99_wait_s == math.inf
    assert figures.goodput_per_gpu_hour == pytest.approx(2 / (360 * settings.COMPRESSION / 3600), abs=0.1)


def fake_run(scaler: str) -> RealRun:
    """A 'real' run whose arrivals are the benchmark's own (no cluster): enough to drive the prediction."""
    arrivals = np.concatenate([np.sort(np.random.default_rng(1).uniform(0, settings.WARMUP_S, 120)),
                               settings.WARMUP_S + settings.trace().arrivals])
    start = 1000.0
    load = LoadResult(start + arrivals, np.zeros(len(arrivals)))
    line = Timeline(t=[0.0], spec=[3], ready=[3], live=[3], first_seen={"p": 5.0}, first_ready={"p": 16.0})
    return RealRun(scaler, load, start, line, initial_replicas=3, cold_start_status=None)


@pytest.mark.parametrize("scaler", ["ours", "hpa"])
def test_the_prediction_replays_the_real_arrivals_with_the_measured_cold_start(scaler: str) -> None:
    run = fake_run(scaler)
    prediction = predict.predict(run, "random")
    assert RealRun.from_dict(json.loads(json.dumps(run.to_dict()))).arrivals == pytest.approx(run.arrivals, abs=1e-3)
    assert len(prediction.waits) == len(run.arrivals) and np.isfinite(prediction.waits).all()
    assert predict.fleet_config(run, "random").cold_start_samples == (11.0,)
    figures = report.predicted_figures(run, prediction)
    assert figures.requests == int(np.sum(run.arrivals >= settings.WARMUP_S))
    assert 1 <= figures.peak_ready <= settings.MAX_REPLICAS
    # The step from 2 to 8 requests/s needs more than the warm-up's fleet: the scaler must have grown it.
    assert max(prediction.timeline["ready"]) > run.initial_replicas
    assert report.replica_gap(run, prediction) > 0


def test_the_hpa_targets_the_services_scale_subresource_with_the_charts_metric() -> None:
    manifest = hpa_side.hpa_manifest("svc", "ns")
    spec = manifest["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "diffusion.dev/v1alpha1", "kind": "DiffusionService", "name": "svc"}
    assert spec["metrics"][0]["pods"]["target"] == {"type": "AverageValue", "averageValue": "1000000"}  # the SLA, in us
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30  # 300 s / 10
    # The simulator's HPA is given the same behaviour as the real one.
    behavior = predict.hpa_behavior()
    assert behavior.down.stabilization_window_s == 30
    period = spec["behavior"]["scaleUp"]["policies"][0]["periodSeconds"]
    assert {limit.period_s for limit in behavior.up.limits} == {period}


def test_the_prediction_is_an_ensemble_over_seeds_and_tick_phases() -> None:
    """A real run's tick phase is nobody's choice: every (seed, phase) pair is simulated, least-request once."""
    run = fake_run("hpa")
    ensemble = predict.predictions(run)
    random_runs = {(p.seed, p.sync_offset_s) for p in ensemble if p.routing == "random"}
    assert random_runs == {(s, o) for s in predict.SEEDS for o in predict.SYNC_OFFSETS_S}
    assert [p.routing for p in ensemble].count("least_request") == 1
    # The phase reaches the simulator: its first decision is taken at the offset.
    late = predict.predict(run, "random", 7, sync_offset_s=1.25)
    assert late.timeline["t"][0] == pytest.approx(1.25)


def test_where_the_real_run_falls_in_its_ensemble() -> None:
    assert report.share_at_or_below(3.0, [1.0, 2.0, 3.0, 4.0]) == 0.75
    assert report.share_at_or_below(0.5, [1.0, 2.0]) == 0.0
    assert report.share_at_or_below(9.0, [1.0, 2.0]) == 1.0


def test_the_real_hpas_view_is_read_from_its_status() -> None:
    status = {"status": {"desired_replicas": 3, "current_replicas": 2, "current_metrics": [
        {"type": "Pods", "pods": {"metric": {"name": hpa_side.METRIC}, "current": {"average_value": "254500m"}}}]}}
    assert hpa_side.hpa_view(status) == {"average_us": 254.5, "desired": 3, "current": 2}
    # Before its first metric read the HPA reports no current metric: no average, never a made-up 0.
    assert hpa_side.hpa_view({"status": {"desired_replicas": 1, "current_replicas": 1}})["average_us"] is None


def test_the_simulated_hpa_records_each_sync_as_the_real_status_reports_it() -> None:
    run = fake_run("hpa")
    syncs = predict.predict(run, "random").hpa_syncs
    assert syncs and all(1 <= replicas <= settings.MAX_REPLICAS for _, _, replicas in syncs)
    averages = [average for _, average, _ in syncs if average is not None]
    assert averages and min(averages) >= 0.0 and max(averages) > 0.0  # the step queues requests


def test_bin_means_skip_missing_samples_and_leave_empty_bins_empty() -> None:
    assert report.bin_means([0.0, 1.0, 31.0, 95.0], [1.0, 3.0, None, 5.0], 0.0, 90.0, 30.0) == [2.0, None, None]


def test_the_hpa_table_sets_the_real_hpas_metric_beside_the_simulated_ones() -> None:
    run = fake_run("hpa")
    polls = np.arange(settings.WARMUP_S, settings.WARMUP_S + len(settings.intensity()), 0.5)
    run.timeline.hpa_status = [{"t": float(t), "average_us": 500_000.0, "desired": 4, "current": 4} for t in polls]
    lines = report.hpa_metric_table(run, [predict.predict(run, "random", 7), predict.predict(run, "random", 8)])
    rows = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(settings.intensity()) // report.HPA_BIN_S
    assert all(row.split(" | ")[1] == "500" and row.split(" | ")[3] == "4.0" for row in rows)
    assert "2 simulated runs" in "".join(lines)
    assert report.hpa_metric_table(fake_run("ours"), []) == []  # ours has no HPA to compare


@pytest.mark.parametrize("termination_s", [0.0, 8.0])
def test_a_removed_idle_pod_holds_its_gpu_for_the_termination_time(termination_s: float) -> None:
    trace = Trace("idle", "no requests", np.zeros(120), np.array([]))
    config = FleetConfig(sync_interval_s=10.0, sync_offset_s=0.0, termination_s=termination_s)
    simulator = FleetSimulator(trace, config, lambda view: 2 if view.now < 50 else 1, 2)
    simulator.run()
    ended = sorted(p.ended for p in simulator.pods.values() if p.ended is not None)
    assert ended == [pytest.approx(50.0 + termination_s)]  # removed at the 50 s sync


def test_a_removed_busy_pod_serves_its_queue_and_then_its_termination_time_if_longer() -> None:
    trace = Trace("burst", "4 requests at once", np.zeros(60), np.full(4, 9.5))
    config = FleetConfig(sync_interval_s=10.0, sync_offset_s=0.0, termination_s=1.0, routing="least_request")
    simulator = FleetSimulator(trace, config, lambda view: 2 if view.now < 10 else 1, 2)
    result = simulator.run()
    assert np.isfinite(result.waits).all() and (result.waits < 30).all()  # the removed pod's queue is served
    removed = next(p for p in simulator.pods.values() if p.ended is not None)
    assert removed.ended is not None and removed.ended > 10.0 + 1.0  # its batch (~9 s x 2) outlasts 1 s


def test_the_termination_time_is_measured_from_pods_beyond_the_deployments_replicas() -> None:
    line = Timeline(t=[0.0, 5.0, 9.0, 20.0], spec=[2, 1, 1, 1], ready=[2, 1, 1, 1], live=[2, 2, 1, 1])
    assert line.termination_s() == pytest.approx(4.0)  # one pod removed at 5 s, gone by 9 s
    assert Timeline(t=[0.0, 1.0], spec=[2, 2], ready=[2, 2], live=[2, 2]).termination_s() is None
