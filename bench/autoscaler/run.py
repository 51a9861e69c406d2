"""Run every scaler on every trace and summarise: goodput per GPU-hour, SLA attainment, GPU-hours.

Goodput per GPU-hour (requests served within the queue SLA per GPU-hour, open-loop: arrivals do not
wait for answers) is the headline, as NVIDIA Dynamo's planner reports it: it rewards meeting the SLA
and punishes idle GPUs in one number, so neither over-provisioning nor a cheap, late fleet wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from diffusion_operator.autoscaling import ScalingPolicy
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla
from diffusion_operator.autoscaling.speed_tier import SpeedTierPolicy

from bench.autoscaler.fleet import FleetSimulator, Scaler, SimResult
from bench.autoscaler.hpa import HpaBehavior
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.scalers import (
    PIPELINE_STEPS,
    HpaScaler,
    KedaScaler,
    OracleScaler,
    OurScaler,
    StaticScaler,
    default_policy,
)
from bench.autoscaler.traces import Trace

TRITON_CHART_TARGET_US = 50.0  # the k8s-onprem chart's value
KEDA_PENDING_PER_REPLICA = 1.0  # ~ queue target (10 s) / service time (9 s)
SPEED_TIER_MIN_STEPS = 20  # spec.autoscaling.overload.minSteps default


@dataclass(frozen=True)
class Row:
    trace: str
    scaler: str
    requests: int
    within_sla_pct: float
    violations: int
    p99_wait_s: float
    gpu_hours: float
    scale_events: int
    goodput_per_gpu_hour: float = 0.0
    degraded_pct: float = 0.0  # images served with fewer steps by the speed tier


ScalerFactory = Callable[[Trace, FleetConfig], Scaler]


def scaler_factories() -> dict[str, ScalerFactory]:
    def behavior(config: FleetConfig) -> HpaBehavior:
        return HpaBehavior(config.min_replicas, config.max_replicas)

    def reactive(config: FleetConfig) -> ScalingPolicy:
        """The default policy with the burst memory off: what holding capacity between bursts buys."""
        return replace(default_policy(config), burst_memory_s=0.0)

    def no_forecast(config: FleetConfig) -> ScalingPolicy:
        """The default policy without the predictive floor: what the forecast buys (or costs)."""
        return replace(default_policy(config), forecast_season_s=None)

    def speed_tier(config: FleetConfig) -> ScalingPolicy:
        """The default policy with the speed tier on: 30 -> 20 steps (the CRD's minSteps)."""
        return replace(default_policy(config), speed_tier=SpeedTierPolicy(SPEED_TIER_MIN_STEPS, PIPELINE_STEPS))

    return {
        "ours": lambda trace, config: OurScaler(default_policy(config)),
        "ours + speed tier": lambda trace, config: OurScaler(speed_tier(config)),
        "ours (no forecast)": lambda trace, config: OurScaler(no_forecast(config)),
        "ours (constant cold start)": lambda trace, config: OurScaler(default_policy(config), learn_cold_start=False),
        "ours (no burst memory)": lambda trace, config: OurScaler(reactive(config)),
        "hpa (chart 50us)": lambda trace, config: HpaScaler(TRITON_CHART_TARGET_US, behavior(config)),
        "hpa (target=SLA)": lambda trace, config: HpaScaler(config.sla_s * 1e6, behavior(config)),
        "keda (prometheus)": lambda trace, config: KedaScaler(KEDA_PENDING_PER_REPLICA, behavior(config),
                                                              min_replica_count=config.min_replicas),
        "static (peak)": StaticScaler.for_trace,
        "oracle": OracleScaler.for_trace,
    }


def initial_replicas(trace: Trace, config: FleetConfig) -> int:
    """Every scaler starts from the fleet the first minute's load needs (a steady state, not a cold one)."""
    rate = float(np.mean(trace.intensity[:60]))
    needed = replicas_for_queue_sla(rate, config.curve.single_s, config.sla_s, 0.99, 0.1)
    return min(max(needed, config.min_replicas), config.max_replicas)


def run_one(trace: Trace, config: FleetConfig, name: str, factory: ScalerFactory) -> tuple[Row, SimResult]:
    scaler = factory(trace, config)
    initial = scaler.replicas if isinstance(scaler, StaticScaler) else initial_replicas(trace, config)
    sim = FleetSimulator(trace, config, scaler, initial, outages=trace.outages)
    result = sim.run()
    waits = result.waits
    violations = int(np.sum(waits > config.sla_s))
    gpu_hours = result.gpu_seconds / 3600
    row = Row(
        trace=trace.name,
        scaler=name,
        requests=len(waits),
        within_sla_pct=100.0 * (1 - violations / max(len(waits), 1)),
        violations=violations,
        p99_wait_s=float(np.quantile(waits, 0.99)) if len(waits) else math.nan,
        gpu_hours=gpu_hours,
        scale_events=result.scale_events,
        goodput_per_gpu_hour=(len(waits) - violations) / gpu_hours if gpu_hours > 0 else 0.0,
        degraded_pct=100.0 * float(result.degraded.mean()) if len(waits) else 0.0,
    )
    return row, result
