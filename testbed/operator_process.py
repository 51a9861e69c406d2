"""The operator as a separate process against the test bed, as it runs in a cluster (minus the pod).

Tests start it like a platform team would (``diffusion-operator run``), talk to it only through
the API server, and can SIGKILL it to prove that a restart converges without duplicates.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from testbed.processes import ManagedProcess, free_port


class OperatorProcess:
    def __init__(self, state_dir: Path, kubeconfig: Path, name: str = "operator",
                 env: dict[str, str] | None = None, extra_args: list[str] | None = None) -> None:
        self.process = ManagedProcess(name, state_dir)
        self.kubeconfig = kubeconfig
        self.env = env or {}
        self.extra_args = extra_args or []
        self.liveness_port = free_port()
        self.metrics_port = free_port()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def _alive(self) -> bool:
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)

    def start(self, timeout: float = 60) -> None:
        entry = Path(sys.executable).parent / "diffusion-operator"
        self.process.start(
            [str(entry), "run", f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
             f"--metrics-port={self.metrics_port}", "--log-format=json", *self.extra_args],
            # MALLOC_ARENA_MAX=2 as in the operator image: glibc's per-thread arenas otherwise inflate RSS.
            env={"KUBECONFIG": str(self.kubeconfig), "MALLOC_ARENA_MAX": "2", **self.env},
        )
        self.process.wait_ready(self._alive, timeout=timeout, interval=0.2)

    def stop(self) -> None:
        self.process.stop(grace=10)

    def kill(self) -> None:
        self.process.kill()
        self.process.stop(grace=1)

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")
