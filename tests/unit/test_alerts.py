"""The alert rules: built from the PromQL builders, one SLA `for:` the chart can set, committed as generated."""

from __future__ import annotations

import yaml
from diffusion_operator import alerts
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics import promql
from diffusion_operator.metrics.queue_models import ALL_QUEUE_MODELS

NAMES = ["DiffusionSLABreach", "DiffusionSLABreachAtMaxReplicas", "DiffusionMetricsMissing",
         "DiffusionEngineBuildFailing", "DiffusionOperatorDown"]


def rules(document: dict[str, object]) -> list[dict[str, object]]:
    (group,) = document["groups"]  # type: ignore[index]
    return list(group["rules"])


def test_the_five_alerts_in_order() -> None:
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


def test_chart_rules_carry_the_placeholder_and_otherwise_equal_the_plain_rules() -> None:
    plain = yaml.safe_load(alerts.plain_rules_yaml())
    chart_text = alerts.chart_rules_yaml()
    assert chart_text.count(alerts.SLA_FOR_PLACEHOLDER) == 2  # the two SLA rules, nothing else
    chart = yaml.safe_load(chart_text.replace(alerts.SLA_FOR_PLACEHOLDER, alerts.DEFAULT_SLA_FOR))
    assert chart == plain == alerts.rule_groups("5m")

