"""Test-bed settings: the HPA sync period, the adapter's cache key and the aggregation layer's PKI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from testbed import paths
from testbed.cluster import HPA_SYNC_PERIOD_ENV, hpa_sync_period
from testbed.metrics_adapter import go_duration
from testbed.pki import FRONT_PROXY_CLIENT, ensure_pki, issue_serving_cert


def test_the_hpa_sync_period_is_kubernetes_default_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HPA_SYNC_PERIOD_ENV, raising=False)
    assert hpa_sync_period() == "15s"
    monkeypatch.setenv(HPA_SYNC_PERIOD_ENV, "1.5s")
    assert hpa_sync_period() == "1.5s"


@pytest.mark.parametrize("bad", ["fast", "15", "-1s", "1.5 s"])
def test_a_sync_period_that_is_not_a_duration_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv(HPA_SYNC_PERIOD_ENV, bad)
    with pytest.raises(ValueError, match=HPA_SYNC_PERIOD_ENV):
        hpa_sync_period()


def test_adapter_windows_are_go_durations() -> None:
    assert go_duration(1.5) == "1500ms"
    assert go_duration(30) == "30000ms"
    assert go_duration("30s") == "30s"


def test_the_adapter_cache_key_is_the_hash_build_binaries_computes() -> None:
    """build-binaries.sh and testbed.paths must agree, or the test bed looks for a binary that
    `make binaries` put elsewhere."""
    script = paths.REPO_ROOT / "tools" / "build-binaries.sh"
    source = paths.SOURCE_DIRS["metrics-adapter"]
    bash = f'eval "$(sed -n "/^source_hash()/,/^}}/p" {script})"; source_hash {source}'
    from_bash = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, check=True).stdout.strip()
    assert from_bash == paths.source_hash(source)
    assert len(from_bash) == 12


def test_a_state_dir_from_before_the_front_proxy_gets_it_and_keeps_its_other_keys(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    ca = pki.ca_cert.read_bytes()
    for path in (pki.front_proxy_ca_cert, pki.front_proxy_ca_key, pki.front_proxy_client_cert,
                 pki.front_proxy_client_key):
        path.unlink()
    again = ensure_pki(tmp_path)
    assert again.ca_cert.read_bytes() == ca
    client = x509.load_pem_x509_certificate(again.front_proxy_client_cert.read_bytes())
    front_ca = x509.load_pem_x509_certificate(again.front_proxy_ca_cert.read_bytes())
    assert client.issuer == front_ca.subject != x509.load_pem_x509_certificate(ca).subject
    assert client.subject.rfc4514_string() == f"CN={FRONT_PROXY_CLIENT}"


def test_a_serving_cert_from_the_test_bed_ca_names_the_service_and_the_address(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki")
    cert_path, key_path = issue_serving_cert(pki, tmp_path / "adapter", "metrics-adapter",
                                             dns=["metrics-adapter.custom-metrics.svc"], ips=["192.0.2.2"])
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["metrics-adapter.custom-metrics.svc"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.2"]
    assert cert.issuer == x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()).subject
    assert key_path.stat().st_mode & 0o777 == 0o600
