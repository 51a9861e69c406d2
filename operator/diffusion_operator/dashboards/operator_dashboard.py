"""The "Diffusion operator" dashboard: is the operator up, how fast it reconciles, what fails."""

from __future__ import annotations

from typing import Any, Final

from grafana_foundation_sdk.builders import timeseries

from diffusion_operator.dashboards import assemble, variables
from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import operator_promql as op

UID: Final = "diffusion-operator"
TITLE: Final = "Diffusion operator"
FILENAME: Final = "diffusion-operator.json"
RECONCILE_WINDOW_S: Final = 300
RECONCILE_ERRORS: Final = "Reconcile errors"


def up() -> timeseries.Panel:
    return d.timeseries_panel("Operator replicas up", "1 per operator replica Prometheus scrapes successfully.",
                              d.COUNT, [(op.operator_up(), "{{instance}}")])


def phases() -> timeseries.Panel:
    return d.timeseries_panel("DiffusionServices by phase", "How many services are in each phase.",
                              d.COUNT, [(op.services_by_phase(), "{{phase}}")])


def reconcile_durations() -> timeseries.Panel:
    return d.timeseries_panel(
        "Reconcile duration", "p50 and p95 time to reconcile one DiffusionService, by outcome.", d.SECONDS,
        [(op.reconcile_seconds_quantile(0.5, RECONCILE_WINDOW_S), "p50 {{outcome}}"),
         (op.reconcile_seconds_quantile(0.95, RECONCILE_WINDOW_S), "p95 {{outcome}}")],
    )


def reconcile_errors() -> timeseries.Panel:
    return d.timeseries_panel(
        "Reconcile errors by reason", "Failed reconciles in the last 5 minutes (InvalidSpec, HTTP<status>).",
        d.COUNT, [(op.reconcile_errors(RECONCILE_WINDOW_S), "{{reason}}")], bars=True,
    )


def dashboard() -> Any:
    return assemble.build(
        TITLE, UID, "The diffusion operator itself: replicas up, reconciles, errors and service phases.",
        [variables.datasource()],
        [assemble.Row("Operator", [up(), phases(), reconcile_durations(), reconcile_errors()])],
        annotations=[(RECONCILE_ERRORS, op.reconcile_error_events())],
    )
