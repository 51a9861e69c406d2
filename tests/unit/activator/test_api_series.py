"""The edge's series names, labels and buckets: what the activator exports is what the PromQL reads."""

from __future__ import annotations

import re

from diffusion_operator.activator.metrics import ApiMetrics
from diffusion_operator.activator.openai import routes
from diffusion_operator.render import api_series
from diffusion_operator.render.api_series import LATENCY_BUCKETS, LATENCY_TARGETS, ApiSeries
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString


def test_every_series_the_promql_names_is_exported_with_its_labels() -> None:
    registry = CollectorRegistry()
    ApiMetrics(registry).observe(routes.GENERATIONS, "alice", 503, 2.5, images=1, held_s=0.5)
    text = generate_latest(registry).decode()
    assert f'{ApiSeries.REQUESTS}{{code="503",key="alice",route="/v1/images/generations"}} 1.0' in text
    assert f'{ApiSeries.IMAGES}{{key="alice"}} 1.0' in text
    assert f'{ApiSeries.QUEUE_WAIT_SECONDS}{{key="alice"}} 0.5' in text
    assert (f'{ApiSeries.REQUEST_SECONDS}_bucket{{code_class="5xx",key="alice",le="3.0",'
            'route="/v1/images/generations"} 1.0') in text


def test_le_labels_read_as_prometheus_client_writes_them() -> None:
    assert tuple(floatToGoString(bound) for bound in LATENCY_BUCKETS) == LATENCY_TARGETS
    assert "30.0" in LATENCY_TARGETS and "0.05" in LATENCY_TARGETS


def test_the_image_routes_pattern_matches_the_image_routes_only() -> None:
    image_routes = re.compile(f"^(?:{api_series.IMAGE_ROUTES})$")
    assert image_routes.match(routes.GENERATIONS) and image_routes.match(routes.EDITS)
    assert not image_routes.match(routes.MODELS)


def test_status_classes() -> None:
    assert [api_series.code_class(code) for code in (200, 401, 429, 503)] == ["2xx", "4xx", "4xx", "5xx"]
