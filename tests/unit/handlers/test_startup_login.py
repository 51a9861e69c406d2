"""How the operator finds the API server and what kopf watches: decided before kopf starts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import kopf
import pytest
from diffusion_operator.handlers.startup import login, scope_settings
from kubernetes.config import incluster_config

InPod = Callable[[str, str], kopf.ConnectionInfo | None]


@pytest.fixture
def in_a_pod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> InPod:
    """Log in as a pod does: a service-account token and CA, and the Service environment of ``host:port``."""
    (tmp_path / "token").write_text("sa-token")  # projected tokens end without a newline
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))

    def log_in(host: str, port: str) -> kopf.ConnectionInfo | None:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
        return login(logger=logging.getLogger("test"), settings=kopf.OperatorSettings())

    return log_in


def test_in_a_pod_the_api_server_is_the_one_the_service_environment_names(in_a_pod: InPod, tmp_path: Path):
    # A cluster without DNS for kubernetes.default.svc (the test bed, a custom dnsPolicy) still logs in.
    info = in_a_pod("10.96.0.1", "6443")
    assert info is not None
    assert info.server == "https://10.96.0.1:6443"
    assert info.token == "sa-token"
    assert info.ca_path == str(tmp_path / "ca.crt")


def test_an_ipv6_api_server_address_is_bracketed(in_a_pod: InPod):
    info = in_a_pod("fd00::1", "443")
    assert info is not None and info.server == "https://[fd00::1]:443"


def test_watching_named_namespaces_turns_off_the_cluster_wide_scanner():
    assert scope_settings(["team-a"]).scanning.disabled is True


def test_watching_every_namespace_keeps_the_scanner_to_follow_new_ones():
    assert scope_settings([]).scanning.disabled is False
