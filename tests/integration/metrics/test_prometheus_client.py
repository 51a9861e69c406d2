"""The Prometheus client against a local HTTP server that answers with every failure mode."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from diffusion_operator.autoscaling import MetricsFailure
from diffusion_operator.metrics.observe import SignalQueries, observe
from diffusion_operator.metrics.prometheus_client import (
    EmptyResultError,
    MultipleSeriesError,
    NonFiniteValueError,
    PrometheusBadResponseError,
    PrometheusClient,
    PrometheusError,
    PrometheusHTTPError,
    PrometheusQueryError,
    PrometheusTimeoutError,
    PrometheusUnreachableError,
)


def vector(*values: str, labels: list[dict[str, str]] | None = None) -> dict[str, Any]:
    result = [{"metric": (labels or [{}] * len(values))[i], "value": [1700000000.0, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


ANSWERS: dict[str, tuple[int, str]] = {
    "one": (200, json.dumps(vector("2.5", labels=[{"pod": "a"}]))),
    "scalar": (200, json.dumps({"status": "success", "data": {"resultType": "scalar",
                                                               "result": [1700000000.0, "7"]}})),
    "empty": (200, json.dumps(vector())),
    "two": (200, json.dumps(vector("1", "2", labels=[{"pod": "a"}, {"pod": "b"}]))),
    "nan": (200, json.dumps(vector("NaN"))),
    "inf": (200, json.dumps(vector("+Inf"))),
    "-inf": (200, json.dumps(vector("-Inf"))),
    "html": (200, "<html>proxy error</html>"),
    "malformed": (200, json.dumps({"status": "success", "data": {"result": []}})),
    "matrix": (200, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}})),
    "bad_data": (400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"})),
    "unavailable": (503, "Service Unavailable"),
    "forbidden": (403, "forbidden"),
}


SEEN = web.AppKey("seen", list)


async def handler(request: web.Request) -> web.Response:
    query = request.query["query"]
    request.app[SEEN].append(dict(request.query))
    if query == "slow":
        await asyncio.sleep(2)
        return web.json_response(vector("1"))
    status, body = ANSWERS.get(query, ANSWERS["empty"])
    return web.Response(status=status, text=body, content_type="application/json")


def with_server(test: Callable[[str, list[dict[str, str]]], Awaitable[None]]) -> None:
    async def main() -> None:
        app = web.Application()
        app[SEEN] = []
        app.router.add_get("/api/v1/query", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await test(f"http://127.0.0.1:{port}", app[SEEN])
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_a_single_series_is_returned_with_its_labels_and_value() -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        async with PrometheusClient(url, timeout_s=2) as prom:
            [sample] = await prom.query("one", at=1700000000.0)
            assert (sample.labels, sample.value, sample.timestamp) == ({"pod": "a"}, 2.5, 1700000000.0)
            assert await prom.query_value("scalar") == 7.0
        assert seen[0]["time"] == "1700000000.000" and seen[0]["timeout"] == "2s"

    with_server(check)


@pytest.mark.parametrize(
    ("query", "error", "kind"),
    [
        ("empty", EmptyResultError, MetricsFailure.EMPTY_RESULT),
        ("two", MultipleSeriesError, MetricsFailure.MULTIPLE_SERIES),
        ("nan", NonFiniteValueError, MetricsFailure.NON_FINITE),
        ("inf", NonFiniteValueError, MetricsFailure.NON_FINITE),
        ("-inf", NonFiniteValueError, MetricsFailure.NON_FINITE),
        ("html", PrometheusBadResponseError, MetricsFailure.BAD_RESPONSE),
        ("malformed", PrometheusBadResponseError, MetricsFailure.BAD_RESPONSE),
        ("matrix", PrometheusBadResponseError, MetricsFailure.BAD_RESPONSE),
        ("bad_data", PrometheusQueryError, MetricsFailure.QUERY_ERROR),
        ("unavailable", PrometheusHTTPError, MetricsFailure.HTTP_ERROR),
        ("forbidden", PrometheusHTTPError, MetricsFailure.HTTP_ERROR),
        ("slow", PrometheusTimeoutError, MetricsFailure.TIMEOUT),
    ],
)
def test_each_failure_mode_raises_its_typed_error(query: str, error: type[PrometheusError],
                                                  kind: MetricsFailure) -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        # Only the slow case needs a short timeout; the others answer at once but must not be failed
        # by a busy 2-core machine that takes more than half a second to schedule the local server.
        async with PrometheusClient(url, timeout_s=0.5 if query == "slow" else 5.0) as prom:
            with pytest.raises(error) as raised:
                await prom.query_value(query)
        assert raised.value.kind is kind
        assert raised.value.query == query

    with_server(check)


def test_details_of_http_and_query_errors_are_kept() -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        async with PrometheusClient(url) as prom:
            with pytest.raises(PrometheusQueryError) as query_error:
                await prom.query("bad_data")
            with pytest.raises(PrometheusHTTPError) as http_error:
                await prom.query("unavailable")
        assert (query_error.value.error_type, query_error.value.status) == ("bad_data", 400)
        assert http_error.value.status == 503

    with_server(check)


def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects

    async def check() -> None:
        async with PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=2) as prom:
            with pytest.raises(PrometheusUnreachableError) as raised:
                await prom.query_value("up")
        assert raised.value.kind is MetricsFailure.UNREACHABLE

    asyncio.run(check())


QUERIES = SignalQueries(queue_latency="one", pending="scalar", arrival_rate="empty", service_time="nan",
                        batch_size="one")


def test_observe_folds_required_and_optional_signals() -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        async with PrometheusClient(url) as prom:
            observation = await observe(prom, QUERIES, current_replicas=3, ready_replicas=2)
        assert observation.failure is None
        assert (observation.queue_latency_s, observation.pending_requests) == (2.5, 7.0)
        assert observation.arrival_rate is None and observation.service_time_s is None  # empty, NaN: unknown
        assert observation.batch_size == 2.5 and observation.starting_replicas == 1

    with_server(check)


@pytest.mark.parametrize(("queue_latency", "kind"), [("empty", MetricsFailure.EMPTY_RESULT),
                                                     ("two", MetricsFailure.MULTIPLE_SERIES),
                                                     ("unavailable", MetricsFailure.HTTP_ERROR)])
def test_observe_reports_a_failed_required_signal(queue_latency: str, kind: MetricsFailure) -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        queries = SignalQueries(queue_latency=queue_latency, pending="scalar", arrival_rate="one",
                                service_time="one", batch_size="one")
        async with PrometheusClient(url) as prom:
            observation = await observe(prom, queries, current_replicas=3, ready_replicas=3)
        assert observation.failure is kind
        assert observation.failure_detail.startswith("queue_latency:")

    with_server(check)


def test_at_zero_replicas_only_the_activation_query_is_read() -> None:
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        async with PrometheusClient(url) as prom:
            silent = await observe(prom, QUERIES, current_replicas=0, ready_replicas=0)
            woken = await observe(prom, SignalQueries(**{**QUERIES.__dict__, "activation": "scalar"}),
                                  current_replicas=0, ready_replicas=0)
            quiet = await observe(prom, SignalQueries(**{**QUERIES.__dict__, "activation": "empty"}),
                                  current_replicas=0, ready_replicas=0)
        assert silent.pending_requests == 0.0 and woken.pending_requests == 7.0 and quiet.pending_requests == 0.0
        assert [s["query"] for s in seen] == ["scalar", "empty"]

    with_server(check)


def test_with_replicas_the_activators_held_count_adds_to_the_pending_count() -> None:
    """Pods are starting (or the last one left): requests wait at the activator, Triton sees none,
    and the service must not look idle."""
    async def check(url: str, seen: list[dict[str, str]]) -> None:
        async with PrometheusClient(url) as prom:
            held = await observe(prom, SignalQueries(**{**QUERIES.__dict__, "held": "scalar"}),
                                 current_replicas=1, ready_replicas=0)
            nothing_held = await observe(prom, SignalQueries(**{**QUERIES.__dict__, "held": "empty"}),
                                         current_replicas=1, ready_replicas=0)
        assert held.pending_requests == 14.0 and nothing_held.pending_requests == 7.0

    with_server(check)
