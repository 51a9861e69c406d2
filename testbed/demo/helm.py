"""``helm`` (the pinned binary) against the test bed, with its own cache and config under the state dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed import paths


class HelmError(RuntimeError):
    """A helm command failed; the message holds its output."""


class Helm:
    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.binary = str(paths.binary("helm"))
        self.env = {"KUBECONFIG": str(kubeconfig), "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data"),
                    "PATH": "/usr/bin:/bin"}

    def __call__(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise HelmError(f"helm {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def install(self, release: str, chart: Path, namespace: str, values: Path, wait_s: int) -> str:
        """Install (or upgrade, after a ``--keep`` run) and wait for the operator Deployment to be Available."""
        return self("upgrade", "--install", release, str(chart), "--namespace", namespace, "--create-namespace",
                    "--values", str(values), "--wait", "--timeout", f"{wait_s}s", timeout=wait_s + 60)

    def uninstall(self, release: str, namespace: str) -> bool:
        """Uninstall and wait for its resources to go; False when there was no such release."""
        if release not in self("list", "--namespace", namespace, "--short", "--all", timeout=60).split():
            return False
        self("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s", timeout=180)
        return True
