"""The state the demo's stages share: options, output, the cluster and what each stage leaves for the next."""

from __future__ import annotations

from typing import Any

from diffusion_operator.client.triton import Endpoint
from rich.console import Console

from testbed.cluster import Cluster
from testbed.demo.footprint import Footprint
from testbed.demo.monitoring import DemoMonitoring
from testbed.demo.options import OPERATOR_NAMESPACE, DemoOptions
from testbed.demo.report import DemoReport, Stages
from testbed.kube import KubeClient


class Demo:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options, self.console = options, console
        self.report = DemoReport()
        self.stages = Stages(console, self.report)
        self.cluster = Cluster(options.state_dir)
        self.ns = options.namespace
        self.footprint = Footprint()
        self.monitoring = DemoMonitoring(self.cluster)
        self._kube: KubeClient | None = None
        #: The DiffusionService's status once Ready (endpoints, engine).
        self.status: dict[str, Any] = {}
        #: Where clients reach the service: its in-cluster name resolved to the ClusterIP.
        self.endpoint: Endpoint | None = None

    @property
    def kube(self) -> KubeClient:
        if self._kube is None:
            self._kube = KubeClient(self.cluster.kubeconfig)
        return self._kube

    def remember(self, *, release: tuple[str, str] | None = None, namespace: str | None = None,
                 crd: str | None = None) -> None:
        """Record what was just created on the cluster (footprint.py), before anything else can fail."""
        if release is not None:
            self.footprint.release = release
        if namespace is not None and namespace not in self.footprint.namespaces:
            self.footprint.namespaces.append(namespace)
        if crd is not None and crd not in self.footprint.crds:
            self.footprint.crds.append(crd)
        self.footprint.save(self.cluster.state_dir)
        self.report.started.update(release="/".join(self.footprint.release or ()),
                                   namespaces=list(self.footprint.namespaces), crds=list(self.footprint.crds))

    def remember_process(self, name: str, pid: int | None) -> None:
        if pid is not None:
            self.report.started.setdefault("processes", {})[name] = pid

    def pods(self, namespace: str, selector: str) -> list[Any]:
        """Pods as the typed client models (timestamps as datetimes), not deleted ones."""
        found: Any = self.kube.core.list_namespaced_pod(namespace, label_selector=selector)
        return [p for p in found.items if p.metadata.deletion_timestamp is None]

    def diagnostics(self) -> str:
        """The demo's pods, events and log tails in both its namespaces: what a failed wait prints."""
        parts = []
        for namespace in (self.ns, OPERATOR_NAMESPACE):
            try:
                parts.append(self.kube.dump_pods(namespace, log_lines=15))
            except Exception as err:  # a namespace that is not there yet
                parts.append(f"=== {namespace}: {err}")
        return "\n".join(parts)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        obj = self.kube.get(api_version, kind, name, namespace or self.ns)
        if obj is None:
            raise RuntimeError(f"{kind} {namespace or self.ns}/{name} disappeared")
        return obj
