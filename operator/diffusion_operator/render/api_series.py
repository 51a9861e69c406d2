"""The OpenAI API's series at the edge: one home for the activator that exports them and the PromQL that reads them.

The activator (``activator/metrics.py``) is its own process and may not import
``diffusion_operator.metrics``; the PromQL builders (``metrics/api_promql.py``) must not import the
exporter. Both import these names, labels and buckets from here, as both share
``names.ACTIVATOR_HELD_METRIC``, so a rename is one edit and no panel or alert can query a series
nobody exports. Counters carry their ``_total`` (prometheus_client adds it when it exposes them).

Why the latency histogram has a ``code_class`` label (2xx, 4xx, 5xx) next to the counter's exact
``code``: the share of requests answered within a latency target must count only requests that got an
image within it. A 429 or a 401 is answered in microseconds, so without the class a key hammering its
rate limit, or a scanner without a key, would raise the share while clients got no images.
Three classes keep the histogram's series few (classes x keys x routes x buckets).
"""

from __future__ import annotations

from typing import Final


class ApiSeries:
    """The edge's series as Prometheus stores them (the collector in ``activator/metrics.ApiMetrics`` in brackets)."""

    #: Histogram (``_bucket``, ``_sum``, ``_count``) by route, key, code_class [latency].
    REQUEST_SECONDS: Final = "diffusion_api_request_duration_seconds"
    #: By route, key, code [requests].
    REQUESTS: Final = "diffusion_api_requests_total"
    #: By key [images].
    IMAGES: Final = "diffusion_api_images_total"
    #: By key: seconds held at the gate while no Triton pod was Ready [queue_wait].
    QUEUE_WAIT_SECONDS: Final = "diffusion_api_queue_wait_seconds_total"


def collector_name(series: str) -> str:
    """The name a prometheus_client ``Counter`` is created with: the series without ``_total``."""
    return series.removesuffix("_total")


ROUTE_LABEL: Final = "route"
KEY_LABEL: Final = "key"
CODE_LABEL: Final = "code"
CODE_CLASS_LABEL: Final = "code_class"
#: The key label of a request that presented no valid key (a Secret key name cannot contain parentheses).
NO_KEY: Final = "(none)"
#: The routes that make images (``activator/openai/routes``: generations, edits), as a regular expression:
#: latency and its share are about them, not about ``GET /v1/models``.
IMAGE_ROUTES: Final = "/v1/images/.+"

#: Seconds: from a cached tiny image to an SDXL 1024² at 50 steps behind a queue, and cold starts. A
#: latency target is one of these bounds: a classic histogram counts "within X" only at a bucket.
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0, 300.0,
                          600.0)


def code_class(code: int) -> str:
    """``503`` -> ``"5xx"``."""
    return f"{code // 100}xx"


def le_label(seconds: float) -> str:
    """A bucket bound as its ``le`` label reads (``30.0``, ``0.05``): Python's shortest repr, which is what
    prometheus_client writes for these bounds (a unit test compares) and the text Prometheus 3 normalises
    every scraped ``le`` to."""
    return repr(float(seconds))


#: The ``le`` values a latency target may take, in order.
LATENCY_TARGETS: Final = tuple(le_label(bound) for bound in LATENCY_BUCKETS)
