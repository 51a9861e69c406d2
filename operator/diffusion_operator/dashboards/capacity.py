"""Row "Capacity": replicas, the autoscaler's decisions and why, the queue and how well it batches."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics import promql

TITLE = "Capacity and autoscaling"


def replicas() -> timeseries.Panel:
    return d.timeseries_panel(
        "Replicas: desired vs ready",
        "Replicas the operator wants and Triton pods ready; a lasting gap is pods that cannot start "
        "(GPU nodes provisioning, image pulls, engine loading).",
        d.COUNT,
        [(op.desired_replicas(d.OPERATOR), "desired"), (op.ready_replicas(d.OPERATOR), "ready")],
    )


def scale_decisions() -> timeseries.Panel:
    return d.timeseries_panel(
        "Scale decisions by reason",
        "Autoscaler decisions in the last 5 minutes by direction and reason (AtMaxReplicas: it wanted more).",
        d.COUNT,
        [(op.scale_decisions(d.OPERATOR, d.DECISION_WINDOW_S), "{{direction}} {{reason}}")],
        bars=True,
    )


def pending() -> timeseries.Panel:
    return d.timeseries_panel(
        "Pending requests",
        "Requests waiting in the queue now, all pods: the fast signal (counters move only on completion).",
        d.COUNT,
        [(promql.pending_requests(d.TRITON), "pending")],
    )


def batch_size() -> timeseries.Panel:
    return d.timeseries_panel(
        "Batch size",
        "Requests per model execution (inference_count / exec_count); 1 means dynamic batching is not batching.",
        d.COUNT,
        [(promql.batch_size(d.TRITON, d.WINDOW_S), "requests per execution")],
    )


def cold_start() -> timeseries.Panel:
    return d.timeseries_panel(
        "Cold start and speed tier",
        "The service's measured pod created -> Ready (75th percentile of its latest pods; the forecast "
        "looks this far ahead), and the steps the overload speed tier serves (0: full steps).",
        d.COUNT,
        [(op.cold_start_seconds(d.OPERATOR), "cold start (s)"), (op.speed_tier_steps(d.OPERATOR), "speed tier steps")],
    )


def panels() -> list[timeseries.Panel]:
    return [replicas(), scale_decisions(), pending(), batch_size(), cold_start()]
