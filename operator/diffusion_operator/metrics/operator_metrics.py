"""The names of the operator's own metrics: one home for what exports them and what queries them.

They are part of the product's interface: ``telemetry`` registers each collector under its name here,
and ``operator_promql`` (the dashboards' panels and the alert rules) queries the same name, so a
rename is one edit and no panel can query a series nobody exports. Pure strings, so the PromQL
builders can use them without importing the exporter (whose import registers live collectors).
Counters carry their ``_total`` and histograms are queried through ``bucket``.
"""

from __future__ import annotations

from typing import Final


class OperatorMetric:
    """The operator's metric names (the collector in ``telemetry`` in brackets)."""

    RECONCILE_SECONDS: Final = "diffusion_operator_reconcile_duration_seconds"  # [RECONCILE_SECONDS] histogram
    RECONCILE_ERRORS: Final = "diffusion_operator_reconcile_errors_total"  # [RECONCILE_ERRORS]
    ENGINE_BUILDS: Final = "diffusion_operator_engine_builds_total"  # [ENGINE_BUILDS]
    ENGINE_BUILD_SECONDS: Final = "diffusion_operator_engine_build_duration_seconds"  # [ENGINE_BUILD_SECONDS] histogram
    SCALE_DECISIONS: Final = "diffusion_operator_scale_decisions_total"  # [SCALE_DECISIONS]
    DESIRED_REPLICAS: Final = "diffusion_operator_desired_replicas"  # [DESIRED_REPLICAS]
    READY_REPLICAS: Final = "diffusion_operator_ready_replicas"  # [READY_REPLICAS]
    SERVICE_PHASE: Final = "diffusion_operator_service_phase"  # [SERVICE_PHASE]
    OBSERVED_QUEUE_SECONDS: Final = "diffusion_operator_observed_queue_latency_seconds"  # [OBSERVED_QUEUE_SECONDS]
    COLD_START_SECONDS: Final = "diffusion_operator_cold_start_seconds"  # [COLD_START_SECONDS]
    SPEED_TIER_STEPS: Final = "diffusion_operator_speed_tier_steps"  # [SPEED_TIER_STEPS]
    QUEUE_TARGET_SECONDS: Final = "diffusion_operator_queue_latency_target_seconds"  # [QUEUE_TARGET_SECONDS]
    ENGINE_QUALITY: Final = "diffusion_operator_engine_quality"  # [ENGINE_QUALITY]


def bucket(histogram: str) -> str:
    """The ``_bucket`` series of a histogram, which ``histogram_quantile`` reads."""
    return f"{histogram}_bucket"
