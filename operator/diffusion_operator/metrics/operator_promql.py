"""PromQL over the operator's own metrics, and the per-service (fleet) form of the Triton builders.

:mod:`promql` owns every Triton expression; this module adds what dashboards and alerts need beyond
the autoscaler's signals: the operator's gauges and counters (``telemetry`` exports them under the
names in ``operator_metrics``), a request p95 next to
promql's queue p95, the cost per image, and the fleet form alert rules evaluate.

Why a fleet form: an alert rule cannot be scoped to one service, so it must evaluate every service at
once. :func:`fleet_scope` selects every service's series of one queueing model and :func:`per_service`
groups each aggregation of a promql expression ``by (namespace, diffusion_dev_service)``. The arithmetic
(rates, ``clamp_min``, µs → s) stays promql's own; binary operators between equally grouped vectors then
match per service, so each result series is exactly that service's single-scope value (tested).

The operator labels its metrics ``namespace``/``service``; Triton's carry ``namespace``/
``diffusion_dev_service``. :func:`as_triton_service` copies the label across so the two join.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from diffusion_operator.api.conditions import Reason
from diffusion_operator.metrics.operator_metrics import OperatorMetric, bucket
from diffusion_operator.metrics.promql import TritonScope, _quote, success_rate, window
from diffusion_operator.render.names import SERVICE_METRIC_LABEL

#: ``up`` for the operator: the chart's metrics Service (``<release>-diffusion-operator-metrics``) is the job.
OPERATOR_JOB_REGEX: Final = ".*diffusion-operator.*"
#: The labels one service's Triton series share; the grouping of every per-service expression.
SERVICE_LABELS: Final = ("namespace", SERVICE_METRIC_LABEL)
#: One GPU per Triton pod (the SDXL pipeline runs on GPU 0), so pod-hours are GPU-hours.
SECONDS_PER_HOUR: Final = 3600

_AGGREGATION = re.compile(r"(?<![\w])(sum|max|min|avg|count)\(")
_PRICE = re.compile(r"^(\$[A-Za-z_]\w*|\d+(\.\d+)?)$")


@dataclass(frozen=True)
class OperatorScope:
    """One DiffusionService in the operator's metrics (labels ``namespace`` and ``service``)."""

    namespace: str
    service: str

    def matchers(self, **extra: str) -> str:
        parts = [f"namespace={_quote(self.namespace)}", f"service={_quote(self.service)}"]
        parts.extend(f"{label}={_quote(value)}" for label, value in sorted(extra.items()))
        return "{" + ",".join(parts) + "}"


# -- one service (dashboards) ------------------------------------------------------------------------
def queue_latency_target_seconds(scope: OperatorScope) -> str:
    """The service's queueLatencyTarget: the SLA line (``max``: HA standbys may export a stale copy)."""
    return f"max({OperatorMetric.QUEUE_TARGET_SECONDS}{scope.matchers()})"


def observed_queue_latency_seconds(scope: OperatorScope) -> str:
    """The queue latency the autoscaler last acted on (its own reading of :func:`promql.queue_latency_seconds`)."""
    return f"max({OperatorMetric.OBSERVED_QUEUE_SECONDS}{scope.matchers()})"


def cold_start_seconds(scope: OperatorScope) -> str:
    """The service's measured pod created -> Ready (``autoscaling.cold_start``)."""
    return f"max({OperatorMetric.COLD_START_SECONDS}{scope.matchers()})"


def speed_tier_steps(scope: OperatorScope) -> str:
    """Steps the overload speed tier serves (0 while it is off)."""
    return f"max({OperatorMetric.SPEED_TIER_STEPS}{scope.matchers()})"


def desired_replicas(scope: OperatorScope) -> str:
    return f"max({OperatorMetric.DESIRED_REPLICAS}{scope.matchers()})"


def ready_replicas(scope: OperatorScope) -> str:
    return f"max({OperatorMetric.READY_REPLICAS}{scope.matchers()})"


def scale_decisions(scope: OperatorScope, window_s: int = 300) -> str:
    """Autoscaler decisions in the window by direction and reason (one every sync, holds included)."""
    return (f"sum by (direction, reason) "
            f"(increase({OperatorMetric.SCALE_DECISIONS}{scope.matchers()}[{window(window_s)}]))")


def engine_builds(namespace: str, window_s: int = 3600) -> str:
    """Engine build Jobs started, succeeded and failed in the namespace over the window."""
    return (f"sum by (result) "
            f"(increase({OperatorMetric.ENGINE_BUILDS}{{namespace={_quote(namespace)}}}[{window(window_s)}]))")


def engine_build_seconds_quantile(namespace: str, quantile: float, window_s: int = 3600) -> str:
    """A quantile of successful build durations finished in the window (histogram buckets, so mergeable)."""
    if not 0 < quantile < 1:
        raise ValueError("a quantile is between 0 and 1")
    buckets = f"{bucket(OperatorMetric.ENGINE_BUILD_SECONDS)}{{namespace={_quote(namespace)}}}"
    return f"histogram_quantile({quantile:g}, sum by (le) (increase({buckets}[{window(window_s)}])))"


def request_p95_worst_pod_seconds(scope: TritonScope) -> str:
    """The worst pod's p95 of whole request time (queue + compute), the shape of promql's queue p95.

    Summary quantiles cannot be merged across pods, so like :func:`promql.queue_p95_worst_pod_seconds`
    this is an upper bound for dashboards, NaN while a pod is idle.
    """
    selector = scope.matchers()[:-1] + ',quantile="0.95"}'
    return f"max(nv_inference_request_summary_us{selector}) / 1e+06"


def cost_per_image(price_per_hour: str, operator: OperatorScope, triton: TritonScope, window_s: int = 60) -> str:
    """Dollars per image: GPU $/h * ready replicas / 3600 / images per second (one image per request).

    ``price_per_hour`` is a number or a Grafana variable (``$gpu_price_per_hour``). With no images in
    the window the result is empty rather than infinite: an idle fleet has no cost per image.
    """
    if not _PRICE.match(price_per_hour):
        raise ValueError(f"not a price or a variable: {price_per_hour!r}")
    return (f"{price_per_hour} * {ready_replicas(operator)} / {SECONDS_PER_HOUR} / "
            f"({success_rate(triton, window_s)} > 0)")


def label_values(metric: str, label: str, **matchers: str) -> str:
    """A Grafana variable query, ``label_values(metric{matchers}, label)``."""
    inner = ",".join(f"{name}={_quote(value)}" for name, value in matchers.items())
    return f"label_values({metric}{{{inner}}}, {label})" if inner else f"label_values({metric}, {label})"


# -- the operator itself (operator dashboard, alerts) -----------------------------------------------
def operator_up(job_regex: str = OPERATOR_JOB_REGEX) -> str:
    """1 per scraped operator replica that answered its last scrape."""
    return f"up{{job=~{_quote(job_regex)}}}"


def operator_down(job_regex: str = OPERATOR_JOB_REGEX) -> str:
    """Non-empty when no operator replica answers, or when none is scraped at all (``absent``)."""
    return f"max({operator_up(job_regex)}) == 0 or absent({operator_up(job_regex)})"


def reconcile_seconds_quantile(quantile: float, window_s: int = 300) -> str:
    if not 0 < quantile < 1:
        raise ValueError("a quantile is between 0 and 1")
    return (f"histogram_quantile({quantile:g}, sum by (le, outcome) "
            f"(rate({bucket(OperatorMetric.RECONCILE_SECONDS)}[{window(window_s)}])))")


def reconcile_errors(window_s: int = 300) -> str:
    return f"sum by (reason) (increase({OperatorMetric.RECONCILE_ERRORS}[{window(window_s)}]))"


def reconcile_error_events(window_s: int = 60) -> str:
    """Non-empty where reconciles failed within the window (error annotations)."""
    return f"sum(increase({OperatorMetric.RECONCILE_ERRORS}[{window(window_s)}])) > 0"


def services_by_phase() -> str:
    """How many services are in each phase (``max`` first: HA replicas may both export a service)."""
    return f"count by (phase) (max by (namespace, service, phase) ({OperatorMetric.SERVICE_PHASE}) == 1)"


# -- every service at once (alert rules) -------------------------------------------------------------
@dataclass(frozen=True)
class _FleetScope(TritonScope):
    """Every namespace and service (``=~".+"``) of the queueing model(s)."""

    def matchers(self, *, with_model: bool = True) -> str:
        parts = [f"{self.namespace_label}=~{_quote(self.namespace)}", f"{self.service_label}=~{_quote(self.service)}"]
        if with_model:
            parts.append(self.model_matcher())
        return "{" + ",".join(parts) + "}"


def fleet_scope(models: str | Sequence[str]) -> TritonScope:
    """A scope that every promql builder accepts and that selects all services of ``models``."""
    return _FleetScope.of_models(".+", ".+", [models] if isinstance(models, str) else list(models))


def per_service(expression: str) -> str:
    """Group every aggregation in a promql expression ``by (namespace, diffusion_dev_service)``."""
    if " by (" in expression or " without (" in expression or "vector(" in expression:
        raise ValueError("per_service needs an expression whose aggregations are all ungrouped")
    grouping = ", ".join(SERVICE_LABELS)
    return _AGGREGATION.sub(lambda match: f"{match.group(1)} by ({grouping}) (", expression)


def as_triton_service(expression: str) -> str:
    """Copy the operator's ``service`` label into ``diffusion_dev_service`` so it joins Triton series."""
    return f'label_replace({expression}, "{SERVICE_METRIC_LABEL}", "$1", "service", "(.*)")'


def queue_latency_targets() -> str:
    """Every service's SLA target, labelled like its Triton series."""
    return as_triton_service(f"max by (namespace, service) ({OperatorMetric.QUEUE_TARGET_SECONDS})")


def at_max_replicas(window_s: int = 300) -> str:
    """Services whose autoscaler decided ``AtMaxReplicas`` in the window (wanted more, was clamped)."""
    decisions = (f"{OperatorMetric.SCALE_DECISIONS}{{reason={_quote(Reason.AT_MAX_REPLICAS)}}}"
                 f"[{window(window_s)}]")
    return as_triton_service(f"sum by (namespace, service) (increase({decisions})) > 0")


def ready_with_replicas() -> str:
    """Services the operator reports Ready with at least one ready Triton pod (so metrics must exist)."""
    return as_triton_service(
        f'max by (namespace, service) ({OperatorMetric.SERVICE_PHASE}{{phase="Ready"}}) == 1 '
        f"and on (namespace, service) max by (namespace, service) ({OperatorMetric.READY_REPLICAS}) > 0"
    )


def failed_engine_builds(window_s: int = 1800) -> str:
    """Namespaces with a failed engine build in the window.

    ``increase`` misses the first failure of a namespace (its series is born at 1, with no earlier 0
    sample), so a series that did not exist one window ago counts as failing too.
    """
    failed = f'{OperatorMetric.ENGINE_BUILDS}{{result="failed"}}'
    w = window(window_s)
    return (f"sum by (namespace) (increase({failed}[{w}])) > 0 or "
            f"sum by (namespace) ({failed} unless {failed} offset {w}) > 0")


def replica_changes(scope: OperatorScope, window_s: int = 60) -> str:
    """Non-empty where the desired replica count changed within the window (scale-event annotations)."""
    return f"sum(changes({OperatorMetric.DESIRED_REPLICAS}{scope.matchers()}[{window(window_s)}])) > 0"
