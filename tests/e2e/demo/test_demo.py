"""``make demo CI=1``: the whole demo in CI mode, on the session's test bed, in pods on its real node.

Runs ``testbed demo --ci`` as a person would (a subprocess, in a scratch working directory) against
the already running session cluster, so the demo takes its "reuse a running test bed" path: it must
leave the cluster up but remove everything it added (release, namespaces, processes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from diffusion_operator.client.png import read_png_metadata
from PIL import Image

from testbed.cluster import Cluster
from testbed.demo.options import OPERATOR_NAMESPACE, PROMETHEUS, RELEASE, TRANSLATOR
from testbed.kube import KubeClient
from testbed.realnode import RealNode


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def run_demo(cluster: Cluster, cwd: Path, timeout: float = 780) -> subprocess.CompletedProcess[str]:
    """``testbed demo --ci``; past ``timeout`` it gets Ctrl-C (SIGINT), so it still removes what it added."""
    entry = Path(sys.executable).parent / "testbed"
    with subprocess.Popen([str(entry), "demo", "--ci"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "TESTBED_STATE": str(cluster.state_dir), "COLUMNS": "160"}
                          ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=180)
            err += f"\n(timed out after {timeout:.0f}s: interrupted)"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def gone_or_going(kube: KubeClient, namespace: str) -> bool:
    found = kube.get("v1", "Namespace", namespace)
    return found is None or found.metadata.deletionTimestamp is not None


@pytest.mark.timeout(900)
def test_the_demo_runs_in_pods_makes_an_image_scales_up_and_back_down_and_leaves_nothing_running(
        cluster: Cluster, kube: KubeClient, real_node: RealNode, tmp_path: Path):
    result = run_demo(cluster, tmp_path)
    details = tmp_path / "out" / "demo-error.log"
    assert result.returncode == 0, (result.stdout[-6000:] + result.stderr[-3000:]
                                    + (details.read_text()[-8000:] if details.exists() else ""))

    image = tmp_path / "out" / "demo-tiny.png"
    assert image.stat().st_size > 0
    assert read_png_metadata(image)["seed"] == "42"
    report = json.loads((tmp_path / "out" / "demo-summary.json").read_text())
    print(f"\ndemo (CI mode, test bed reused): {report['wall_s']} s; stages "
          + ", ".join(f"{name} {seconds}s" for name, seconds, _ in report["stages"]))

    # What the model draws: the grid and the photoshoot were written, every prompt has a verdict.
    assert Image.open(tmp_path / "out" / "demo-grid.png").size[0] > 0
    assert Image.open(tmp_path / "out" / "demo-photoshoot.png").size[0] > 0
    assert len(report["grid"]) == 8 and set(report["grid"].values()) <= {"PASS", "objects ok", "FAIL"}
    assert report["photoshoot"]["background_asked"] in report["photoshoot"]["prompt"]
    print(f"grid: {sum(v == 'PASS' for v in report['grid'].values())}/8 pass; photoshoot background asked "
          f"{report['photoshoot']['background_asked']}, seen {report['photoshoot']['background_seen']}")

    # Everything ran in pods on the real node, from the product's images.
    assert report["operator_pod"]["node"] == real_node.name
    assert report["build"]["node"] == real_node.name and report["build"]["builder_s"] > 0
    assert report["build_status"] in ("built", "cached")
    assert report["build"]["termination_message"]["cache_key"] == report["cache_key"]
    assert report["engine"]["state"] == "Succeeded"
    assert all(p["node"] == real_node.name for p in report["pod_startups"])

    # Prometheus found the Triton pods through the ServiceMonitor, with the labels the operator queries.
    assert report["targets"] and all(t["diffusion_dev_service"] == "tiny" and t["pod"] for t in report["targets"])

    # Scaled up on load, the added pods took traffic, and it came back down without a failed request.
    assert report["scaled_up"] and max(r for _, r in report["replicas_timeline"]) > 1
    assert any("ScaledUp" in line for line in report["decisions"])
    assert len(report["requests_per_pod"]) > 1 and all(n > 0 for n in report["requests_per_pod"].values())
    assert report["scaled_down"]
    assert report["load"]["requests"] > 0 and report["load"]["errors"] == 0

    # Nothing left: no demo process, no release, the demo's namespaces going away; the test bed still up.
    assert set(report["started"]["processes"]) == {PROMETHEUS, TRANSLATOR}
    assert not list((cluster.state_dir / "pids").glob("demo-*.pid"))
    for pid in report["started"]["processes"].values():
        assert not alive(pid)
    assert report["started"]["release"] == f"{OPERATOR_NAMESPACE}/{RELEASE}"
    assert kube.get("apps/v1", "Deployment", f"{RELEASE}-diffusion-operator", OPERATOR_NAMESPACE) is None
    for namespace in report["started"]["namespaces"]:
        assert gone_or_going(kube, namespace)
    assert cluster.healthy(), "a reused test bed stays up"
