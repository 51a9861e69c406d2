"""The simulator's side: the same arrivals and settings as a real run, through bench/autoscaler's fleet.

Everything the simulator is told comes from the real run or the settings both sides share: the
arrivals as they actually left the load generator, the compressed L4 curve the emulated model sleeps
by, the cold starts the poller measured on the real node, the operator's tick (or the HPA's sync), the
1 s scrapes, the rate windows, and the policy the operator builds from the same ``spec.autoscaling``
(``policy_from_spec``, as its timer does). Routing is kube-proxy's (random per connection); the
simulator's usual least-request balancer is run too, to show what routing alone is worth. Random
routing is itself random, and a real run's scaler ticks at a phase nobody chose (the operator's timer
and the HPA's sync start when their processes do): the prediction is an ensemble over ``SEEDS`` and
``SYNC_OFFSETS_S``, so its spread shows how far chance alone moves a run, and where the real one falls.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Literal

import numpy as np
from diffusion_operator.api.spec_autoscaling import AutoscalingSpec
from diffusion_operator.autoscaling.capacity import BatchingCurve
from diffusion_operator.autoscaling.cold_start import ColdStart
from diffusion_operator.autoscaling.from_spec import policy_from_spec
from diffusion_operator.autoscaling.policy import DirectionRules, RateLimit

from bench.autoscaler.fleet import FleetSimulator, Scaler
from bench.autoscaler.hpa import HpaBehavior
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.scalers import HpaScaler, OurScaler
from bench.autoscaler.traces import Trace
from bench.sim_to_real import settings
from bench.sim_to_real.real_fleet import RealRun

#: Seconds of no arrivals after the last one, so every request finishes in the simulation as in the real run.
DRAIN_S = 120
#: A tiny service's ``spec.pipeline.steps`` (the speed tier is off: only the policy's constructor needs it).
PIPELINE_STEPS = 2
Routing = Literal["random", "least_request"]
SEEDS = (7, 8, 9, 10, 11)
#: Where the scaler's first tick falls within its 1.5 s period, relative to the trace's first second.
SYNC_OFFSETS_S = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
#: The least-request run's phase (one run: its balancer leaves no routing noise to average).
DEFAULT_SYNC_OFFSET_S = 0.5


def predictions(run: RealRun) -> list[Prediction]:
    """Random routing (kube-proxy's choice) over every seed and tick phase; least-request once."""
    ensemble = [predict(run, "random", seed, offset) for seed in SEEDS for offset in SYNC_OFFSETS_S]
    return [*ensemble, predict(run, "least_request")]


def hpa_behavior() -> HpaBehavior:
    """autoscaling/v2's default behaviour, compressed (what ``hpa_manifest`` writes into the HPA)."""
    hpa = settings.HpaSettings()
    period = float(hpa.policy_period_s)
    return HpaBehavior(
        settings.MIN_REPLICAS, settings.MAX_REPLICAS,
        up=DirectionRules(0.0, (RateLimit(period, pods=4), RateLimit(period, percent=100.0))),
        down=DirectionRules(float(hpa.down_stabilization_s), (RateLimit(period, percent=100.0),)),
    )


def fleet_config(run: RealRun, routing: Routing, sync_offset_s: float = DEFAULT_SYNC_OFFSET_S) -> FleetConfig:
    starts = tuple(run.timeline.cold_starts())
    return FleetConfig(
        curve=BatchingCurve(settings.SINGLE_S, settings.EXPONENT, settings.MAX_BATCH_SIZE),
        cold_start_s=statistics.median(starts) if starts else 10.0,
        cold_start_samples=starts,
        scrape_interval_s=settings.SCRAPE_S,
        sync_interval_s=settings.TICK_S if run.scaler == "ours" else settings.HPA_SYNC_S,
        sync_offset_s=sync_offset_s,
        sla_s=settings.SLA_S,
        min_replicas=settings.MIN_REPLICAS,
        max_replicas=settings.MAX_REPLICAS,
        routing=routing,
        termination_s=run.timeline.termination_s() or 0.0,
    )


def scaler_for(run: RealRun) -> Scaler:
    if run.scaler == "ours":
        policy = policy_from_spec(AutoscalingSpec.model_validate(settings.our_autoscaling()),
                                  pipeline_steps=PIPELINE_STEPS)
        return OurScaler(policy, rate_window_s=float(settings.RATE_WINDOW_S),
                         cold_start=ColdStart.from_dict(run.cold_start_status))
    hpa = settings.HpaSettings()
    return HpaScaler(hpa.target_us, hpa_behavior(), window_s=float(hpa.window_s))


@dataclass
class Prediction:
    routing: Routing
    seed: int
    sync_offset_s: float
    waits: np.ndarray  # per request, in the real run's order
    pod_seconds: float  # pods existing (starting, ready or draining) within the measured window
    timeline: dict[str, list[float]]
    hpa_syncs: list[tuple[float, float | None, int]]  # the simulated HPA's (now, average µs, replicas); ours: []


def predict(run: RealRun, routing: Routing = "random", seed: int = settings.SEED,
            sync_offset_s: float = DEFAULT_SYNC_OFFSET_S) -> Prediction:
    arrivals = run.arrivals
    order = np.argsort(arrivals, kind="stable")
    end = int(np.ceil(arrivals.max())) + DRAIN_S
    trace = Trace("replayed", "the real run's arrivals", np.zeros(end), arrivals[order])
    scaler = scaler_for(run)
    config = fleet_config(run, routing, sync_offset_s)
    simulator = FleetSimulator(trace, config, scaler, run.initial_replicas, seed=seed)
    result = simulator.run()
    waits = np.empty_like(result.waits)
    waits[order] = result.waits
    window = (settings.WARMUP_S, settings.WARMUP_S + len(settings.intensity()))
    pod_seconds = sum(max(0.0, min(end if pod.ended is None else pod.ended, window[1]) - max(pod.created, window[0]))
                      for pod in simulator.pods.values())
    syncs = scaler.syncs if isinstance(scaler, HpaScaler) else []
    return Prediction(routing, seed, sync_offset_s, waits, pod_seconds, result.timeline, syncs)
