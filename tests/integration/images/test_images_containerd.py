"""The cached archives import into a real containerd and run there as the chart runs them.

A throwaway containerd (own root, state and socket; CRI off) gets the operator and pause images via
``import_images``; the operator runs as its image's non-root user on a read-only root with /tmp as
the only writable path (the chart's securityContext), and pause stops on SIGTERM. Skipped unless
``make images`` has built the archives and containerd can run here (root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.images import HASH_LABEL, cached_images, containerd_images, import_images

NAMES = ["operator", "pause"]
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd") or not shutil.which("ctr"),
                       reason="needs root, containerd and ctr"),
    pytest.mark.skipif(not all(n in cached_images() and Path(cached_images()[n].archive).exists() for n in NAMES),
                       reason="no image archives: run `make images`"),
]


@pytest.fixture
def containerd() -> Iterator[str]:
    # Unix socket paths are limited to 108 bytes: pytest's tmp_path can be longer.
    home = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))
    socket = home / "containerd.sock"
    (home / "config.toml").write_text(
        f'version = 2\nroot = "{home}/root"\nstate = "{home}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n')
    with (home / "containerd.log").open("w") as log:
        server = subprocess.Popen(["containerd", "--config", str(home / "config.toml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["ctr", "--address", str(socket), "version"], capture_output=True,
                             check=False).returncode:
            assert server.poll() is None and time.monotonic() < deadline, (home / "containerd.log").read_text()
            time.sleep(0.2)
        yield str(socket)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def ctr(socket: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", socket, "-n", "k8s.io", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_images_import_once_and_the_operator_runs_read_only_as_non_root(containerd: str):
    cached = cached_images()
    assert import_images("ctr", containerd, names=NAMES) == [cached[n].tag for n in NAMES]
    present = containerd_images("ctr", containerd)
    assert all(present[cached[n].tag][HASH_LABEL] == cached[n].hash for n in NAMES)
    assert import_images("ctr", containerd, names=NAMES) == [], "an image already there is not imported again"

    run = ctr(containerd, "run", "--rm", "--read-only",
              "--mount", "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev:mode=1777",
              cached["operator"].tag, "operator-help", "sh", "-c",
              "id -u; touch /tmp/ok && ! touch /root-is-writable 2>/dev/null && diffusion-operator --help")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == "65532"
    assert "run" in run.stdout and "crd" in run.stdout


def test_the_pause_image_sleeps_until_sigterm(containerd: str):
    tag = cached_images()["pause"].tag
    import_images("ctr", containerd, names=["pause"])
    assert ctr(containerd, "run", "-d", tag, "sandbox").returncode == 0
    try:
        time.sleep(0.5)
        assert "RUNNING" in ctr(containerd, "tasks", "ls").stdout
        ctr(containerd, "tasks", "kill", "--signal", "SIGTERM", "sandbox")
        deadline = time.monotonic() + 10
        while "RUNNING" in ctr(containerd, "tasks", "ls").stdout:
            assert time.monotonic() < deadline, "pause ignored SIGTERM"
            time.sleep(0.2)
    finally:
        ctr(containerd, "tasks", "rm", "--force", "sandbox")
        ctr(containerd, "containers", "rm", "sandbox")
