"""Every PromQL builder parses and evaluates in a real Prometheus (Debian's 2.42)."""

from __future__ import annotations

import asyncio

import pytest
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.prometheus_client import PrometheusClient
from diffusion_operator.metrics.promql import TritonScope

SCOPE = TritonScope(namespace="prod", service='sd"xl', model="unet", pod_regex="sdxl-.*")
BUILT = {
    "queue_latency_seconds": promql.queue_latency_seconds(SCOPE, 60),
    "pending_requests": promql.pending_requests(SCOPE),
    "success_rate": promql.success_rate(SCOPE),
    "failure_rate": promql.failure_rate(SCOPE),
    "arrival_rate": promql.arrival_rate(SCOPE),
    "service_seconds_per_request": promql.service_seconds_per_request(SCOPE),
    "compute_seconds_per_request": promql.compute_seconds_per_request(SCOPE),
    "batch_size": promql.batch_size(SCOPE),
    "queue_p95_worst_pod_seconds": promql.queue_p95_worst_pod_seconds(SCOPE),
    "gpu_utilization_triton": promql.gpu_utilization_triton(SCOPE),
    "gpu_utilization_dcgm": promql.gpu_utilization_dcgm("prod", "sdxl-.*"),
}


@pytest.fixture
def prometheus_url(prometheus_factory) -> str:  # type: ignore[no-untyped-def]
    return str(prometheus_factory([]).url)


def test_every_builder_is_valid_promql(prometheus_url: str) -> None:
    async def run() -> dict[str, int]:
        async with PrometheusClient(prometheus_url, timeout_s=5) as prom:
            return {name: len(await prom.query(query)) for name, query in BUILT.items()}

    # A parse error would raise PrometheusQueryError; with no targets every query is simply empty.
    assert asyncio.run(run()) == dict.fromkeys(BUILT, 0)
