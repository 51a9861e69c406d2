"""A service serving two pipelines is judged on the mean wait of all its requests, in real Prometheus.

Real Triton serves two copies of the 100 ms ``slow`` model under the entry-model names ``sdxl`` and
``sdxl-photoshoot``. Eight clients load the photoshoot model (a queue builds) and one loads ``sdxl``
(no queue). The per-service selector the autoscaler builds from ``spec.pipelines`` must read
(queue time of both) / (requests of both), evaluated at one instant, while a text2image-only service
sees only ``sdxl``'s queue and a photoshoot-only one only its own.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.promql import TritonScope
from diffusion_operator.metrics.queue_models import queue_models

from testbed.load import closed_loop
from testbed.prometheus import static_scrape

SLOW = Path(__file__).parent / "models" / "slow"
WINDOW_S = 10


def repository(root: Path) -> Path:
    for name in queue_models(["text2image", "photoshoot"]):
        model = root / name
        shutil.copytree(SLOW, model, ignore=shutil.ignore_patterns("__pycache__"))
        config = (model / "config.pbtxt").read_text().replace('name: "slow"', f'name: "{name}"')
        (model / "config.pbtxt").write_text(config)
    return root


def _value(prometheus, expr: str, at: float) -> float:  # type: ignore[no-untyped-def]
    (sample,) = prometheus.query(expr, at=at)
    return float(sample["value"][1])


@pytest.mark.timeout(180)
def test_a_two_pipeline_service_reads_the_mean_wait_of_both_entry_models(  # type: ignore[no-untyped-def]
        tmp_path: Path, triton_factory, prometheus_factory) -> None:
    triton = triton_factory(repository(tmp_path / "models"))
    target = triton.metrics_url.removeprefix("http://").removesuffix("/metrics")
    prometheus = prometheus_factory([static_scrape("triton", [target], {"namespace": "shop", "pod": "shots-0",
                                                                         "diffusion_dev_service": "shots"})])
    stop = threading.Event()
    workers = [threading.Thread(target=closed_loop, args=(triton.http_url, "sdxl-photoshoot", stop)) for _ in range(8)]
    workers.append(threading.Thread(target=closed_loop, args=(triton.http_url, "sdxl", stop)))
    for worker in workers:
        worker.start()
    try:
        time.sleep(WINDOW_S + 4)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    at = time.time() - 1  # a scraped instant inside the loaded window

    def latency(pipelines: list[str]) -> float:
        scope = TritonScope.of_models("shop", "shots", queue_models(pipelines))
        return _value(prometheus, promql.queue_latency_seconds(scope, WINDOW_S), at)

    def summed(metric: str, model: str) -> float:
        return _value(prometheus, f'sum(rate({metric}{{diffusion_dev_service="shots",model="{model}"}}'
                                  f'[{WINDOW_S}s]))', at)

    waited = {m: summed("nv_inference_queue_duration_us", m) for m in ("sdxl", "sdxl-photoshoot")}
    served = {m: summed("nv_inference_request_success", m) for m in ("sdxl", "sdxl-photoshoot")}
    assert all(served.values()), served

    text2image, photoshoot = latency(["text2image"]), latency(["photoshoot"])
    both = latency(["text2image", "photoshoot"])
    assert text2image == pytest.approx(waited["sdxl"] / served["sdxl"] / 1e6)
    assert photoshoot == pytest.approx(waited["sdxl-photoshoot"] / served["sdxl-photoshoot"] / 1e6)
    assert both == pytest.approx(sum(waited.values()) / sum(served.values()) / 1e6)
    # Eight clients on one 100 ms model queue; one client alone does not.
    assert photoshoot > 0.1 > text2image
    assert text2image < both < photoshoot
