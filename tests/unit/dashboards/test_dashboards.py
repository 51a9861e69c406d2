"""The dashboards: deterministic, committed as generated, and every query is a PromQL builder's output."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from diffusion_operator import alerts
from diffusion_operator.config import OperatorConfig
from diffusion_operator.dashboards import assemble, generate, main, operator_dashboard, queries
from diffusion_operator.metrics import api_promql as api
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.api_promql import EdgeScope
from diffusion_operator.metrics.operator_promql import OperatorScope
from diffusion_operator.metrics.promql import TritonScope
from diffusion_operator.render.api_series import LATENCY_TARGETS
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.models import dashboard as dashboard_models

TRITON = TritonScope(namespace="$namespace", service="$service", model="$model", model_pattern=True)
OPERATOR = OperatorScope(namespace="$namespace", service="$service")
EDGE = EdgeScope(namespace="$namespace", service="$service")
W = OperatorConfig().metrics_window_seconds  # the autoscaler's window

#: Panel title -> the builder outputs its targets must be, in order.
MAIN_PANELS = {
    "Queue latency vs SLA target": [promql.queue_latency_seconds(TRITON, W),
                                    op.observed_queue_latency_seconds(OPERATOR),
                                    op.queue_latency_target_seconds(OPERATOR)],
    "p95 latency (worst pod)": [op.request_p95_worst_pod_seconds(TRITON), promql.queue_p95_worst_pod_seconds(TRITON),
                                op.queue_latency_target_seconds(OPERATOR)],
    "Images per second": [promql.success_rate(TRITON, W), promql.arrival_rate(TRITON, W),
                          promql.failure_rate(TRITON, W)],
    "Degraded images (speed tier)": [promql.degraded_images_rate(TRITON, W), promql.success_rate(TRITON, W)],
    "Cost per image": [op.cost_per_image("$gpu_price_per_hour", OPERATOR, TRITON, W)],
    "API latency (edge)": [api.latency_quantile(EDGE, 0.5, W), api.latency_quantile(EDGE, 0.95, W),
                           api.latency_quantile(EDGE, 0.99, W), api.latency_target_line("$api_latency_target")],
    "API requests within the latency target": [api.within_target_share(EDGE, "$api_latency_target", W)],
    "API requests by status code": [api.request_rate(EDGE, W, by=("code",))],
    "API requests by key": [api.request_rate(EDGE, W, by=("key",))],
    "Images per key": [api.images_rate(EDGE, W, by=("key",))],
    "Refused: 401 and 429": [api.request_rate(EDGE, W, code="401"), api.request_rate(EDGE, W, by=("key",), code="429")],
    "API 5xx share and time held at zero": [api.server_error_share(EDGE, W), api.queue_wait_share(EDGE, W)],
    "Replicas: desired vs ready": [op.desired_replicas(OPERATOR), op.ready_replicas(OPERATOR)],
    "Scale decisions by reason": [op.scale_decisions(OPERATOR, 300)],
    "Pending requests": [promql.pending_requests(TRITON)],
    "Batch size": [promql.batch_size(TRITON, W)],
    "Cold start and speed tier": [op.cold_start_seconds(OPERATOR), op.speed_tier_steps(OPERATOR)],
    "GPU utilisation": [promql.gpu_utilization_dcgm("$namespace", "$service-.*"),
                        promql.gpu_utilization_triton(TRITON)],
    "Engine build duration": [op.engine_build_seconds_quantile("$namespace", 0.5, 3600),
                              op.engine_build_seconds_quantile("$namespace", 0.9, 3600)],
    "Engine builds by result": [op.engine_builds("$namespace", 3600)],
}
OPERATOR_PANELS = {
    "Operator replicas up": [op.operator_up()],
    "DiffusionServices by phase": [op.services_by_phase()],
    "Reconcile duration": [op.reconcile_seconds_quantile(0.5, 300), op.reconcile_seconds_quantile(0.95, 300)],
    "Reconcile errors by reason": [op.reconcile_errors(300)],
}
UNITS = {"s", "reqps", "short", "percentunit", "currencyUSD"}


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in generate.dashboard_files().items()}


def test_building_twice_gives_the_same_bytes_with_sorted_keys() -> None:
    first, second = generate.dashboard_files(), generate.dashboard_files()
    assert first == second
    for text in first.values():
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


@pytest.mark.parametrize(("filename", "expected"), [(main.FILENAME, MAIN_PANELS),
                                                    (operator_dashboard.FILENAME, OPERATOR_PANELS)])
def test_every_panel_target_is_the_builders_output(boards: dict[str, dict[str, Any]], filename: str,
                                                   expected: dict[str, list[str]]) -> None:
    panels = [p for p in boards[filename]["panels"] if p["type"] != "row"]
    assert {p["title"] for p in panels} == set(expected)
    for panel in panels:
        assert [t["expr"] for t in panel["targets"]] == expected[panel["title"]], panel["title"]
        assert [t["refId"] for t in panel["targets"]] == [chr(ord("A") + i) for i in range(len(panel["targets"]))]


def test_annotations_are_builder_output_too(boards: dict[str, dict[str, Any]]) -> None:
    (scale,) = boards[main.FILENAME]["annotations"]["list"]
    assert scale["expr"] == op.replica_changes(OPERATOR)
    (errors,) = boards[operator_dashboard.FILENAME]["annotations"]["list"]
    assert errors["expr"] == op.reconcile_error_events()


def test_every_panel_has_a_unit_and_reads_the_datasource_variable(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
            assert panel["options"], f"{panel['title']}: Grafana needs options, not null"


def test_panel_ids_are_unique_and_panels_never_overlap(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids) and 0 not in ids
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, panel["title"]
            cells |= mine


def test_main_dashboard_variables(boards: dict[str, dict[str, Any]]) -> None:
    board = boards[main.FILENAME]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "service", "model", "gpu_price_per_hour",
                               "api_latency_target"]
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    # Multi-valued; "All" is every entry model, the queues the autoscaler reads (not the components').
    model = variables["model"]
    assert model["multi"] is True and model["includeAll"] is True
    assert model["current"]["value"] == "$__all" and model["allValue"] == "sdxl|sdxl-photoshoot"
    exprs = [t["expr"] for p in board["panels"] if p["type"] != "row" for t in p["targets"]]
    assert any('model=~"$model"' in expr for expr in exprs)
    assert not any('model="$model"' in expr for expr in exprs)
    assert variables["gpu_price_per_hour"]["type"] == "textbox"
    assert variables["gpu_price_per_hour"]["query"] == "0.70"
    assert variables["service"]["query"] == op.label_values("diffusion_operator_service_phase", "service",
                                                            namespace="$namespace")
    # The API's latency target: only the histogram's bounds, opening at the alert's default.
    target = variables["api_latency_target"]
    assert target["type"] == "custom" and target["query"].split(",") == list(LATENCY_TARGETS)
    assert target["current"]["value"] == alerts.DEFAULT_API_TARGET
    assert board["uid"] == main.UID and board["title"] == "Diffusion service / SLA"
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36


def test_queries_use_only_the_dashboards_own_variables(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        defined = {v["name"] for v in board["templating"]["list"]}
        for query in queries.panel_queries(board) + queries.annotation_queries(board):
            used = set(re.findall(r"\$(\w+)", query.expr))
            assert used <= defined, f"{query.panel}: {used - defined}"


def test_substitute_fills_variables_and_refuses_unknown_ones() -> None:
    filled = queries.substitute('x{a="$namespace",b="${service}"}', {"namespace": "n", "service": "s"})
    assert filled == 'x{a="n",b="s"}'
    with pytest.raises(KeyError, match="model"):
        queries.substitute('x{m="$model"}', {})
    assert queries.legend("{{direction}} {{reason}}", {"direction": "up", "reason": "ScaledUp"}) == "up ScaledUp"


def test_the_json_parses_back_into_the_sdks_grafana_dashboard_model_unchanged() -> None:
    """The SDK's typed model (Grafana 10.1 schema) reads every field back: nothing ad hoc in the JSON."""
    plugins.register_default_plugins()
    for name, text in generate.dashboard_files().items():
        original = json.loads(text)
        model = dashboard_models.Dashboard.from_json(original)
        assert json.loads(assemble.to_json(model)) == original, name


def test_every_dashboard_says_it_is_generated_and_not_to_be_edited() -> None:
    for name, text in generate.dashboard_files().items():
        assert json.loads(text)["description"].endswith(assemble.GENERATED_MARKER), name
