"""`testbed up|status|env|down`: what a person types, with a Prometheus that scrapes what it is told."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from testbed.prometheus import Prometheus, write_targets

MODELS = Path(__file__).parent / "models"


def run_testbed(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    entry = Path(sys.executable).parent / "testbed"
    return subprocess.run([str(entry), *args], env={"TESTBED_STATE": str(state), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=180, check=False)


def test_up_prints_kubeconfig_and_prometheus_and_down_stops_everything(tmp_path: Path, triton_factory):
    state = tmp_path / "bed"
    try:
        up = run_testbed(state, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "KUBECONFIG=" in up.stdout and "PROMETHEUS_URL=" in up.stdout

        env = json.loads(run_testbed(state, "env", "--json").stdout)
        assert Path(env["KUBECONFIG"]).exists()
        status = run_testbed(state, "status")
        assert status.returncode == 0 and "l4-pool-0" in status.stdout and "prometheus" in status.stdout

        # Anything written to the targets dir is scraped: here a real Triton as a service's pod.
        triton = triton_factory(MODELS)
        write_targets(state / "scrape-targets", "echo", [triton.metrics_url.split("//")[1].split("/")[0]],
                      {"namespace": "demo", "pod": "echo-0", "diffusion_dev_service": "echo"})
        prometheus = Prometheus(state, port=int(env["PROMETHEUS_URL"].rsplit(":", 1)[1]))
        deadline = time.monotonic() + 30
        series: list = []
        while time.monotonic() < deadline and not series:
            series = prometheus.query('nv_inference_pending_request_count{diffusion_dev_service="echo"}')
            time.sleep(0.5)
        assert series and series[0]["metric"]["pod"] == "echo-0"
    finally:
        down = run_testbed(state, "down")
    assert down.returncode == 0
    assert run_testbed(state, "status").returncode == 1  # nothing running any more
