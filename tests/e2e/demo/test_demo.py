"""``make demo CI=1``: the whole demo in CI mode, on the session's test bed.

Runs ``testbed demo --ci`` as a person would (a subprocess, in a scratch working directory) against
the already running session cluster, so the demo takes its "reuse a running test bed" path: it must
leave the cluster up but remove everything it added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from diffusion_operator.client.png import read_png_metadata

from testbed.cluster import Cluster
from testbed.kube import KubeClient


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.timeout(600)
def test_the_demo_makes_an_image_scales_up_and_back_down_and_leaves_nothing_running(
        cluster: Cluster, kube: KubeClient, tmp_path: Path):
    entry = Path(sys.executable).parent / "testbed"
    result = subprocess.run([str(entry), "demo", "--ci"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=540, check=False,
                            env={**os.environ, "TESTBED_STATE": str(cluster.state_dir), "COLUMNS": "160"})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]

    image = tmp_path / "out" / "demo-tiny.png"
    assert image.stat().st_size > 0
    assert read_png_metadata(image)["seed"] == "42"
    report = json.loads((tmp_path / "out" / "demo-summary.json").read_text())
    assert report["scaled_up"] and max(r for _, r in report["replicas_timeline"]) > 1
    assert any("ScaledUp" in line for line in report["decisions"])
    assert report["load"]["requests"] > 0 and report["load"]["errors"] == 0
    assert report["cache_key"] and report["build_status"] in ("built", "cached")
    assert "no container runs there" in " ".join(result.stdout.split())
    print(f"\ndemo (CI mode, test bed reused): {report['wall_s']} s; stages "
          + ", ".join(f"{name} {seconds}s" for name, seconds, _ in report["stages"]))

    # Nothing left: no demo process, no demo scrape target, the demo namespace going away.
    pids = cluster.state_dir / "pids"
    assert not list(pids.glob("demo-*.pid"))
    assert set(report["pids"]) == {"demo-triton", "demo-operator"}
    for pid in report["pids"].values():
        assert not alive(pid)
    assert not (cluster.targets_dir / "demo-triton.json").exists()
    namespace = kube.get("v1", "Namespace", "demo")
    assert namespace is None or namespace.metadata.deletionTimestamp is not None
    assert cluster.healthy(), "a reused test bed stays up"
