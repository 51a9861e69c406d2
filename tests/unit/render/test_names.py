"""Child names and labels: valid Kubernetes names, stable, collision-free."""

from __future__ import annotations

import re

import pytest
from diffusion_operator.render import names
from hypothesis import given
from hypothesis import strategies as st

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

LONG = "a" * 70 + ".team-b.example"


@pytest.mark.parametrize("service", ["sdxl", "sdxl-prod", "a" * 63, "a" * 64, LONG, "1st.service", "x.y.z"])
def test_child_names_are_dns_labels_of_at_most_63(service: str) -> None:
    for name in (names.deployment_name(service), names.service_name(service), names.service_monitor_name(service),
                 names.pod_disruption_budget_name(service)):
        assert len(name) <= 63 and DNS_1035.match(name), name


def test_short_valid_names_are_kept_as_they_are() -> None:
    assert names.deployment_name("sdxl") == "sdxl"
    assert names.service_name("sdxl-prod") == "sdxl-prod"


def test_long_names_are_shortened_stably_and_distinctly() -> None:
    first, second = "a" * 70 + "-one", "a" * 70 + "-two"
    assert names.fit(first) == names.fit(first)
    assert names.fit(first) != names.fit(second)
    assert names.fit("x.y") != names.fit("x-y")  # sanitising must not make two names collide


def test_job_and_plan_names_come_from_the_key() -> None:
    key = "sdxl-0123456789abcdef"
    assert names.engine_job_name(key) == "engine-sdxl-0123456789abcdef"
    assert names.engine_plan_config_map_name(key) == "engine-sdxl-0123456789abcdef-plan"


@pytest.mark.parametrize("service", ["sdxl", LONG])
def test_labels(service: str) -> None:
    labels = names.serving_pod_labels(service, "sdxl-0123456789abcdef")
    assert labels["app.kubernetes.io/name"] == "triton"
    assert labels["app.kubernetes.io/managed-by"] == "diffusion-operator"
    assert labels["diffusion.dev/engine-key"] == "sdxl-0123456789abcdef"
    assert labels["app.kubernetes.io/instance"] == labels["diffusion.dev/service"]
    for value in labels.values():
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    if service == "sdxl":
        assert labels["diffusion.dev/service"] == "sdxl"


def test_selector_is_a_subset_of_the_pod_labels_and_has_no_engine_key() -> None:
    selector = names.selector_labels("sdxl")
    assert selector.items() <= names.serving_pod_labels("sdxl", "k").items()
    assert names.ENGINE_KEY_LABEL not in selector
    assert names.selector_string("sdxl") == "app.kubernetes.io/instance=sdxl,app.kubernetes.io/name=triton"


def test_engine_labels_name_no_service_because_builds_are_shared() -> None:
    labels = names.engine_labels("sdxl-1")
    assert names.SERVICE_LABEL not in labels
    assert labels[names.ENGINE_KEY_LABEL] == "sdxl-1"


SUBDOMAIN = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?){0,5}",
                          fullmatch=True).filter(lambda name: len(name) <= 253)


@given(SUBDOMAIN, SUBDOMAIN)
def test_any_resource_name_fits_and_distinct_names_stay_distinct(first: str, second: str) -> None:
    for name in (first, second):
        child = names.fit(name)
        assert len(child) <= 63 and DNS_1035.match(child), child
        value = names.label_value(name)
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    if first != second:
        assert names.fit(first) != names.fit(second)
