"""Run every scaler on every trace and summarise: SLA attainment, GPU-hours, scale events."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from diffusion_operator.autoscaling import ScalingPolicy
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla

from bench.autoscaler.fleet import FleetSimulator, Scaler, SimResult
from bench.autoscaler.hpa import HpaBehavior
from bench.autoscaler.model import FleetConfig
from bench.autoscaler.scalers import HpaScaler, KedaScaler, OracleScaler, OurScaler, default_policy
from bench.autoscaler.traces import Trace

TRITON_CHART_TARGET_US = 50.0  # the k8s-onprem chart's value
KEDA_PENDING_PER_REPLICA = 1.0  # ~ queue target (10 s) / service time (9 s)


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


ScalerFactory = Callable[[Trace, FleetConfig], Scaler]


def scaler_factories() -> dict[str, ScalerFactory]:
    def behavior(config: FleetConfig) -> HpaBehavior:
        return HpaBehavior(config.min_replicas, config.max_replicas)

    def reactive(config: FleetConfig) -> ScalingPolicy:
        """The default policy with the burst memory off: what holding capacity between bursts buys."""
        return replace(default_policy(config), burst_memory_s=0.0)

    return {
        "ours": lambda trace, config: OurScaler(default_policy(config)),
        "ours (no burst memory)": lambda trace, config: OurScaler(reactive(config)),
        "hpa (chart 50us)": lambda trace, config: HpaScaler(TRITON_CHART_TARGET_US, behavior(config)),
        "hpa (target=SLA)": lambda trace, config: HpaScaler(config.sla_s * 1e6, behavior(config)),
        "keda (pending)": lambda trace, config: KedaScaler(KEDA_PENDING_PER_REPLICA, behavior(config)),
        "oracle": OracleScaler.for_trace,
    }


def initial_replicas(trace: Trace, config: FleetConfig) -> int:
    """Every scaler starts from the fleet the first minute's load needs (a steady state, not a cold one)."""
    rate = float(np.mean(trace.intensity[:60]))
    needed = replicas_for_queue_sla(rate, config.curve.single_s, config.sla_s, 0.99, 0.1)
    return min(max(needed, config.min_replicas), config.max_replicas)


def run_one(trace: Trace, config: FleetConfig, name: str, factory: ScalerFactory) -> tuple[Row, SimResult]:
    sim = FleetSimulator(trace, config, factory(trace, config), initial_replicas(trace, config),
                         outages=trace.outages)
    result = sim.run()
    waits = result.waits
    violations = int(np.sum(waits > config.sla_s))
    row = Row(
        trace=trace.name,
        scaler=name,
        requests=len(waits),
        within_sla_pct=100.0 * (1 - violations / max(len(waits), 1)),
        violations=violations,
        p99_wait_s=float(np.quantile(waits, 0.99)) if len(waits) else math.nan,
        gpu_hours=result.gpu_seconds / 3600,
        scale_events=result.scale_events,
    )
    return row, result
