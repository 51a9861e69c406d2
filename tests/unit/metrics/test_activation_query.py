"""The wake-up query of a service at zero: the activator's held count unless the spec overrides it."""

from __future__ import annotations

from typing import Any

from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.metrics.observe import SignalQueries, activation_query
from diffusion_operator.metrics.promql import activator_held_requests


def service(**autoscaling: Any) -> DiffusionService:
    return DiffusionService.model_validate({
        "metadata": {"name": "sdxl", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {"model": {"source": "builtin://tiny-sdxl"}, "autoscaling": {
            "enabled": True, "minReplicas": 0, "maxReplicas": 3, "queueLatencyTarget": "1s", **autoscaling}}})


def test_the_held_count_is_summed_over_the_activator_replicas_of_one_service():
    assert activator_held_requests("ns", "sdxl") == \
        'sum(diffusion_activator_held_requests{namespace="ns", diffusion_dev_service="sdxl"})'


def test_min_replicas_zero_alone_wakes_on_the_activator():
    assert activation_query(service()) == activator_held_requests("ns", "sdxl")
    assert SignalQueries.for_service(service(), 60).held == activator_held_requests("ns", "sdxl")


def test_a_query_in_the_spec_overrides_the_wake_up_signal_but_the_held_count_still_counts():
    queries = SignalQueries.for_service(service(activation={"query": "sum(gw_pending)"}), 60)
    assert queries.activation == "sum(gw_pending)"
    assert queries.held == activator_held_requests("ns", "sdxl")


def test_a_service_that_never_goes_to_zero_reads_no_activator():
    queries = SignalQueries.for_service(service(minReplicas=1), 60)
    assert queries.activation is None and queries.held is None
