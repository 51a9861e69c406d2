"""Closed-loop Triton clients for tests that need a queue: each sends its next request when the last returns."""

from __future__ import annotations

import threading

import numpy as np
import tritonclient.http as httpclient


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
