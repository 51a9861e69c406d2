"""The activator's Prometheus metrics, read from the gate at scrape time (no second count to drift).

``diffusion_activator_held_requests`` is the signal that wakes a service at zero
(``metrics.promql.activator_held_requests`` sums it over the activator's replicas); the counters say
what a client saw: refused at the queue limit, held past the deadline, answered "cannot start".
The service label is added by Prometheus from the pod's labels (the ServiceMonitor's
``podTargetLabels``), as for Triton's series.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from diffusion_operator.activator.gate import Gate
from diffusion_operator.render.names import ACTIVATOR_HELD_METRIC as HELD_REQUESTS


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
