"""Real Triton under load, scraped by real Prometheus: the signals read as the model says they should.

A CPU model takes 100 ms per batch of at most 2, so its capacity is ~20 req/s; eight closed-loop
clients keep ~6 requests queued. The scaler's queries, run through the real client, must see a queue,
an arrival rate near what the clients achieved, a 100 ms execution and batches of ~2 — and the decision
must scale up against a 10 ms queue target.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from diffusion_operator.api.conditions import Reason
from diffusion_operator.autoscaling import History, ScalingPolicy, decide
from diffusion_operator.metrics.observe import SignalQueries, observe
from diffusion_operator.metrics.prometheus_client import PrometheusClient
from diffusion_operator.metrics.promql import TritonScope

from testbed.load import closed_loop
from testbed.prometheus import static_scrape

MODELS = Path(__file__).parent / "models"
CLIENTS = 8
WINDOW_S = 10


@pytest.mark.timeout(180)
def test_scaler_signals_from_a_loaded_triton(triton_factory, prometheus_factory) -> None:  # type: ignore[no-untyped-def]
    triton = triton_factory(MODELS)
    target = triton.metrics_url.removeprefix("http://").removesuffix("/metrics")
    prometheus = prometheus_factory([static_scrape("triton", [target], {"namespace": "prod", "pod": "sdxl-0",
                                                                         "diffusion_dev_service": "sdxl"})])
    stop, done = threading.Event(), []
    workers = [threading.Thread(target=closed_loop, args=(triton.http_url, "slow", stop),
                                kwargs={"done": done}) for _ in range(CLIENTS)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        time.sleep(WINDOW_S + 4)
        achieved = len(done) / (time.monotonic() - started)
        queries = SignalQueries.for_scope(TritonScope(namespace="prod", service="sdxl", model="slow"), WINDOW_S)

        async def read():  # type: ignore[no-untyped-def]
            async with PrometheusClient(prometheus.url, timeout_s=5) as prom:
                return await observe(prom, queries, current_replicas=1, ready_replicas=1)

        observation = asyncio.run(read())
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    assert observation.failure is None, observation.failure_detail
    assert observation.queue_latency_s is not None and observation.queue_latency_s > 0.05
    assert observation.arrival_rate == pytest.approx(achieved, rel=0.5)
    assert observation.service_time_s == pytest.approx(0.1, abs=0.05)
    assert observation.batch_size == pytest.approx(2.0, abs=0.3)
    policy = ScalingPolicy(min_replicas=1, max_replicas=10, queue_latency_target_s=0.01)
    decision = decide(observation, policy, History(), now=1_000_000.0)
    assert decision.reason == Reason.SCALED_UP and decision.replicas > 1
