"""The activator in front of a real Triton: it holds while Triton is away, forwards once it is Ready,
and refuses floods and late requests with messages a person can act on. HTTP and gRPC both."""

from __future__ import annotations

import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from testbed.triton import TritonServer


def echo_http(url: str, value: float, timeout: float = 60) -> np.ndarray:
    client = httpclient.InferenceServerClient(url, connection_timeout=timeout, network_timeout=timeout)
    try:
        tensor = httpclient.InferInput("INPUT", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.full((1, 4), value, dtype=np.float32))
        return client.infer("echo", [tensor]).as_numpy("OUTPUT")
    finally:
        client.close()


def echo_grpc(url: str, value: float, timeout: float = 60) -> np.ndarray:
    client = grpcclient.InferenceServerClient(url)
    try:
        tensor = grpcclient.InferInput("INPUT", [1, 4], "FP32")
        tensor.set_data_from_numpy(np.full((1, 4), value, dtype=np.float32))
        return client.infer("echo", [tensor], client_timeout=timeout).as_numpy("OUTPUT")
    finally:
        client.close()


def metric(running, name: str) -> float:
    with urllib.request.urlopen(running.metrics_url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exported")


def wait_held(running, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while running.held() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.held() == count, f"held {running.held()}, expected {count}"


def test_requests_sent_while_triton_is_away_are_held_then_answered_over_http_and_grpc(
        activator_factory, backend: TritonServer):
    running = activator_factory()
    with ThreadPoolExecutor(8) as pool:
        http = [pool.submit(echo_http, running.http_url, float(i)) for i in range(4)]
        grpc = [pool.submit(echo_grpc, running.grpc_url, float(10 + i)) for i in range(4)]
        wait_held(running, 8)
        assert metric(running, "diffusion_activator_held_requests") == 8
        assert not any(f.done() for f in http + grpc), "nothing may be answered before Triton is Ready"
        backend.start()
        results = [f.result(timeout=60) for f in http + grpc]
    assert [float(r[0][0]) for r in results] == [2.0 * v for v in (0, 1, 2, 3, 10, 11, 12, 13)]
    assert metric(running, "diffusion_activator_held_requests") == 0
    assert metric(running, "diffusion_activator_released_requests_total") >= 8


def test_with_triton_ready_requests_pass_straight_through(activator_factory, backend: TritonServer):
    backend.start()
    running = activator_factory()
    time.sleep(0.5)  # the first probe opens the gate
    assert float(echo_http(running.http_url, 3.0)[0][0]) == 6.0
    assert float(echo_grpc(running.grpc_url, 4.0)[0][0]) == 8.0
    with urllib.request.urlopen(f"http://{running.http_url}/v2/models/echo", timeout=5) as response:
        assert b'"name":"echo"' in response.read()
    assert metric(running, "diffusion_activator_held_requests") == 0


def test_a_flood_at_zero_is_bounded_by_the_queue_limit_with_429s(activator_factory):
    running = activator_factory(queue_limit=5, deadline_s=3.0)
    body = b"x" * (1024 * 1024)  # 1 MiB each: a refused request's body is never buffered
    started = time.monotonic()

    def post() -> tuple[int, str]:
        request = urllib.request.Request(f"http://{running.http_url}/v2/models/echo/infer", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: post(), range(40)))
    codes = sorted(code for code, _ in results)
    assert codes.count(429) == 35 and codes.count(504) == 5, codes
    refused = next(text for code, text in results if code == 429)
    assert "test/echo" in refused and "queue limit" in refused and "retry" in refused
    assert metric(running, "diffusion_activator_rejected_requests_total") == 35
    assert time.monotonic() - started < 15


def test_a_request_held_past_its_deadline_names_the_service_and_the_cold_start(activator_factory):
    running = activator_factory(deadline_s=1.5)
    with pytest.raises(InferenceServerException) as http_error:
        echo_http(running.http_url, 1.0)
    message = str(http_error.value)
    assert "test/echo" in message and "did not become ready" in message and "cold start has lasted" in message
    with pytest.raises(InferenceServerException) as grpc_error:
        echo_grpc(running.grpc_url, 1.0)
    assert "DEADLINE_EXCEEDED" in str(grpc_error.value) and "test/echo" in str(grpc_error.value)
    assert metric(running, "diffusion_activator_timed_out_requests_total") == 2


def test_held_requests_left_at_shutdown_get_a_retryable_error(activator_factory):
    running = activator_factory(drain_s=0.5)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(echo_http, running.http_url, 1.0)
        wait_held(running, 1)
        running.stop()
        with pytest.raises(InferenceServerException) as error:
            held.result(timeout=30)
    assert "shutting down" in str(error.value) and "retry" in str(error.value)


def test_over_grpc_a_request_beyond_the_limit_is_refused_resource_exhausted(activator_factory):
    running = activator_factory(queue_limit=1, deadline_s=3.0)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(echo_grpc, running.grpc_url, 1.0)
        wait_held(running, 1)
        with pytest.raises(InferenceServerException) as refused:
            echo_grpc(running.grpc_url, 2.0)
        with pytest.raises(InferenceServerException):
            held.result(timeout=30)  # no Triton ever came: the held one times out
    assert "RESOURCE_EXHAUSTED" in str(refused.value) and "queue limit" in str(refused.value)
