"""Endpoints come from status.endpoints (optionally re-pointed); status rows show what the operator wrote."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from diffusion_operator.client.endpoints import endpoint_from_status, parse_resolve
from diffusion_operator.client.errors import NotFoundError, UsageError
from diffusion_operator.client.status_rows import age, conditions_lines, row
from diffusion_operator.client.triton import Endpoint

STATUS = {"phase": "Ready", "endpoints": {"http": "http://tiny.demo.svc:8000", "grpc": "tiny.demo.svc:8001"}}


def test_the_published_endpoint_is_used_as_is_for_each_protocol():
    assert endpoint_from_status(STATUS, "http", "tiny") == Endpoint("tiny.demo.svc:8000", "http")
    assert endpoint_from_status(STATUS, "grpc", "tiny") == Endpoint("tiny.demo.svc:8001", "grpc")


def test_resolve_re_points_an_in_cluster_name_like_curls_resolve():
    mapping = parse_resolve(["tiny.demo.svc:8000=127.0.0.1:4321"])
    assert endpoint_from_status(STATUS, "http", "tiny", mapping) == Endpoint("127.0.0.1:4321", "http")
    assert endpoint_from_status(STATUS, "grpc", "tiny", mapping) == Endpoint("tiny.demo.svc:8001", "grpc")
    with pytest.raises(UsageError, match="HOST:PORT=ADDR:PORT"):
        parse_resolve(["tiny.demo.svc=127.0.0.1"])


def test_a_service_without_endpoints_yet_says_so_with_its_phase():
    with pytest.raises(NotFoundError, match=r"no http endpoint yet \(phase Building\)"):
        endpoint_from_status({"phase": "Building"}, "http", "tiny")


@pytest.mark.parametrize(("url", "expected"), [
    ("127.0.0.1:8000", Endpoint("127.0.0.1:8000", "http")),
    ("http://host:8000/", Endpoint("host:8000", "http")),
    ("grpc://host:8001", Endpoint("host:8001", "grpc")),
])
def test_a_url_may_carry_its_protocol_as_a_scheme(url: str, expected: Endpoint):
    assert Endpoint.parse(url) == expected


def test_a_scheme_the_client_cannot_speak_is_a_usage_error():
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        Endpoint.parse("https://triton.example.com:443")


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_a_status_row_shows_phase_engine_replicas_queue_and_age():
    obj = {"metadata": {"name": "tiny", "namespace": "demo", "creationTimestamp": "2026-01-01T11:57:00Z"},
           "spec": {"autoscaling": {"enabled": True, "queueLatencyTarget": "500ms"}},
           "status": {"phase": "Ready", "engine": {"state": "Succeeded", "cacheKey": "sdxl-abc"},
                      "readyReplicas": 2, "desiredReplicas": 3, "queue": "120ms/500ms",
                      "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": "ok"}]}}
    assert row(obj, NOW) == ("demo", "tiny", "Ready", "Succeeded sdxl-abc", "2/3", "120ms/500ms", "3m")
    assert conditions_lines(obj) == ["Ready=True (Serving): ok"]


def test_a_fresh_object_shows_pending_and_dashes_not_guesses():
    obj = {"metadata": {"name": "new", "namespace": "demo"},
           "spec": {"autoscaling": {"enabled": True, "queueLatencyTarget": "2s"}}}
    assert row(obj, NOW) == ("demo", "new", "Pending", "-", "-", "-/2s", "-")


@pytest.mark.parametrize(("created", "expected"), [
    ("2026-01-01T11:59:15Z", "45s"), ("2026-01-01T11:00:00Z", "60m"), ("2026-01-01T09:00:00Z", "3h"),
    ("2025-12-29T12:00:00Z", "3d"),
])
def test_age_reads_like_kubectls(created: str, expected: str):
    assert age(created, NOW) == expected
