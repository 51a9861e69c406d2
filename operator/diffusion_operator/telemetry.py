"""The operator's own Prometheus metrics.

Metric names are part of the product's interface: the Grafana dashboards and alert rules query
them, so they have one home (``metrics/operator_metrics.py``, shared with the PromQL builders) and are
never renamed lightly.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from diffusion_operator.api.conditions import Reason
from diffusion_operator.api.status_quality import QualityStatus
from diffusion_operator.autoscaling import Decision
from diffusion_operator.metrics.operator_metrics import OperatorMetric

RECONCILE_SECONDS = Histogram(
    OperatorMetric.RECONCILE_SECONDS,
    "Time to reconcile one DiffusionService.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_ERRORS = Counter(
    OperatorMetric.RECONCILE_ERRORS, "Reconciles that failed, by reason.", ["reason"]
)
ENGINE_BUILDS = Counter(
    OperatorMetric.ENGINE_BUILDS,
    "Engine build Jobs by result (started, succeeded, failed).",
    ["namespace", "result"],
)
ENGINE_BUILD_SECONDS = Histogram(
    OperatorMetric.ENGINE_BUILD_SECONDS,
    "Wall time of successful engine builds, from Job start to completion.",
    ["namespace"],
    buckets=(60, 300, 600, 1200, 1800, 3600, 7200, 14400),
)
SCALE_DECISIONS = Counter(
    OperatorMetric.SCALE_DECISIONS,
    "Autoscaler decisions by service, direction (up, down, hold) and reason.",
    ["namespace", "service", "direction", "reason"],
)
DESIRED_REPLICAS = Gauge(
    OperatorMetric.DESIRED_REPLICAS, "Replicas the operator wants per service.", ["namespace", "service"]
)
READY_REPLICAS = Gauge(
    OperatorMetric.READY_REPLICAS, "Triton pods ready per service.", ["namespace", "service"]
)
SERVICE_PHASE = Gauge(
    OperatorMetric.SERVICE_PHASE,
    "1 for the phase each service is in (Pending, Building, Deploying, Ready, Degraded, Failed), else 0.",
    ["namespace", "service", "phase"],
)
OBSERVED_QUEUE_SECONDS = Gauge(
    OperatorMetric.OBSERVED_QUEUE_SECONDS,
    "Queue latency the autoscaler last observed per service.",
    ["namespace", "service"],
)
COLD_START_SECONDS = Gauge(
    OperatorMetric.COLD_START_SECONDS,
    "The service's measured Triton pod created -> Ready (75th percentile of recent pods).",
    ["namespace", "service"],
)
SPEED_TIER_STEPS = Gauge(
    OperatorMetric.SPEED_TIER_STEPS,
    "Steps the overload speed tier serves requests without their own (0: the pipeline's default).",
    ["namespace", "service"],
)
QUEUE_TARGET_SECONDS = Gauge(
    OperatorMetric.QUEUE_TARGET_SECONDS,
    "The service's queueLatencyTarget (the SLA line on dashboards).",
    ["namespace", "service"],
)
ENGINE_QUALITY = Gauge(
    OperatorMetric.ENGINE_QUALITY,
    "The quality gate's scores of the service's engine build: psnr_db and ssim (worst image), adherence (mean), "
    "lowest_passing_steps, and passed (1 passed, 0 failed or unavailable).",
    ["namespace", "service", "score"],
)


def serve_metrics(port: int) -> None:
    """Expose /metrics on ``port`` (0 disables it, e.g. for several operators in one test)."""
    if port:
        start_http_server(port)


PHASES = ("Pending", "Building", "Deploying", "Ready", "Degraded", "Failed")


def record_service(namespace: str, service: str, *, phase: str | None, desired: int | None, ready: int | None) -> None:
    """The per-service gauges dashboards and alerts read (written after every reconcile)."""
    for candidate in PHASES:
        SERVICE_PHASE.labels(namespace, service, candidate).set(1 if candidate == phase else 0)
    if desired is not None:
        DESIRED_REPLICAS.labels(namespace, service).set(desired)
    if ready is not None:
        READY_REPLICAS.labels(namespace, service).set(ready)


def record_build_outcome(namespace: str, reasons: Collection[str], build_seconds: float | None) -> None:
    """Count build results as each service sees them finish (a shared build counts once per user):
    ``reasons`` are the reconcile's Event reasons, ``build_seconds`` the Job's start-to-completion."""
    if Reason.ENGINE_BUILT in reasons:
        ENGINE_BUILDS.labels(namespace, "succeeded").inc()
        if build_seconds is not None:
            ENGINE_BUILD_SECONDS.labels(namespace).observe(build_seconds)
    # A build that would not fit never ran (no Job): it is not a failed build.
    if set(reasons) & {Reason.BUILD_FAILED, Reason.BUILD_TIMED_OUT, Reason.BUILD_OOM_KILLED,
                        Reason.QUALITY_GATE_FAILED, Reason.QUALITY_GATE_UNAVAILABLE}:
        ENGINE_BUILDS.labels(namespace, "failed").inc()


def record_scale_decision(namespace: str, service: str, decision: Decision, target_s: float) -> None:
    """The autoscaler's per-tick series: the decision by direction and reason, the target and what it saw."""
    if decision.replicas > decision.previous_replicas:
        direction = "up"
    elif decision.replicas < decision.previous_replicas:
        direction = "down"
    else:
        direction = "hold"
    SCALE_DECISIONS.labels(namespace, service, direction, decision.reason).inc()
    QUEUE_TARGET_SECONDS.labels(namespace, service).set(target_s)
    if decision.observed_queue_latency_s is not None:
        OBSERVED_QUEUE_SECONDS.labels(namespace, service).set(decision.observed_queue_latency_s)
    DESIRED_REPLICAS.labels(namespace, service).set(decision.replicas)
    SPEED_TIER_STEPS.labels(namespace, service).set(decision.speed_tier_steps or 0)


def record_quality(namespace: str, service: str, quality: QualityStatus | None) -> None:
    """The gate's scores as series (dashboards and alerts); a score the gate did not produce is not set."""
    if quality is None or quality.verdict == "Disabled":
        return
    scores = quality.scores
    values = {
        "passed": 1.0 if quality.verdict == "Passed" else 0.0,
        "psnr_db": scores.psnr_db if scores else None,
        "ssim": scores.ssim if scores else None,
        "adherence": scores.adherence if scores else None,
        "lowest_passing_steps": quality.lowest_passing_steps,
    }
    for score, value in values.items():
        if value is not None:
            ENGINE_QUALITY.labels(namespace, service, score).set(value)


def record_cold_start(namespace: str, service: str, seconds: float | None) -> None:
    if seconds is not None:
        COLD_START_SECONDS.labels(namespace, service).set(seconds)


#: Every metric with a series per service: a deleted service's series must go with it, or dashboards
#: list it forever and "Ready with no Triton metrics" alerts fire for a service that no longer exists.
PER_SERVICE = (SCALE_DECISIONS, DESIRED_REPLICAS, READY_REPLICAS, SERVICE_PHASE, OBSERVED_QUEUE_SECONDS,
               QUEUE_TARGET_SECONDS, COLD_START_SECONDS, SPEED_TIER_STEPS, ENGINE_QUALITY)


def forget_service(namespace: str, service: str) -> None:
    """Drop every series of a deleted service (counters too: a re-created service starts from 0)."""
    for metric in PER_SERVICE:
        metric.remove_by_labels({"namespace": namespace, "service": service})
