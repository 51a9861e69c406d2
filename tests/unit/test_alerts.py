"""The alert rules: built from the PromQL builders, one SLA `for:` and the API's target and share the chart
can set, committed as generated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from diffusion_operator import alerts
from diffusion_operator.metrics import api_promql, promql
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics.queue_models import ALL_QUEUE_MODELS
from diffusion_operator.render.api_series import LATENCY_BUCKETS, le_label

NAMES = ["DiffusionSLABreach", "DiffusionSLABreachAtMaxReplicas", "DiffusionMetricsMissing",
         "DiffusionEngineBuildFailing", "DiffusionOperatorDown", "DiffusionAPISLABreach", "DiffusionAPIServerErrors"]


def rules(document: dict[str, object]) -> list[dict[str, object]]:
    (group,) = document["groups"]  # type: ignore[index]
    return list(group["rules"])


def test_the_seven_alerts_in_order() -> None:
    assert [a.name for a in alerts.alerts()] == NAMES


def test_sla_alerts_use_the_autoscalers_queue_latency_per_service() -> None:
    latency = op.per_service(promql.queue_latency_seconds(op.fleet_scope(ALL_QUEUE_MODELS), 60))
    by_name = {a.name: a for a in alerts.alerts()}
    assert by_name["DiffusionSLABreach"].expr == (
        f"({latency}) > on (namespace, diffusion_dev_service) {op.queue_latency_targets()}")
    assert by_name["DiffusionSLABreachAtMaxReplicas"].expr.startswith(f"({by_name['DiffusionSLABreach'].expr}) and ")
    assert op.at_max_replicas() in by_name["DiffusionSLABreachAtMaxReplicas"].expr
    pending = op.per_service(promql.pending_requests(op.fleet_scope(ALL_QUEUE_MODELS)))
    assert pending in by_name["DiffusionMetricsMissing"].expr
    assert by_name["DiffusionEngineBuildFailing"].expr == op.failed_engine_builds()
    assert by_name["DiffusionOperatorDown"].expr == op.operator_down()


def test_only_the_sla_alerts_take_the_configurable_for() -> None:
    document = alerts.rule_groups("13m")
    assert [r["alert"] for r in rules(document) if r["for"] == "13m"] == NAMES[:2]
    assert all(r["labels"]["severity"] in {"warning", "critical"} for r in rules(document))  # type: ignore[index]
    assert all(str(r["annotations"]["runbook"]).startswith("docs/observability.md#")  # type: ignore[index]
               for r in rules(document))


def test_chart_rules_carry_the_placeholders_and_otherwise_equal_the_plain_rules() -> None:
    plain = yaml.safe_load(alerts.plain_rules_yaml())
    chart_text = alerts.chart_rules_yaml()
    assert chart_text.count(alerts.SLA_FOR_PLACEHOLDER) == 2  # the two SLA rules, nothing else
    # The API SLA rule: in its expr (le, share), its summary (target) and its description (both).
    assert chart_text.count(alerts.API_TARGET_PLACEHOLDER) == 3
    assert chart_text.count(alerts.API_SHARE_PLACEHOLDER) == 2
    filled = (chart_text.replace(alerts.SLA_FOR_PLACEHOLDER, alerts.DEFAULT_SLA_FOR)
              .replace(alerts.API_TARGET_PLACEHOLDER, alerts.DEFAULT_API_TARGET)
              .replace(alerts.API_SHARE_PLACEHOLDER, alerts.DEFAULT_API_SHARE))
    assert yaml.safe_load(filled) == plain == alerts.rule_groups("5m")


def test_api_alerts_judge_every_service_at_its_edge_with_the_dashboards_builders() -> None:
    by_name = {a.name: a for a in alerts.alerts(api_target="60.0", api_share="0.9")}
    share = op.per_service(api_promql.within_target_share(api_promql.fleet_scope(), "60.0", 300))
    assert by_name["DiffusionAPISLABreach"].expr == f"({share}) < 0.9"
    assert 'le="60.0"' in share and 'code_class="2xx"' in share
    errors = op.per_service(api_promql.server_error_share(api_promql.fleet_scope(), 300))
    assert by_name["DiffusionAPIServerErrors"].expr == f"({errors}) > 0.05"
    assert by_name["DiffusionAPIServerErrors"].severity == "critical"
    assert "by (namespace, diffusion_dev_service)" in errors


def test_an_api_target_between_the_histograms_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="bounds"):
        alerts.alerts(api_target="25.0")



def test_the_charts_api_values_are_the_histograms_bounds_and_the_plain_files_defaults() -> None:
    chart = Path(__file__).resolve().parents[2] / "charts" / "diffusion-operator"
    schema = json.loads((chart / "values.schema.json").read_text())["properties"]["prometheusRule"]["properties"]
    assert schema["apiLatencyTarget"]["enum"] == list(LATENCY_BUCKETS)
    values = yaml.safe_load((chart / "values.yaml").read_text())["prometheusRule"]
    assert le_label(values["apiLatencyTarget"]) == alerts.DEFAULT_API_TARGET
    assert str(values["apiLatencyShare"]) == alerts.DEFAULT_API_SHARE
