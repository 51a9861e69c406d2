"""Row "Engines": how long TensorRT engine builds take in the namespace and how many fail."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import operator_promql as op

TITLE = "Engine builds"


def durations() -> timeseries.Panel:
    return d.timeseries_panel(
        "Engine build duration",
        "Median and p90 wall time of successful builds that finished in the last hour (histogram buckets).",
        d.SECONDS,
        [(op.engine_build_seconds_quantile(d.NAMESPACE, 0.5, d.BUILD_WINDOW_S), "p50"),
         (op.engine_build_seconds_quantile(d.NAMESPACE, 0.9, d.BUILD_WINDOW_S), "p90")],
    )


def results() -> timeseries.Panel:
    return d.timeseries_panel(
        "Engine builds by result",
        "Build Jobs started, succeeded and failed in the last hour; see the DiffusionService's "
        "EngineReady condition for a failure's reason.",
        d.COUNT,
        [(op.engine_builds(d.NAMESPACE, d.BUILD_WINDOW_S), "{{result}}")],
        bars=True,
    )


def panels() -> list[timeseries.Panel]:
    return [durations(), results()]
