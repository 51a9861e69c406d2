"""Shared pieces of the fault-injection suite: a Prometheus whose answers the test controls, and a
recorder for the figures docs/reliability.md's table quotes (recovery times, memory)."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from diffusion_operator.metrics.observe import SignalQueries
from diffusion_operator.metrics.promql import TritonScope

from testbed.processes import free_port
from tests.e2e.support import service

#: `make faults` points this at bench/results/faults; otherwise figures go to the test's tmp dir.
RESULTS_ENV = "FAULTS_RESULTS"


class FaultyPrometheus:
    """Prometheus's instant-query API with a switchable fault.

    ``mode`` is one of: ok (answer ``values[query]``), http500, slow (answer after ``delay_s``), empty,
    nan, inf, multi (two series), down (the port is closed). Every fault is what a real Prometheus
    or the path to it can do; the operator must hold replicas through all of them.
    """

    MODES = ("ok", "http500", "slow", "empty", "nan", "inf", "multi", "down")

    def __init__(self) -> None:
        self.port = free_port()
        self.mode = "ok"
        self.values: dict[str, float] = {}
        self.delay_s = 3.0
        self.queries = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, query: str) -> tuple[int, dict[str, Any]]:
        self.queries += 1
        if self.mode == "http500":
            return 500, {"status": "error", "errorType": "internal", "error": "injected 500"}
        if self.mode == "slow":
            time.sleep(self.delay_s)
        sample = [time.time(), "0"]
        if self.mode == "empty":
            return 200, _vector([])
        if self.mode in ("nan", "inf"):
            return 200, _vector([{"metric": {}, "value": [sample[0], "NaN" if self.mode == "nan" else "+Inf"]}])
        if self.mode == "multi":
            return 200, _vector([{"metric": {"pod": p}, "value": [sample[0], "1"]} for p in ("a", "b")])
        value = self.values.get(query)
        if value is None:
            return 200, _vector([])
        return 200, _vector([{"metric": {}, "value": [sample[0], _fmt(value)]}])

    def start(self) -> None:
        prometheus = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, query: str) -> None:
                status, body = prometheus.answer(query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply(parse_qs(urlparse(self.path).query).get("query", [""])[0])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._reply(parse_qs(self.rfile.read(length).decode()).get("query", [""])[0])

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_mode(self, mode: str) -> None:
        assert mode in self.MODES, mode
        if mode == "down":
            self.stop()
        elif self._server is None:
            self.start()
        self.mode = mode


def _fmt(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def _vector(result: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class Figures:
    """Figures a fault case measured, merged into ``<results>/<case>.json`` for docs/reliability.md's table."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def record(self, case: str, **figures: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{case}.json"
        current = json.loads(path.read_text()) if path.exists() else {}
        current.update(figures)
        path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


#: What Triton would report under load and when idle, for one service (seconds, requests, requests/s).
BUSY = {"queue_latency": 5.0, "pending": 40.0, "arrival_rate": 4.0, "service_time": 1.0, "batch_size": 1.0}
IDLE = {"queue_latency": 0.0, "pending": 0.0, "arrival_rate": 0.05, "service_time": 1.0, "batch_size": 1.0}


def signal_values(namespace: str, service: str, signals: dict[str, float]) -> dict[str, float]:
    """Answers keyed by the exact PromQL the operator sends (its own query builder, default window)."""
    queries = SignalQueries.for_scope(TritonScope(namespace=namespace, service=service, model="sdxl"), 60)
    return {getattr(queries, name): value for name, value in signals.items()}


def autoscaled(name: str, namespace: str, prometheus_url: str, *, max_replicas: int = 4,
               down_window_s: int = 0) -> dict[str, Any]:
    """A service the operator autoscales from ``prometheus_url``, quick to scale both ways."""
    return service(name, namespace, autoscaling={
        "enabled": True, "minReplicas": 1, "maxReplicas": max_replicas, "queueLatencyTarget": "1s",
        "prometheus": {"url": prometheus_url},
        "scaleDown": {"stabilizationWindowSeconds": down_window_s,
                      "policies": [{"type": "Pods", "value": 4, "periodSeconds": 1}]},
        "fallback": {"failureThreshold": 2},
    })


#: Operator settings for autoscaler fault cases: a tick a second, a 1 s Prometheus timeout.
FAST_AUTOSCALER = {"DIFFUSION_AUTOSCALE_INTERVAL_SECONDS": "1", "DIFFUSION_PROMETHEUS_TIMEOUT_SECONDS": "1"}
