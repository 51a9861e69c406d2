"""Build the autoscaler's Observation from Prometheus: the edge between the metrics and the decision.

Queue latency and the pending count are required: if either cannot be read the observation is a
failure of that kind and the decision holds the fleet. Arrival rate, service time and batch size only
sharpen the estimate; when they fail the decision falls back to the latency signals.

At zero replicas no Triton pod exports anything, so the Triton series are legitimately empty. Waking
needs a signal from in front of Triton: the activator's held count by default (``minReplicas: 0``),
or the spec's ``activation.query``. With replicas, what is held there is added to Triton's pending
count, so a service whose pods are still starting never looks idle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from diffusion_operator.api.resource import DiffusionService
from diffusion_operator.autoscaling.observation import Observation
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.prometheus_client import (
    EmptyResultError,
    PrometheusClient,
    PrometheusError,
    gather_values,
)
from diffusion_operator.metrics.queue_models import queue_models

REQUIRED = ("queue_latency", "pending")


@dataclass(frozen=True)
class SignalQueries:
    queue_latency: str
    pending: str
    arrival_rate: str
    service_time: str
    batch_size: str
    activation: str | None = None
    steps_per_request: str | None = None  # the pipeline's steps counter (the speed tier's correction)
    #: The activator's held count (services with ``minReplicas: 0``), added to the pending count.
    held: str | None = None

    @classmethod
    def for_scope(cls, scope: promql.TritonScope, window_s: int = 60,
                  activation_query: str | None = None) -> SignalQueries:
        return cls(
            queue_latency=promql.queue_latency_seconds(scope, window_s),
            pending=promql.pending_requests(scope),
            arrival_rate=promql.arrival_rate(scope, window_s),
            service_time=promql.service_seconds_per_request(scope, window_s),
            batch_size=promql.batch_size(scope, window_s),
            activation=activation_query,
            steps_per_request=promql.steps_per_request(scope, window_s),
        )

    @classmethod
    def for_service(cls, service: DiffusionService, window_s: int, queue_model: str | None = None) -> SignalQueries:
        """The queries for one service's entry models (``queue_model``: the operator's override)."""
        ref, spec = service.ref, service.spec.autoscaling
        scope = service_scope(service, queue_model)
        queries = cls.for_scope(scope, window_s, activation_query=activation_query(service))
        if spec.min_replicas == 0:
            queries = replace(queries, held=promql.activator_held_requests(ref.namespace, ref.name))
        return queries


def service_scope(service: DiffusionService, queue_model: str | None = None) -> promql.TritonScope:
    """The Triton series of one service's entry models (``queue_model``: the operator's override)."""
    ref = service.ref
    return promql.TritonScope.of_models(ref.namespace, ref.name,
                                        queue_models(service.spec.pipelines, override=queue_model))


def activation_query(service: DiffusionService) -> str | None:
    """What wakes the service at zero: the spec's query, else (``minReplicas: 0``) the activator's held count."""
    spec = service.spec.autoscaling
    if spec.activation is not None and spec.activation.query is not None:
        return spec.activation.query
    if spec.min_replicas == 0:
        return promql.activator_held_requests(service.ref.namespace, service.ref.name)
    return None


async def observe(client: PrometheusClient, queries: SignalQueries, *, current_replicas: int,
                  ready_replicas: int, at: float | None = None) -> Observation:
    """Read all signals concurrently and fold them into one Observation (never raises PrometheusError)."""
    if current_replicas == 0:
        return await _observe_at_zero(client, queries, at)
    signals = {
        "queue_latency": queries.queue_latency,
        "pending": queries.pending,
        "arrival_rate": queries.arrival_rate,
        "service_time": queries.service_time,
        "batch_size": queries.batch_size,
    }
    if queries.steps_per_request is not None:
        signals["steps_per_request"] = queries.steps_per_request
    if queries.held is not None:
        signals["held"] = queries.held
    values = await gather_values(client, signals, at=at)
    for name in REQUIRED:
        value = values[name]
        if isinstance(value, PrometheusError):
            return Observation.failed(value.kind, f"{name}: {value.detail}", current_replicas, ready_replicas)

    def optional(name: str) -> float | None:
        value = values.get(name)
        return None if isinstance(value, PrometheusError) else value

    def required(name: str) -> float:
        value = values[name]
        assert not isinstance(value, PrometheusError)
        return value

    return Observation(
        current_replicas=current_replicas,
        ready_replicas=ready_replicas,
        queue_latency_s=required("queue_latency"),
        pending_requests=required("pending") + _held(values.get("held")),
        arrival_rate=optional("arrival_rate"),
        service_time_s=optional("service_time"),
        batch_size=optional("batch_size"),
        steps_per_request=optional("steps_per_request"),
    )


def _held(value: float | PrometheusError | None) -> float:
    """Requests held in front of Triton count as pending: while pods start (or the last one left) the
    activator holds them, Triton sees none, and the service must not look idle and go to zero.
    An empty result is the activator's normal state (nothing held); another failure reads as 0 too,
    since Triton's own pending count, required above, already guards the decision."""
    return value if isinstance(value, float) else 0.0


async def _observe_at_zero(client: PrometheusClient, queries: SignalQueries, at: float | None) -> Observation:
    if queries.activation is None:
        return Observation(current_replicas=0, ready_replicas=0, queue_latency_s=0.0, pending_requests=0.0)
    try:
        pending = await client.query_value(queries.activation, at=at)
    except EmptyResultError:
        pending = 0.0  # the activator exports nothing until a request arrives
    except PrometheusError as error:
        return Observation.failed(error.kind, f"activation: {error.detail}", 0, 0)
    return Observation(current_replicas=0, ready_replicas=0, queue_latency_s=0.0, pending_requests=pending)
