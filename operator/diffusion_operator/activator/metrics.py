"""The activator's Prometheus metrics, read from the gate at scrape time (no second count to drift).

``diffusion_activator_held_requests`` is the signal that wakes a service at zero
(``metrics.promql.activator_held_requests`` sums it over the activator's replicas); the counters say
what a client saw: refused at the queue limit, held past the deadline, answered "cannot start".
The service label is added by Prometheus from the pod's labels (the ServiceMonitor's
``podTargetLabels``), as for Triton's series.

With the API on (``spec.api``), ``ApiMetrics`` measures it at the edge, as a client sees it, labelled
by the API key's *name* (never the key; ``(none)`` for a request that presented no valid key): the
end-to-end latency (a histogram by status class, so the share of images served within a target is a
2xx bucket over the count; ``render/api_series`` says why the class), status codes, images delivered,
and the seconds requests waited at the gate (held while no Triton pod was Ready) next to their total
seconds, whose ratio is the queue-wait share. The names, labels and buckets live in
``render/api_series``, which the dashboards' and alerts' PromQL reads too.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from diffusion_operator.activator.gate import Gate
from diffusion_operator.render.api_series import (
    CODE_CLASS_LABEL,
    CODE_LABEL,
    KEY_LABEL,
    LATENCY_BUCKETS,
    NO_KEY,
    ROUTE_LABEL,
    ApiSeries,
    code_class,
    collector_name,
)
from diffusion_operator.render.names import ACTIVATOR_HELD_METRIC as HELD_REQUESTS

__all__ = ["LATENCY_BUCKETS", "NO_KEY", "ApiMetrics", "GateCollector", "registry_for"]


class GateCollector(Collector):
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def collect(self) -> Iterator[Metric]:
        counters = self.gate.counters
        yield GaugeMetricFamily(HELD_REQUESTS, "Requests held while no Triton pod is Ready.", value=self.gate.held)
        yield GaugeMetricFamily("diffusion_activator_backend_ready", "1 while a Triton pod is Ready.",
                                value=1.0 if self.gate.is_open else 0.0)
        yield CounterMetricFamily("diffusion_activator_rejected_requests", "Requests refused at the queue limit (429).",
                                  value=counters.rejected)
        yield CounterMetricFamily("diffusion_activator_timed_out_requests", "Held requests past their deadline (504).",
                                  value=counters.timed_out)
        yield CounterMetricFamily("diffusion_activator_failed_to_start_requests",
                                  "Held requests answered with the reason the service's pods cannot start.",
                                  value=counters.failed_to_start)
        yield CounterMetricFamily("diffusion_activator_released_requests",
                                  "Held requests forwarded once a Triton pod was Ready.", value=counters.released)


def registry_for(gate: Gate) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GateCollector(gate))
    return registry


class ApiMetrics:
    """The API's series, registered in the activator's registry next to the gate's."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(ApiSeries.REQUEST_SECONDS,
                                 "End-to-end seconds per API request, as the client sees it, by status class.",
                                 [ROUTE_LABEL, KEY_LABEL, CODE_CLASS_LABEL], buckets=LATENCY_BUCKETS,
                                 registry=registry)
        self.requests = Counter(collector_name(ApiSeries.REQUESTS), "API requests answered, by status code.",
                                [ROUTE_LABEL, KEY_LABEL, CODE_LABEL], registry=registry)
        self.images = Counter(collector_name(ApiSeries.IMAGES), "Images delivered.", [KEY_LABEL], registry=registry)
        self.queue_wait = Counter(collector_name(ApiSeries.QUEUE_WAIT_SECONDS),
                                  "Seconds API requests waited at the activator's gate (no Triton pod Ready); "
                                  "over the latency histogram's sum: the queue-wait share.", [KEY_LABEL],
                                  registry=registry)

    def observe(self, route: str, key: str | None, code: int, seconds: float, *, images: int = 0,
                held_s: float = 0.0) -> None:
        name = key or NO_KEY
        self.latency.labels(route, name, code_class(code)).observe(seconds)
        self.requests.labels(route, name, str(code)).inc()
        if images:
            self.images.labels(name).inc(images)
        if held_s:
            self.queue_wait.labels(name).inc(held_s)
