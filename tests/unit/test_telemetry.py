"""A deleted DiffusionService's own metric series go with it; other services' stay."""

from __future__ import annotations

import asyncio

import kopf
from diffusion_operator import telemetry
from diffusion_operator.handlers.lifecycle import on_service_event
from diffusion_operator.metrics.operator_metrics import OperatorMetric
from prometheus_client import REGISTRY, Counter, Gauge, Histogram


def _series(service: str) -> int:
    return sum(1 for family in REGISTRY.collect() for sample in family.samples
               if sample.labels.get("service") == service and sample.labels.get("namespace") == "forget-test")


def _record(service: str) -> None:
    telemetry.record_service("forget-test", service, phase="Ready", desired=2, ready=2)
    telemetry.SCALE_DECISIONS.labels("forget-test", service, "up", "ScaledUp").inc()
    telemetry.OBSERVED_QUEUE_SECONDS.labels("forget-test", service).set(0.2)
    telemetry.QUEUE_TARGET_SECONDS.labels("forget-test", service).set(0.1)


def test_a_deleted_service_leaves_no_series_behind() -> None:
    _record("gone")
    _record("stays")
    # 6 phases + desired + ready + observed + target + the decision counter (and its _created).
    assert _series("gone") == _series("stays") >= 11

    def event(kind: str) -> None:
        body = kopf.Body({"metadata": {"namespace": "forget-test", "name": "gone"}})
        asyncio.run(on_service_event(type=kind, body=body))

    event("MODIFIED")
    assert _series("gone") >= 11, "only a deletion forgets"
    event("DELETED")
    assert _series("gone") == 0
    assert _series("stays") >= 11


def test_every_operator_metric_is_exported_under_its_one_name() -> None:
    """The dashboards and alerts query ``OperatorMetric`` names: each is exported, and nothing else is."""
    wanted = {value for key, value in vars(OperatorMetric).items() if key.isupper()}
    collectors = [value for value in vars(telemetry).values() if isinstance(value, Counter | Gauge | Histogram)]
    exported = {collector.describe()[0].name + ("_total" if isinstance(collector, Counter) else "")
                for collector in collectors}
    assert len(wanted) == len(collectors) == 13
    assert exported == wanted
