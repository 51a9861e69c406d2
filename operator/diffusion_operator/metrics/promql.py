"""Every PromQL expression the project uses, built from a label scope. The one place PromQL is written.

The autoscaler, the Grafana dashboards and the alert rules all import these builders, so a person
looking at a panel sees exactly what the scaler saw.

Aggregation rules (why the expressions look the way they do):

* Ratios are ``sum(rate(numerator)) / clamp_min(sum(rate(denominator)), eps)`` over the whole service,
  never an average of per-pod ratios: a pod that served 1 request must not weigh as much as one that
  served 100. ``clamp_min`` keeps an idle window at 0 instead of NaN (0/0).
* Queue time is read from the model that actually queues (the UNet/denoise model or the BLS model):
  an ensemble's own queue counter stays ~0 (Triton docs; server#6494). The scope names that model,
  or several (a service serving two pipelines has two entry models): their sums then give the mean
  wait of a request over both kinds, each request counted once, at the model it entered by.
* Triton counters move when a request *completes* (server#5927): with multi-second SDXL requests a rate
  window lags. ``nv_inference_pending_request_count`` reacts at once and is the fast signal.
* Triton has no arrival counter; arrivals = completions + failures + growth of the pending gauge.
* Summary quantiles cannot be merged across pods; the fleet p95 is reported as the worst pod's p95
  (an upper bound) and is for dashboards only — it goes NaN when a pod is idle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from diffusion_operator.render.names import ACTIVATOR_HELD_METRIC, SERVICE_METRIC_LABEL

# Convert Triton's microsecond counters to seconds once, in the query, so every consumer sees seconds.
MICROSECONDS: Final = 1e6
# Denominator floor: small enough never to distort a real rate (1 request per ~30 years).
EPSILON: Final = "1e-9"

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RE2_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")


def _quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class TritonScope:
    """Which series belong to one DiffusionService's Triton pods.

    Assumes the ServiceMonitor copies the pod label ``diffusion.dev/service`` onto every sample as the
    target label ``diffusion_dev_service`` (``podTargetLabels``), and that Prometheus' Kubernetes SD
    adds ``namespace`` and ``pod``. If your Prometheus relabels differently, change ``service_label``
    (or pass ``pod_regex`` to scope by pod name instead). ``model`` is the Triton model that queues;
    with ``model_pattern`` it is a regular expression (several models, or a Grafana multi-value
    variable) matched with ``=~``. :meth:`of_models` builds either from a list of model names.
    """

    namespace: str
    service: str
    model: str
    service_label: str = SERVICE_METRIC_LABEL
    namespace_label: str = "namespace"
    pod_label: str = "pod"
    pod_regex: str | None = None
    extra_matchers: tuple[tuple[str, str], ...] = field(default=())
    model_pattern: bool = False

    @classmethod
    def of_models(cls, namespace: str, service: str, models: Sequence[str], **labels: Any) -> TritonScope:
        """One model matches exactly; several match as an anchored alternation of their literal names."""
        if not models:
            raise ValueError("at least one model is required")
        if len(set(models)) == 1:
            return cls(namespace, service, models[0], **labels)
        return cls(namespace, service, models_pattern(models), model_pattern=True, **labels)

    def model_matcher(self) -> str:
        return f"model{'=~' if self.model_pattern else '='}{_quote(self.model)}"

    def __post_init__(self) -> None:
        for name in (self.service_label, self.namespace_label, self.pod_label,
                     *(label for label, _ in self.extra_matchers)):
            if not _LABEL_NAME.match(name):
                raise ValueError(f"not a Prometheus label name: {name!r}")
        if not self.namespace or not self.service:
            raise ValueError("namespace and service are required")

    def matchers(self, *, with_model: bool = True) -> str:
        """``{namespace="…",diffusion_dev_service="…",model="…"}``; model omitted for GPU series."""
        parts = [f"{self.namespace_label}={_quote(self.namespace)}", f"{self.service_label}={_quote(self.service)}"]
        if self.pod_regex is not None:
            parts.append(f"{self.pod_label}=~{_quote(self.pod_regex)}")
        if with_model:
            parts.append(self.model_matcher())
        parts.extend(f"{label}={_quote(value)}" for label, value in self.extra_matchers)
        return "{" + ",".join(parts) + "}"


def models_pattern(models: Sequence[str]) -> str:
    """``a|b``: an RE2 alternation (Prometheus anchors it) of literal model names, sorted for stable text."""
    return "|".join(_RE2_SPECIAL.sub(r"\\\1", model) for model in sorted(set(models)))


def window(seconds: int) -> str:
    """A range-vector duration; whole seconds keep the strings stable and comparable in tests."""
    if seconds <= 0:
        raise ValueError("a window must be positive")
    return f"{seconds}s"


def _sum_rate(metric: str, scope: TritonScope, window_s: int) -> str:
    return f"sum(rate({metric}{scope.matchers()}[{window(window_s)}]))"


def _per_request(numerator: str, scope: TritonScope, window_s: int, denominator: str) -> str:
    return (f"{_sum_rate(numerator, scope, window_s)} / "
            f"clamp_min({_sum_rate(denominator, scope, window_s)}, {EPSILON})")


def queue_latency_seconds(scope: TritonScope, window_s: int = 60) -> str:
    """Average time a completed request waited in Triton's queue over the window (seconds)."""
    per_request = _per_request("nv_inference_queue_duration_us", scope, window_s, "nv_inference_request_success")
    return f"({per_request}) / {MICROSECONDS:g}"


def pending_requests(scope: TritonScope) -> str:
    """Requests waiting in the queue right now, summed over the service's pods (the fast signal)."""
    return f"sum(nv_inference_pending_request_count{scope.matchers()})"


def success_rate(scope: TritonScope, window_s: int = 60) -> str:
    """Completed requests per second."""
    return _sum_rate("nv_inference_request_success", scope, window_s)


def failure_rate(scope: TritonScope, window_s: int = 60) -> str:
    """Failed requests per second (all reasons)."""
    return _sum_rate("nv_inference_request_failure", scope, window_s)


def arrival_rate(scope: TritonScope, window_s: int = 60) -> str:
    """Requests arriving per second: completions + failures + growth of the pending queue.

    ``or vector(0)`` lets the failure term be absent (no failure has ever been recorded) without
    emptying the whole sum; the success and pending terms must be present.
    """
    return (f"{success_rate(scope, window_s)} + ({failure_rate(scope, window_s)} or vector(0)) + "
            f"sum(deriv(nv_inference_pending_request_count{scope.matchers()}[{window(window_s)}]))")


def service_seconds_per_request(scope: TritonScope, window_s: int = 60) -> str:
    """Time a request spends executing (request duration minus queue time), per completed request.

    For a batched execution every request in the batch reports the batch's duration, so divide by
    :func:`batch_size` to get the replica-seconds one request costs.
    """
    busy = (f"(sum(rate(nv_inference_request_duration_us{scope.matchers()}[{window(window_s)}])) - "
            f"sum(rate(nv_inference_queue_duration_us{scope.matchers()}[{window(window_s)}])))")
    return f"{busy} / clamp_min({success_rate(scope, window_s)}, {EPSILON}) / {MICROSECONDS:g}"


def compute_seconds_per_request(scope: TritonScope, window_s: int = 60) -> str:
    """Model execution time alone (``compute_infer``), per request; excludes input/output copies."""
    per_request = _per_request("nv_inference_compute_infer_duration_us", scope, window_s,
                               "nv_inference_request_success")
    return f"({per_request}) / {MICROSECONDS:g}"


def steps_per_request(scope: TritonScope, window_s: int = 60) -> str:
    """Denoising steps the pipeline ran per completed request (its ``diffusion_pipeline_steps_total``).

    Lower than ``spec.pipeline.steps`` while the overload speed tier serves fewer steps: the autoscaler
    scales the measured service time back to full steps with it.
    """
    return _per_request("diffusion_pipeline_steps_total", scope, window_s, "nv_inference_request_success")


def degraded_images_rate(scope: TritonScope, window_s: int = 60) -> str:
    """Images per second the overload speed tier served with fewer steps (``diffusion_degraded_images_total``)."""
    return _sum_rate("diffusion_degraded_images_total", scope, window_s)


def batch_size(scope: TritonScope, window_s: int = 60) -> str:
    """Average requests per model execution (1 when dynamic batching does not batch)."""
    return _per_request("nv_inference_count", scope, window_s, "nv_inference_exec_count")


def queue_p95_worst_pod_seconds(scope: TritonScope) -> str:
    """The highest per-pod p95 queue time from Triton's summaries (``summary_latencies=true``).

    Quantiles cannot be averaged or summed across pods, so this is the worst pod: an upper bound on
    the fleet's p95, for dashboards and alerts — not a scaling input (NaN when a pod is idle).
    """
    selector = scope.matchers()[:-1] + ',quantile="0.95"}'
    return f"max(nv_inference_queue_summary_us{selector}) / {MICROSECONDS:g}"


def gpu_utilization_triton(scope: TritonScope) -> str:
    """Mean GPU utilisation (0-1) as Triton reports it for the GPUs its pods use."""
    return f"avg(nv_gpu_utilization{scope.matchers(with_model=False)})"


def gpu_utilization_dcgm(namespace: str, pod_regex: str, *, namespace_label: str = "namespace",
                         pod_label: str = "pod") -> str:
    """Mean GPU utilisation (0-1) from NVIDIA's DCGM exporter (``DCGM_FI_DEV_GPU_UTIL`` is 0-100).

    The DCGM exporter is scraped on its own pods, so the serving pod appears in a label the exporter
    sets; with a ServiceMonitor that does not honour labels it is ``exported_pod``/``exported_namespace``.
    """
    for name in (namespace_label, pod_label):
        if not _LABEL_NAME.match(name):
            raise ValueError(f"not a Prometheus label name: {name!r}")
    return (f"avg(DCGM_FI_DEV_GPU_UTIL{{{namespace_label}={_quote(namespace)},"
            f"{pod_label}=~{_quote(pod_regex)}}}) / 100")


def activator_held_requests(namespace: str, service: str, *, service_label: str = SERVICE_METRIC_LABEL) -> str:
    """Requests the service's activator replicas hold while no Triton pod is Ready: the default wake-up
    signal of a service at zero (``spec.autoscaling.activation.query`` overrides it). Summed over
    replicas; the service label comes from the activator pods, as for Triton's series."""
    if not _LABEL_NAME.match(service_label):
        raise ValueError(f"not a Prometheus label name: {service_label!r}")
    return (f"sum({ACTIVATOR_HELD_METRIC}{{namespace={_quote(namespace)}, "
            f"{service_label}={_quote(service)}}})")


def pending_requests_by_pod(scope: TritonScope) -> str:
    """Requests queued in each Triton pod right now (``autoscaling.deletion_cost``: the busy ones stay)."""
    return f"sum by ({scope.pod_label}) (nv_inference_pending_request_count{scope.matchers()})"


def completed_requests_by_pod(scope: TritonScope, window_s: int = 60) -> str:
    """Requests each pod completed over the window: a pod that is executing has completed some lately,
    which Triton's pending gauge (queued only, not executing) does not show."""
    return f"sum by ({scope.pod_label}) (increase(nv_inference_request_success{scope.matchers()}[{window(window_s)}]))"
