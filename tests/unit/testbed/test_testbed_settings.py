"""Test-bed settings that are pure functions: the HPA sync period and the adapter's cache key."""

from __future__ import annotations

import subprocess

import pytest

from testbed import paths
from testbed.cluster import HPA_SYNC_PERIOD_ENV, hpa_sync_period
from testbed.metrics_adapter import go_duration


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
