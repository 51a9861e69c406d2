"""The optional NetworkPolicy: which peers reach which Triton ports, and what an empty list means."""

from __future__ import annotations

from typing import Any

from diffusion_operator.api.spec_network_policy import NetworkPolicySpec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.names import selector_labels
from diffusion_operator.render.network_policy import build_network_policy

GATEWAY = {"podSelector": {"matchLabels": {"app": "sdxl-gateway"}}}
WEB_FRONTENDS = {
    "namespaceSelector": {"matchLabels": {"team": "web"}},
    "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]},
}


def policy(**spec: Any) -> dict[str, Any] | None:
    return build_network_policy("sdxl", "team-a", NetworkPolicySpec.model_validate(spec), RenderSettings())


def rules(rendered: dict[str, Any] | None) -> list[tuple[list[int], list[dict[str, Any]]]]:
    assert rendered is not None
    return [([p["port"] for p in rule["ports"]], rule["from"]) for rule in rendered["spec"]["ingress"]]


def test_no_policy_unless_enabled() -> None:
    assert policy() is None
    assert policy(enabled=False, allowedClients=[GATEWAY]) is None


def test_the_policy_selects_the_services_triton_pods_for_ingress_only() -> None:
    rendered = policy(enabled=True, allowedClients=[GATEWAY])
    assert rendered is not None
    assert rendered["apiVersion"] == "networking.k8s.io/v1"
    assert rendered["metadata"]["name"] == "sdxl"
    assert rendered["metadata"]["namespace"] == "team-a"
    assert rendered["spec"]["podSelector"] == {"matchLabels": selector_labels("sdxl")}
    assert rendered["spec"]["policyTypes"] == ["Ingress"]


def test_clients_reach_the_inference_ports_and_prometheus_the_metrics_port() -> None:
    assert rules(policy(enabled=True, allowedClients=[GATEWAY, WEB_FRONTENDS])) == [
        ([8000, 8001], [GATEWAY, WEB_FRONTENDS]),
        ([8002], [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]),
    ]


def test_the_default_scraper_namespace_comes_from_the_operator_settings() -> None:
    rendered = build_network_policy(
        "sdxl", "team-a", NetworkPolicySpec(enabled=True), RenderSettings(metrics_scraper_namespace="observability")
    )
    assert rules(rendered) == [
        ([8002], [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}])
    ]


def test_declared_scrapers_replace_the_default() -> None:
    scraper = {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    assert rules(policy(enabled=True, metricsScrapers=[scraper]))[-1] == ([8002], [scraper])


def test_an_empty_list_admits_nobody_because_an_empty_from_would_admit_everyone() -> None:
    rendered = policy(enabled=True, allowedClients=[], metricsScrapers=[])
    assert rendered is not None
    assert rendered["spec"]["ingress"] == []  # the pods are selected, so all ingress is denied
    assert rules(policy(enabled=True, metricsScrapers=[])) == []
    assert all(rule["from"] for rule in policy(enabled=True, allowedClients=[GATEWAY])["spec"]["ingress"])  # type: ignore[index]


def test_peers_render_in_the_network_policy_wire_form() -> None:
    [(ports, [peer]), _] = rules(policy(enabled=True, allowedClients=[WEB_FRONTENDS]))
    assert ports == [8000, 8001]
    assert peer == WEB_FRONTENDS  # camelCase, no nulls, an Exists requirement would carry no values
    [(_, [exists]), _] = rules(
        policy(
            enabled=True,
            allowedClients=[{"podSelector": {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}}],
        )
    )
    assert exists == {"podSelector": {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}}


def test_with_the_speed_tier_on_the_operators_namespace_reaches_the_http_port_only() -> None:
    # The operator sends the tier to each pod's HTTP port: without this rule it would never arrive.
    settings = RenderSettings(operator_namespace="diffusion-system")
    rendered = build_network_policy("sdxl", "team-a", NetworkPolicySpec.model_validate(
        {"enabled": True, "allowedClients": [GATEWAY]}), settings, speed_tier=True)
    operator = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "diffusion-system"}}}
    assert ([8000], [operator]) in rules(rendered)
    assert ([8000, 8001], [GATEWAY]) in rules(rendered)


def test_without_the_speed_tier_or_an_in_cluster_operator_no_rule_admits_the_operator() -> None:
    spec = NetworkPolicySpec.model_validate({"enabled": True, "allowedClients": [GATEWAY]})
    off = build_network_policy("sdxl", "team-a", spec, RenderSettings(operator_namespace="diffusion-system"))
    outside = build_network_policy("sdxl", "team-a", spec, RenderSettings(), speed_tier=True)
    assert rules(off) == rules(outside) == rules(policy(enabled=True, allowedClients=[GATEWAY]))
