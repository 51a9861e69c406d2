"""The chart ships the generated dashboards as sidecar ConfigMaps and the generated rules as a PrometheusRule."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from diffusion_operator import alerts
from diffusion_operator.dashboards import generate

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "diffusion-operator"
KUBE_VERSION = "1.35.4"


def render(helm: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run([helm, "template", "r", str(CHART), "--namespace", "ops", "--kube-version", KUBE_VERSION,
                          "--skip-tests", *args], capture_output=True, text=True, check=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def dashboard_maps(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [doc for doc in of_kind(docs, "ConfigMap") if "-dashboard-" in doc["metadata"]["name"]]


def test_each_dashboard_becomes_a_configmap_labelled_for_the_grafana_sidecar(helm_binary: str) -> None:
    docs = render(helm_binary, "--set", "dashboards.label=my_dashboards", "--set", "dashboards.labelValue=yes",
                  "--set", "dashboards.namespace=monitoring", "--set", "dashboards.annotations.grafana_folder=SDXL")
    maps = {doc["metadata"]["name"]: doc for doc in dashboard_maps(docs)}
    expected = {name: json.loads(text) for name, text in generate.dashboard_files().items()}
    assert len(maps) == len(expected)
    for config_map in maps.values():
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["labels"]["my_dashboards"] == "yes"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "SDXL"}
        (name, text), = config_map["data"].items()
        assert json.loads(text) == expected[name]


def test_dashboards_default_to_the_release_namespace_and_can_be_turned_off(helm_binary: str) -> None:
    maps = dashboard_maps(render(helm_binary))
    assert maps and all(doc["metadata"]["namespace"] == "ops" for doc in maps)
    assert all(doc["metadata"]["labels"]["grafana_dashboard"] == "1" for doc in maps)
    off = render(helm_binary, "--set", "dashboards.enabled=false")
    assert not dashboard_maps(off)


def test_the_prometheusrule_embeds_the_generated_groups_with_the_chosen_sla_for(helm_binary: str) -> None:
    assert not of_kind(render(helm_binary), "PrometheusRule"), "off by default"
    docs = render(helm_binary, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.slaBreachFor=7m",
                  "--set", "prometheusRule.labels.release=kube-prometheus-stack")
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == alerts.rule_groups("7m")
    sla = [r["alert"] for r in rule["spec"]["groups"][0]["rules"] if r["for"] == "7m"]
    assert sla == ["DiffusionSLABreach", "DiffusionSLABreachAtMaxReplicas"]


def test_the_api_alerts_latency_target_and_share_come_from_values(helm_binary: str) -> None:
    docs = render(helm_binary, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.apiLatencyTarget=60",
                  "--set", "prometheusRule.apiLatencyShare=0.9")
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["spec"] == alerts.rule_groups("5m", api_target="60.0", api_share="0.9")
    fraction = render(helm_binary, "--set", "prometheusRule.enabled=true", "--set-json",
                      "prometheusRule.apiLatencyTarget=0.5")
    assert of_kind(fraction, "PrometheusRule")[0]["spec"] == alerts.rule_groups("5m", api_target="0.5")


def test_with_default_values_the_prometheusrule_matches_the_plain_rules_file(helm_binary: str) -> None:
    (rule,) = of_kind(render(helm_binary, "--set", "prometheusRule.enabled=true"), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(alerts.plain_rules_yaml())
