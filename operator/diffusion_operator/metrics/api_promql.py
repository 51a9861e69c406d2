"""PromQL over the OpenAI API's edge series (``render/api_series``): what the client saw, per service.

The dashboards' "OpenAI API (edge)" row and the API alerts both build from here. The series come
from the activator's pods, which carry the service label as Triton's do (the activator's
ServiceMonitor copies it with ``podTargetLabels``), so one :class:`EdgeScope` selects one service's
activator replicas and :func:`fleet_scope` every service's, for alert rules that
``operator_promql.per_service`` groups per service.

Conventions, those of ``promql`` with one difference: a ratio's denominator is ``(... > 0)`` rather
than ``clamp_min``. An idle API has no latency share and no error share; a ``clamp_min`` would make
its share 0, which an alert on "share below target" would read as every request late. Numerators
that may never have been exported (no 5xx yet, no request ever held) are completed with
``or <denominator> * 0``, so a service with traffic and no such event reads 0, not nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from diffusion_operator.metrics.operator_metrics import bucket
from diffusion_operator.metrics.promql import _LABEL_NAME, _quote, window
from diffusion_operator.render.api_series import (
    CODE_CLASS_LABEL,
    CODE_LABEL,
    IMAGE_ROUTES,
    KEY_LABEL,
    LATENCY_TARGETS,
    NO_KEY,
    ROUTE_LABEL,
    ApiSeries,
)
from diffusion_operator.render.names import SERVICE_METRIC_LABEL

#: Served images: the class whose latency is the SLA.
SERVED: Final = "2xx"
#: What the service owes an answer to and did not give (the denominator of the latency share adds
#: them): 4xx are the client's own (no key, a bad body, over its key's limit) and have their panels.
FAILED: Final = "5xx"
#: A dashboard variable (``$api_latency_target``) or a placeholder a template fills in (the chart's
#: PrometheusRule: ``__API_LATENCY_TARGET__``), where a bound is chosen at install time.
_CHOSEN_LATER = re.compile(r"^(\$\w+|__[A-Z_]+__)$")


@dataclass(frozen=True)
class EdgeScope:
    """One DiffusionService's activator series (``namespace``, ``diffusion_dev_service``); ``regex``
    matches both with ``=~`` (the fleet form)."""

    namespace: str
    service: str
    service_label: str = SERVICE_METRIC_LABEL
    regex: bool = False

    def __post_init__(self) -> None:
        if not _LABEL_NAME.match(self.service_label):
            raise ValueError(f"not a Prometheus label name: {self.service_label!r}")
        if not self.namespace or not self.service:
            raise ValueError("namespace and service are required")

    def matchers(self, *extra: str) -> str:
        """``{namespace="…",diffusion_dev_service="…",<extra>}``; each extra is a ready matcher."""
        op = "=~" if self.regex else "="
        parts = [f"namespace{op}{_quote(self.namespace)}", f"{self.service_label}{op}{_quote(self.service)}", *extra]
        return "{" + ",".join(parts) + "}"


def fleet_scope() -> EdgeScope:
    """Every namespace and service (alert rules; ``operator_promql.per_service`` then groups them)."""
    return EdgeScope(".+", ".+", regex=True)


def _is(label: str, value: str) -> str:
    return f"{label}={_quote(value)}"


def _matches(label: str, pattern: str) -> str:
    return f"{label}=~{_quote(pattern)}"


def _sum(by: Sequence[str]) -> str:
    """``sum`` or ``sum by (a, b) `` before its parenthesis: ungrouped it stays ``sum(`` for ``per_service``."""
    return f"sum by ({', '.join(by)}) " if by else "sum"


_IMAGES = _matches(ROUTE_LABEL, IMAGE_ROUTES)
_SERVED = _is(CODE_CLASS_LABEL, SERVED)
_OWED = _matches(CODE_CLASS_LABEL, f"{SERVED}|{FAILED}")
_KEYED = f"{KEY_LABEL}!={_quote(NO_KEY)}"
_FAILED_CODES = _matches(CODE_LABEL, "5..")


def latency_target(le: str) -> str:
    """``le`` as given when it is a histogram bound (``30.0``), a dashboard variable or a template placeholder.

    A classic histogram counts "within X" only at its bucket bounds, so any other X is refused here
    rather than silently matching no series.
    """
    if le not in LATENCY_TARGETS and not _CHOSEN_LATER.match(le):
        raise ValueError(f"a latency target must be one of the histogram's bounds {', '.join(LATENCY_TARGETS)} "
                         f"(or a dashboard variable), not {le!r}")
    return le


def latency_quantile(scope: EdgeScope, quantile: float, window_s: int = 60) -> str:
    """A quantile of the end-to-end seconds of image requests that were served (2xx), over all the
    service's activator replicas (histogram buckets merge across pods, unlike Triton's summaries)."""
    if not 0 < quantile < 1:
        raise ValueError("a quantile is between 0 and 1")
    buckets = f"{bucket(ApiSeries.REQUEST_SECONDS)}{scope.matchers(_IMAGES, _SERVED)}"
    return f"histogram_quantile({quantile:g}, sum by (le) (rate({buckets}[{window(window_s)}])))"


def latency_target_line(le: str) -> str:
    """The latency target as a flat series, drawn next to the quantiles."""
    return f"vector({latency_target(le)})"


def within_target_share(scope: EdgeScope, le: str, window_s: int = 60) -> str:
    """The share (0..1) of image requests the service owed an image that got one within ``le`` seconds:
    served within the target / (served + failed with a 5xx). Empty while no such request completes."""
    w = window(window_s)
    within = f"{bucket(ApiSeries.REQUEST_SECONDS)}{scope.matchers(_IMAGES, _SERVED, _is('le', latency_target(le)))}"
    total = f"sum(rate({ApiSeries.REQUEST_SECONDS}_count{scope.matchers(_IMAGES, _OWED)}[{w}]))"
    return f"(sum(rate({within}[{w}])) or {total} * 0) / ({total} > 0)"


def request_rate(scope: EdgeScope, window_s: int = 60, *, by: Sequence[str] = (), code: str | None = None) -> str:
    """API requests answered per second, all routes, optionally of one status ``code`` and split ``by`` labels."""
    extra = [_is(CODE_LABEL, code)] if code is not None else []
    return f"{_sum(by)}(rate({ApiSeries.REQUESTS}{scope.matchers(*extra)}[{window(window_s)}]))"


def images_rate(scope: EdgeScope, window_s: int = 60, *, by: Sequence[str] = ()) -> str:
    """Images delivered per second (``n`` images per request), optionally split ``by`` labels (``key``)."""
    return f"{_sum(by)}(rate({ApiSeries.IMAGES}{scope.matchers()}[{window(window_s)}]))"


def server_error_share(scope: EdgeScope, window_s: int = 60) -> str:
    """5xx answers over every request that presented a valid key: what went wrong on the service's side.

    Requests without a key are left out of the denominator: a scanner's 401s must not dilute a surge.
    """
    w = window(window_s)
    total = f"sum(rate({ApiSeries.REQUESTS}{scope.matchers(_KEYED)}[{w}]))"
    failed = f"sum(rate({ApiSeries.REQUESTS}{scope.matchers(_KEYED, _FAILED_CODES)}[{w}]))"
    return f"({failed} or {total} * 0) / ({total} > 0)"


def queue_wait_share(scope: EdgeScope, window_s: int = 60) -> str:
    """Of the seconds image requests took end to end, the share spent held at the activator's gate
    (no Triton pod Ready: a service waking from zero or with every pod gone)."""
    w = window(window_s)
    took = f"sum(rate({ApiSeries.REQUEST_SECONDS}_sum{scope.matchers(_IMAGES)}[{w}]))"
    held = f"sum(rate({ApiSeries.QUEUE_WAIT_SECONDS}{scope.matchers()}[{w}]))"
    return f"({held} or {took} * 0) / ({took} > 0)"
