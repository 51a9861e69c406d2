"""Row "OpenAI API (edge)": the service as its API's clients see it (services with ``spec.api``).

Everything here is measured by the activator, end to end and per key name (``api_promql``): latency
quantiles of the images served, the share served within a latency target, requests by status code and
by key, images per key, the refusals a client can act on (401: no valid key; 429: over its key's
limits or the hold queue), and the shares of 5xx answers and of time held while no Triton pod was
Ready. Empty for a service without ``spec.api``. The autoscaler's own view is the "SLA" row above.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import timeseries

from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import api_promql as api

TITLE: Final = "OpenAI API (edge)"
TARGET_LEGEND: Final = "latency target"
#: The dashboard variable holding the latency target (one of the histogram's bounds; variables.py).
TARGET: Final = "$api_latency_target"


def latency() -> timeseries.Panel:
    return d.timeseries_panel(
        "API latency (edge)",
        "p50, p95 and p99 seconds from the request's arrival at the activator to its last byte, for image "
        "requests that got their images (2xx), all activator replicas merged (histogram buckets), and the "
        "latency target (variable, dashed). Includes time held at zero, Triton's queue and PNG encoding.",
        d.SECONDS,
        [(api.latency_quantile(d.EDGE, 0.5, d.WINDOW_S), "p50"),
         (api.latency_quantile(d.EDGE, 0.95, d.WINDOW_S), "p95"),
         (api.latency_quantile(d.EDGE, 0.99, d.WINDOW_S), "p99"),
         (api.latency_target_line(TARGET), TARGET_LEGEND)],
    ).override_by_name(TARGET_LEGEND, d.dashed_red(TARGET_LEGEND))


def within_target() -> timeseries.Panel:
    return d.timeseries_panel(
        "API requests within the latency target",
        "Share of the image requests the service owed an image (2xx and 5xx answers) that got it within the "
        "latency target: the SLA as the client sees it (DiffusionAPISLABreach watches it over 5 minutes). "
        "4xx answers are the client's own and are counted below.",
        d.RATIO,
        [(api.within_target_share(d.EDGE, TARGET, d.WINDOW_S), "within target")],
    ).max(1)


def by_code() -> timeseries.Panel:
    return d.timeseries_panel(
        "API requests by status code",
        "Requests answered per second by HTTP status, every route and key.",
        d.REQUESTS_PER_SECOND,
        [(api.request_rate(d.EDGE, d.WINDOW_S, by=("code",)), "{{code}}")],
        width=d.THIRD,
    )


def by_key() -> timeseries.Panel:
    return d.timeseries_panel(
        "API requests by key",
        "Requests answered per second by API key name (never the key); (none): requests without a valid key.",
        d.REQUESTS_PER_SECOND,
        [(api.request_rate(d.EDGE, d.WINDOW_S, by=("key",)), "{{key}}")],
        width=d.THIRD,
    )


def images_by_key() -> timeseries.Panel:
    return d.timeseries_panel(
        "Images per key",
        "Images delivered per second by API key name (a request with n > 1 delivers n).",
        d.REQUESTS_PER_SECOND,
        [(api.images_rate(d.EDGE, d.WINDOW_S, by=("key",)), "{{key}}")],
        width=d.THIRD,
    )


def refusals() -> timeseries.Panel:
    return d.timeseries_panel(
        "Refused: 401 and 429",
        "401: requests without a valid key (they reach no GPU). 429 by key: over the key's rate or concurrency "
        "limit, or the activator's hold queue full while the service starts; the client retries after Retry-After.",
        d.REQUESTS_PER_SECOND,
        [(api.request_rate(d.EDGE, d.WINDOW_S, code="401"), "401 no valid key"),
         (api.request_rate(d.EDGE, d.WINDOW_S, by=("key",), code="429"), "429 {{key}}")],
    )


def errors_and_waiting() -> timeseries.Panel:
    return d.timeseries_panel(
        "API 5xx share and time held at zero",
        "Share of keyed requests answered 5xx (Triton failing or unreachable, the service unable to start; "
        "DiffusionAPIServerErrors fires above 5 %), and share of image requests' seconds spent held at the "
        "activator while no Triton pod was Ready (scale from zero).",
        d.RATIO,
        [(api.server_error_share(d.EDGE, d.WINDOW_S), "5xx share"),
         (api.queue_wait_share(d.EDGE, d.WINDOW_S), "held at zero")],
    ).max(1)


def panels() -> list[timeseries.Panel]:
    return [latency(), within_target(), by_code(), by_key(), images_by_key(), refusals(), errors_and_waiting()]
