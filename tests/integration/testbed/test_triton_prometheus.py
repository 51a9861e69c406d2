"""Real Triton answers a tritonclient inference and real Prometheus scrapes its queue metric."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

from testbed.prometheus import static_scrape

MODELS = Path(__file__).parent / "models"


def test_triton_answers_an_inference_and_prometheus_scrapes_its_queue_metric(
    triton_factory, prometheus_factory
):
    triton = triton_factory(MODELS)
    client = httpclient.InferenceServerClient(triton.http_url)
    assert client.is_model_ready("echo")

    data = np.arange(6, dtype=np.float32).reshape(1, 6)
    request = httpclient.InferInput("INPUT", list(data.shape), "FP32")
    request.set_data_from_numpy(data)
    result = client.infer("echo", [request])
    np.testing.assert_array_equal(result.as_numpy("OUTPUT"), data * 2)

    prometheus = prometheus_factory(
        [static_scrape("triton", [triton.metrics_url.removeprefix("http://").removesuffix("/metrics")],
                       {"namespace": "testbed", "pod": "triton-0"})]
    )
    deadline = time.monotonic() + 30
    series: list = []
    while time.monotonic() < deadline and not series:
        series = prometheus.query('nv_inference_queue_duration_us{model="echo"}')
        time.sleep(0.5)
    assert series, f"no queue metric scraped; targets: {prometheus.targets_up()}"
    assert series[0]["metric"]["pod"] == "triton-0"
    success = prometheus.query('nv_inference_request_success{model="echo"}')
    assert float(success[0]["value"][1]) >= 1
