"""Prometheus alert rules for every DiffusionService, built from the same PromQL as the autoscaler.

A rule cannot be scoped to one service, so each Triton expression is promql's own builder over
:func:`operator_promql.fleet_scope` (every service of the queueing model) with its aggregations
grouped ``by (namespace, diffusion_dev_service)`` (:func:`operator_promql.per_service`): one alert
series per service, each with the value a single-service query would give.

The API alerts (services with ``spec.api``) judge what clients saw at the activator, through
``api_promql`` over ``api_promql.fleet_scope``, grouped the same way: too few image requests answered
within a latency target, and a surge of 5xx answers.

Two files come out (``make generate``): a plain rules file for promtool and for a Prometheus without
the Prometheus Operator, and the rule groups the chart's PrometheusRule embeds, where the SLA alerts'
``for:`` and the API alert's latency target and share are placeholders the template fills from
``prometheusRule.slaBreachFor``, ``apiLatencyTarget`` and ``apiLatencyShare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import yaml

from diffusion_operator.config import OperatorConfig
from diffusion_operator.metrics import api_promql, promql
from diffusion_operator.metrics import operator_promql as op
from diffusion_operator.metrics.queue_models import ALL_QUEUE_MODELS
from diffusion_operator.render.names import SERVICE_METRIC_LABEL

GROUP: Final = "diffusion-operator.rules"
#: The chart replaces this with ``.Values.prometheusRule.slaBreachFor``.
SLA_FOR_PLACEHOLDER: Final = "__SLA_BREACH_FOR__"
#: The plain file's (and the chart's default) sustain period of an SLA breach.
DEFAULT_SLA_FOR: Final = "5m"
#: The autoscaler's window and queueing models: the alert sees the latency the scaler acted on.
WINDOW_S: Final = int(OperatorConfig.model_fields["metrics_window_seconds"].default)
QUEUE_MODELS: Final = ALL_QUEUE_MODELS
Models = str | Sequence[str]
#: The chart replaces these with ``.Values.prometheusRule.apiLatencyTarget`` and ``apiLatencyShare``.
API_TARGET_PLACEHOLDER: Final = "__API_LATENCY_TARGET__"
API_SHARE_PLACEHOLDER: Final = "__API_LATENCY_SHARE__"
#: The plain file's (and the chart's) defaults: 95 % of image requests answered within 30 s. Generous
#: for an SDXL 1024² image (an L4 takes about 8 s, behind a queue target of a few seconds), so it fires
#: on a service in trouble, not on a slow day; set yours from what your clients were promised.
DEFAULT_API_TARGET: Final = "30.0"
DEFAULT_API_SHARE: Final = "0.95"
#: Five minutes of requests: a service serving a few images per second would swing on a handful in one.
API_WINDOW_S: Final = 300
#: More than this share of keyed requests answered 5xx is a surge, not the odd failure a retry absorbs.
API_SERVER_ERROR_SHARE: Final = 0.05
#: Each alert's meaning and action, in the repository (no public URL is assumed).
RUNBOOK: Final = "docs/observability.md"
SERVICE_JOIN: Final = f"on ({', '.join(op.SERVICE_LABELS)})"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    sla: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def rule(self, sla_for: str) -> dict[str, object]:
        anchor = self.name.lower()
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": sla_for if self.sla else self.for_,
            "labels": {"severity": self.severity, **self.labels},
            "annotations": {"summary": self.summary, "description": self.description,
                            "runbook": f"{RUNBOOK}#{anchor}"},
        }


def queue_latency_by_service(model: Models = QUEUE_MODELS, window_s: int = WINDOW_S) -> str:
    """Every service's queue latency: :func:`promql.queue_latency_seconds`, grouped per service."""
    return op.per_service(promql.queue_latency_seconds(op.fleet_scope(model), window_s))


def sla_breach(model: Models = QUEUE_MODELS, window_s: int = WINDOW_S) -> str:
    """Services whose queue latency is above their queueLatencyTarget (value: the latency)."""
    return f"({queue_latency_by_service(model, window_s)}) > {SERVICE_JOIN} {op.queue_latency_targets()}"


def at_max_and_breaching(model: Models = QUEUE_MODELS, window_s: int = WINDOW_S) -> str:
    return f"({sla_breach(model, window_s)}) and {SERVICE_JOIN} ({op.at_max_replicas()})"


def metrics_missing(model: Models = QUEUE_MODELS) -> str:
    """Ready services with ready pods but no pending-count series: the autoscaler is flying blind."""
    pending = op.per_service(promql.pending_requests(op.fleet_scope(model)))
    return f"({op.ready_with_replicas()}) unless {SERVICE_JOIN} ({pending})"


def api_latency_share_by_service(target: str = DEFAULT_API_TARGET, window_s: int = API_WINDOW_S) -> str:
    """Every API service's share of image requests served within ``target`` seconds (``api_promql``)."""
    return op.per_service(api_promql.within_target_share(api_promql.fleet_scope(), target, window_s))


def api_latency_breach(target: str = DEFAULT_API_TARGET, share: str = DEFAULT_API_SHARE,
                       window_s: int = API_WINDOW_S) -> str:
    """API services where fewer than ``share`` of image requests got their image within ``target`` (value:
    the share)."""
    return f"({api_latency_share_by_service(target, window_s)}) < {share}"


def api_server_errors(window_s: int = API_WINDOW_S) -> str:
    """API services answering more than ``API_SERVER_ERROR_SHARE`` of keyed requests with a 5xx (value: the share)."""
    share = op.per_service(api_promql.server_error_share(api_promql.fleet_scope(), window_s))
    return f"({share}) > {API_SERVER_ERROR_SHARE:g}"


def alerts(model: Models = QUEUE_MODELS, api_target: str = DEFAULT_API_TARGET,
           api_share: str = DEFAULT_API_SHARE) -> list[Alert]:
    """The rules; ``model`` is every pipeline's entry model, or the operator's DIFFUSION_QUEUE_MODEL."""
    service = f"{{{{ $labels.namespace }}}}/{{{{ $labels.{SERVICE_METRIC_LABEL} }}}}"
    named = model if isinstance(model, str) else " or ".join(model)
    minutes = f"{API_WINDOW_S // 60} minutes"
    return [
        Alert("DiffusionSLABreach", sla_breach(model), DEFAULT_SLA_FOR, "warning",
              f"{service}: queue latency above its SLA target",
              f"Requests of {service} waited {{{{ $value | humanizeDuration }}}} on average in Triton's queue "
              "(model " + named + "), above the service's queueLatencyTarget.",
              sla=True),
        Alert("DiffusionSLABreachAtMaxReplicas", at_max_and_breaching(model), DEFAULT_SLA_FOR, "critical",
              f"{service}: SLA breached at maxReplicas",
              f"{service} misses its queue-latency target and the autoscaler is clamped at maxReplicas "
              "(AtMaxReplicas): more load than the fleet may serve.",
              sla=True),
        Alert("DiffusionMetricsMissing", metrics_missing(model), "10m", "warning",
              f"{service}: Triton metrics missing",
              f"{service} is Ready with ready pods but Prometheus has no nv_inference_pending_request_count "
              f"for model {named}: the autoscaler holds its replicas (MetricsUnavailable)."),
        Alert("DiffusionEngineBuildFailing", op.failed_engine_builds(), "0m", "warning",
              "{{ $labels.namespace }}: engine builds failing",
              "An engine build Job failed in namespace {{ $labels.namespace }} in the last 30 minutes."),
        Alert("DiffusionOperatorDown", op.operator_down(), "5m", "critical",
              "diffusion-operator is down",
              "No diffusion-operator replica has answered Prometheus for 5 minutes: nothing reconciles or "
              "autoscales DiffusionServices."),
        Alert("DiffusionAPISLABreach", api_latency_breach(api_target, api_share), "5m", "warning",
              f"{service}: API images slower than {api_target}s",
              f"Over the last {minutes}, {{{{ $value | humanizePercentage }}}} of the image requests {service}'s "
              f"OpenAI API owed an image got it within {api_target}s (the rest took longer or failed with a "
              f"5xx), below the target share {api_share}."),
        Alert("DiffusionAPIServerErrors", api_server_errors(), "5m", "critical",
              f"{service}: API answering 5xx",
              f"{{{{ $value | humanizePercentage }}}} of the keyed requests to {service}'s OpenAI API were "
              f"answered with a 5xx over the last {minutes} (above {100 * API_SERVER_ERROR_SHARE:g}%): Triton "
              "failing, unreachable, or the service unable to start."),
    ]


def rule_groups(sla_for: str, model: Models = QUEUE_MODELS, api_target: str = DEFAULT_API_TARGET,
                api_share: str = DEFAULT_API_SHARE) -> dict[str, object]:
    rules = [alert.rule(sla_for) for alert in alerts(model, api_target, api_share)]
    return {"groups": [{"name": GROUP, "rules": rules}]}


def render_yaml(document: dict[str, object], header: str = "") -> str:
    body = yaml.safe_dump(document, sort_keys=False, width=100_000, default_flow_style=False)
    return header + body


_NOTE: Final = "# Generated by `make generate` from diffusion_operator.alerts. Do not edit.\n"


def plain_rules_yaml() -> str:
    """The plain Prometheus rules file (manifests/prometheus/alerts.yaml), SLA ``for:`` at its default."""
    return render_yaml(rule_groups(DEFAULT_SLA_FOR), _NOTE)


def chart_rules_yaml() -> str:
    """The chart's copy (files/alerts.yaml), with the placeholders its PrometheusRule template replaces."""
    return render_yaml(rule_groups(SLA_FOR_PLACEHOLDER, api_target=API_TARGET_PLACEHOLDER,
                                   api_share=API_SHARE_PLACEHOLDER),
                       _NOTE + "# The PrometheusRule template sets the SLA alerts' `for:` (slaBreachFor) and the API\n"
                       "# alert's target and share (apiLatencyTarget, apiLatencyShare).\n")
