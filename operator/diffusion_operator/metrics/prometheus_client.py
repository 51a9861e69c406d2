"""The only module that speaks HTTP to Prometheus: instant queries with a timeout and typed errors.

Every way a query can fail becomes its own exception with a ``kind`` the autoscaler understands
(``MetricsFailure``), so "no data" is never silently read as 0 — KEDA's default, which lets an outage
scale a service down.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

import aiohttp

from diffusion_operator.autoscaling.observation import MetricsFailure

DEFAULT_TIMEOUT_S = 5.0
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


class PrometheusError(Exception):
    kind: ClassVar[MetricsFailure]

    def __init__(self, message: str, *, query: str) -> None:
        super().__init__(f"{message} (query: {query})")
        self.query = query
        self.detail = message


class PrometheusUnreachableError(PrometheusError):
    kind = MetricsFailure.UNREACHABLE


class PrometheusTimeoutError(PrometheusError):
    kind = MetricsFailure.TIMEOUT


class PrometheusHTTPError(PrometheusError):
    kind = MetricsFailure.HTTP_ERROR

    def __init__(self, status: int, body: str, *, query: str) -> None:
        super().__init__(f"HTTP {status}: {body[:_BODY_EXCERPT]}", query=query)
        self.status = status


class PrometheusBadResponseError(PrometheusError):
    """Not JSON, or JSON that is not a Prometheus API response."""

    kind = MetricsFailure.BAD_RESPONSE


class PrometheusQueryError(PrometheusError):
    """Prometheus answered ``status: error`` (bad PromQL, execution error, query timeout)."""

    kind = MetricsFailure.QUERY_ERROR

    def __init__(self, error_type: str, error: str, *, status: int, query: str) -> None:
        super().__init__(f"{error_type}: {error} (HTTP {status})", query=query)
        self.error_type = error_type
        self.status = status


class EmptyResultError(PrometheusError):
    kind = MetricsFailure.EMPTY_RESULT


class MultipleSeriesError(PrometheusError):
    kind = MetricsFailure.MULTIPLE_SERIES

    def __init__(self, count: int, *, query: str) -> None:
        super().__init__(f"{count} series where one was expected", query=query)
        self.count = count


class NonFiniteValueError(PrometheusError):
    kind = MetricsFailure.NON_FINITE

    def __init__(self, value: float, *, query: str) -> None:
        super().__init__(f"value is {value}", query=query)
        self.value = value


class PrometheusClient:
    """Async instant-query client. Use as ``async with PrometheusClient(url) as prom: ...``.

    ``timeout_s`` bounds the whole request and is also sent as Prometheus' own query ``timeout`` so the
    server gives up at the same time instead of working on an answer nobody waits for.
    """

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 headers: Mapping[str, str] | None = None, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = dict(headers or {})
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
            self._owns_session = True
        return self._session

    async def query(self, promql: str, *, at: float | None = None) -> list[Sample]:
        """All series of an instant query (a scalar result becomes one unlabelled sample)."""
        params = {"query": promql, "timeout": f"{self.timeout_s:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            async with self._client().get(f"{self.base_url}/api/v1/query", params=params,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as response:
                body = await response.text()
                status = response.status
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise PrometheusTimeoutError(f"no answer within {self.timeout_s:g}s", query=promql) from error
        except aiohttp.ClientPayloadError as error:
            raise PrometheusBadResponseError(f"broken response body: {error}", query=promql) from error
        except aiohttp.ClientError as error:
            raise PrometheusUnreachableError(f"{type(error).__name__}: {error}", query=promql) from error
        return _parse(status, body, promql)

    async def query_value(self, promql: str, *, at: float | None = None) -> float:
        """Exactly one finite value, or a typed error (empty, several series, NaN/Inf)."""
        samples = await self.query(promql, at=at)
        if not samples:
            raise EmptyResultError("no series matched", query=promql)
        if len(samples) > 1:
            raise MultipleSeriesError(len(samples), query=promql)
        value = samples[0].value
        if not math.isfinite(value):
            raise NonFiniteValueError(value, query=promql)
        return value


def _parse(status: int, body: str, query: str) -> list[Sample]:
    payload = _json(body)
    if isinstance(payload, dict) and payload.get("status") == "error":
        raise PrometheusQueryError(str(payload.get("errorType", "unknown")), str(payload.get("error", "")),
                                   status=status, query=query)
    if not 200 <= status < 300:
        raise PrometheusHTTPError(status, body, query=query)
    if payload is None:
        raise PrometheusBadResponseError(f"not JSON: {body[:_BODY_EXCERPT]!r}", query=query)
    try:
        if payload["status"] != "success":
            raise PrometheusBadResponseError(f"unexpected status {payload['status']!r}", query=query)
        data = payload["data"]
        kind = data["resultType"]
        result = data["result"]
        if kind == "vector":
            return [_sample(item["metric"], item["value"]) for item in result]
        if kind == "scalar":
            return [_sample({}, result)]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise PrometheusBadResponseError(f"malformed response: {error!r}", query=query) from error
    raise PrometheusBadResponseError(f"unsupported result type {kind!r} (want an instant vector)", query=query)


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _sample(labels: Any, pair: Any) -> Sample:
    timestamp, value = pair
    return Sample(labels={str(k): str(v) for k, v in dict(labels).items()}, value=float(value),
                  timestamp=float(timestamp))


async def gather_values(client: PrometheusClient, queries: Mapping[str, str], *,
                        at: float | None = None) -> dict[str, float | PrometheusError]:
    """Run several single-value queries concurrently; each result is a value or its typed error."""
    names = list(queries)
    results = await asyncio.gather(*(client.query_value(queries[name], at=at) for name in names),
                                   return_exceptions=True)
    out: dict[str, float | PrometheusError] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, PrometheusError | float):
            out[name] = result
        elif isinstance(result, BaseException):
            raise result
    return out
