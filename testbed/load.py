"""Closed-loop Triton clients for tests that need a queue: each sends its next request when the last returns."""

from __future__ import annotations

import threading

import numpy as np
import tritonclient.http as httpclient
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient


def closed_loop(url: str, model: str, stop: threading.Event, *, width: int = 4,
                done: list[int] | None = None) -> None:
    """Send ``INPUT`` (fp32, shape [1, width]) to ``model`` until ``stop``; append 1 to ``done`` per reply."""
    client = httpclient.InferenceServerClient(url)
    data = np.ones((1, width), dtype=np.float32)
    request = httpclient.InferInput("INPUT", list(data.shape), "FP32")
    request.set_data_from_numpy(data)
    while not stop.is_set():
        client.infer(model, [request])
        if done is not None:
            done.append(1)


class ImageTraffic:
    """Closed-loop ``sdxl`` requests from ``workers`` threads, each on a fresh connection per request.

    A fresh connection per request is what lets kube-proxy spread requests over the Service's pods
    (it balances connections, not requests), and it makes each request meet the Service as it is at
    that moment: a pod being removed must not take a single request down with it. Every failure is
    kept with its message, so a test can say which request failed and why.
    """

    def __init__(self, address: str, *, workers: int = 2, size: int = 256, timeout_s: float = 120) -> None:
        self.endpoint = Endpoint.parse(address)
        self.request = ImageRequest(prompt="a lighthouse at dawn", width=size, height=size)
        self.workers = workers
        self.timeout_s = timeout_s
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ImageTraffic:
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                client = TritonClient(self.endpoint, timeout_s=self.timeout_s)
                try:
                    client.generate(self.request)
                finally:
                    client.close()
            except Exception as err:  # every failure is a finding: keep it, keep going
                with self._lock:
                    self.failures.append(f"{type(err).__name__}: {err}")
            else:
                with self._lock:
                    self.ok += 1
