"""The generated alert rules pass promtool's checks and its unit tests (each alert firing and not)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from diffusion_operator import alerts

HERE = Path(__file__).parent
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: run `make system-deps`")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_accepts_the_plain_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(alerts.plain_rules_yaml())
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts.alerts())} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_the_promtool_tests_say() -> None:
    result = promtool("test", "rules", str(HERE / "alerts_test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_tests_cover_every_alert_both_ways() -> None:
    suite = yaml.safe_load((HERE / "alerts_test.yaml").read_text())
    cases = [case for test in suite["tests"] for case in test["alert_rule_test"]]
    for alert in alerts.alerts():
        mine = [case for case in cases if case["alertname"] == alert.name]
        assert any(case["exp_alerts"] for case in mine), f"{alert.name} never expected to fire"
        assert any(not case["exp_alerts"] for case in mine), f"{alert.name} never expected to stay quiet"


def test_a_rules_file_for_another_queue_model_is_valid_too(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(alerts.render_yaml(alerts.rule_groups("10m", model="unet")))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'model="unet"' in path.read_text() and 'model="sdxl"' not in path.read_text()
