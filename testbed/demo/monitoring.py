"""The demo's Prometheus: found by the operator pod, and following ServiceMonitors like the Prometheus Operator.

It listens on the real node's bridge gateway (``testbed.realnode.network.GATEWAY``), the one address
both the operator's pod and this machine's processes reach. The test bed's own Prometheus
(``Cluster.start_prometheus``) stays on loopback for the file_sd-based tests; the demo starts its own
so it neither changes that one's address nor mixes its scrape jobs into theirs.

Its scrape jobs are whatever ``testbed.servicemonitors`` makes of the ServiceMonitors in the demo's
namespaces (the operator renders one per DiffusionService; the chart one for the operator itself):
the translator runs as the ``demo-servicemonitors`` process next to it.
"""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any

from testbed import servicemonitors
from testbed.cluster import Cluster
from testbed.demo.manifests import CRD_API, apply_crd
from testbed.demo.options import PROMETHEUS, TRANSLATOR
from testbed.kube import KubeClient
from testbed.paths import REPO_ROOT
from testbed.processes import ManagedProcess
from testbed.prometheus import Prometheus
from testbed.realnode.network import GATEWAY


def install_service_monitor_crd(kube: KubeClient) -> bool:
    """The ServiceMonitor CRD, unless one is there (a real Prometheus Operator's is left as it is).

    Installed before the operator starts: it renders a ServiceMonitor only where the kind is served.
    Returns whether the demo created it.
    """
    if kube.get(CRD_API, "CustomResourceDefinition", servicemonitors.CRD["metadata"]["name"]) is not None:
        return False
    apply_crd(kube, servicemonitors.CRD)
    kube.dynamic.resources.invalidate_cache()
    return True


def _synced(process: ManagedProcess) -> bool:
    """The translator has written its first config (the log since its latest start says so)."""
    log = process.log_path.read_text(errors="replace").rsplit("\n--- ", 1)[-1]
    return "scrape jobs from" in log


class DemoMonitoring:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.prometheus = Prometheus(cluster.state_dir, name=PROMETHEUS, host=GATEWAY)
        self.translator = ManagedProcess(TRANSLATOR, cluster.state_dir)

    def start(self, namespaces: list[str]) -> str:
        """Prometheus (no jobs yet), then the translator that gives it the ServiceMonitors' jobs."""
        assert self.cluster.state is not None
        pki = self.cluster.pki
        url = self.prometheus.start([])
        self.translator.start(
            [sys.executable, "-m", "testbed.servicemonitors", f"--kubeconfig={self.cluster.kubeconfig}",
             f"--api-server={self.cluster.state.server}", f"--ca-file={pki.ca_cert}",
             f"--cert-file={pki.admin_cert}", f"--key-file={pki.admin_key}",
             f"--state-dir={self.cluster.state_dir}", f"--prometheus={PROMETHEUS}",
             *(f"--namespace={n}" for n in namespaces)],
            cwd=REPO_ROOT)
        self.translator.wait_ready(lambda: _synced(self.translator), timeout=30, interval=0.2)
        return url

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self.prometheus.query(promql)

    def targets(self, selector: str) -> list[dict[str, str]]:
        """Labels of the ``up`` series matching ``selector`` (what Prometheus discovered and scraped)."""
        return [dict(series["metric"], up=series["value"][1]) for series in self.query(f"up{{{selector}}}")]

    def graph_url(self, promql: str) -> str:
        return f"{self.prometheus.url}/graph?" + urllib.parse.urlencode({"g0.expr": promql, "g0.tab": "0"})
