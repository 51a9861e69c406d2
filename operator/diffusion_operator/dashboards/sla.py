"""Row "SLA": is the service meeting its queue-latency target, how fast, and at what cost."""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, timeseries

from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics import promql

TITLE = "SLA"
TARGET_LEGEND = "SLA target"


def queue_latency() -> timeseries.Panel:
    return d.timeseries_panel(
        "Queue latency vs SLA target",
        "Average time a completed request waited in Triton's queue over the autoscaler's window, the "
        "latency the autoscaler last acted on, and the service's queueLatencyTarget (dashed).",
        d.SECONDS,
        [(promql.queue_latency_seconds(d.TRITON, d.WINDOW_S), "queue latency"),
         (op.observed_queue_latency_seconds(d.OPERATOR), "seen by autoscaler"),
         (op.queue_latency_target_seconds(d.OPERATOR), TARGET_LEGEND)],
    ).override_by_name(TARGET_LEGEND, d.dashed_red(TARGET_LEGEND))


def p95_latency() -> timeseries.Panel:
    return d.timeseries_panel(
        "p95 latency (worst pod)",
        "Highest per-pod p95 from Triton's summaries: an upper bound on the fleet's p95 (quantiles cannot "
        "be merged across pods); gaps while a pod is idle.",
        d.SECONDS,
        [(op.request_p95_worst_pod_seconds(d.TRITON), "request p95"),
         (promql.queue_p95_worst_pod_seconds(d.TRITON), "queue p95"),
         (op.queue_latency_target_seconds(d.OPERATOR), TARGET_LEGEND)],
    ).override_by_name(TARGET_LEGEND, d.dashed_red(TARGET_LEGEND))


def throughput() -> timeseries.Panel:
    return d.timeseries_panel(
        "Images per second",
        "Completed and failed requests per second (one image per request), and arrivals including the "
        "growth of the queue.",
        d.REQUESTS_PER_SECOND,
        [(promql.success_rate(d.TRITON, d.WINDOW_S), "images/s"),
         (promql.arrival_rate(d.TRITON, d.WINDOW_S), "arrivals/s"),
         (promql.failure_rate(d.TRITON, d.WINDOW_S), "failed/s")],
    )


def degraded_images() -> timeseries.Panel:
    return d.timeseries_panel(
        "Degraded images (speed tier)",
        "Images per second the overload speed tier served with fewer steps (each says so in its degraded "
        "output), next to all images per second; empty unless spec.autoscaling.overload is enabled.",
        d.REQUESTS_PER_SECOND,
        [(promql.degraded_images_rate(d.TRITON, d.WINDOW_S), "degraded/s"),
         (promql.success_rate(d.TRITON, d.WINDOW_S), "images/s")],
    )


def cost_per_image() -> stat.Panel:
    return d.stat_panel(
        "Cost per image",
        "GPU $/h (variable) x ready replicas / 3600 / images per second; empty while no image completes.",
        d.DOLLARS,
        [(op.cost_per_image(d.PRICE, d.OPERATOR, d.TRITON, d.WINDOW_S), "$ per image")],
        width=d.HALF, decimals=4,
    )


def panels() -> list[timeseries.Panel | stat.Panel]:
    return [queue_latency(), p95_latency(), throughput(), degraded_images(), cost_per_image()]
