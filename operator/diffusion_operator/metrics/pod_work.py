"""Read each Triton pod's work now (queued, recently completed) for ``autoscaling.deletion_cost``."""

from __future__ import annotations

from diffusion_operator.metrics import promql
from diffusion_operator.metrics.prometheus_client import PrometheusClient, PrometheusError, Sample


async def read_pod_work(client: PrometheusClient, scope: promql.TritonScope,
                        window_s: int) -> tuple[dict[str, float], dict[str, float]] | None:
    """(pending by pod, completed by pod); None when Prometheus cannot say (then no cost is written:
    the ReplicaSet controller's own order is no worse than a guess)."""
    try:
        pending = await client.query(promql.pending_requests_by_pod(scope))
        completed = await client.query(promql.completed_requests_by_pod(scope, window_s))
    except PrometheusError:
        return None

    def by_pod(samples: list[Sample]) -> dict[str, float]:
        return {s.labels.get(scope.pod_label, ""): s.value for s in samples if s.labels.get(scope.pod_label)}

    return by_pod(pending), by_pod(completed)
