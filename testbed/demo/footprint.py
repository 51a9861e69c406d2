"""What the demo has put on the test bed, written down as it goes, so a later run, ``testbed demo --down``
or ``testbed down`` can take away exactly that, even after a crash or ``--keep``.

Processes are found by name (``demo-*`` pid files in the state dir); the cluster objects by this
record: the Helm release, the namespaces the demo created (not one it found), and the CRDs it
created (the ServiceMonitor CRD, when no Prometheus Operator had installed one; the product's CRDs
stay, as Helm's ``crds/`` do).
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testbed.cluster import Cluster
from testbed.demo.helm import Helm, HelmError
from testbed.demo.manifests import API
from testbed.demo.options import PROCESS_PREFIX, PROMETHEUS, TRANSLATOR
from testbed.kube import KubeClient
from testbed.processes import ManagedProcess

#: Stopped first: the translator before the Prometheus it reloads.
_STOP_ORDER = (TRANSLATOR, PROMETHEUS)


@dataclass
class Footprint:
    #: ``(namespace, release)`` of the chart's release.
    release: tuple[str, str] | None = None
    namespaces: list[str] = field(default_factory=list)
    crds: list[str] = field(default_factory=list)

    @staticmethod
    def path(state_dir: Path) -> Path:
        return state_dir / "demo" / "footprint.json"

    @classmethod
    def load(cls, state_dir: Path) -> Footprint:
        try:
            data = json.loads(cls.path(state_dir).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return cls()
        release = data.get("release")
        return cls(release=tuple(release) if release else None,  # type: ignore[arg-type]
                   namespaces=list(data.get("namespaces", [])), crds=list(data.get("crds", [])))

    def save(self, state_dir: Path) -> None:
        path = self.path(state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))


def demo_processes(state_dir: Path) -> list[ManagedProcess]:
    pids = state_dir / "pids"
    names = sorted(p.stem for p in pids.glob(f"{PROCESS_PREFIX}*.pid")) if pids.is_dir() else []
    ordered = [n for n in _STOP_ORDER if n in names] + [n for n in names if n not in _STOP_ORDER]
    return [ManagedProcess(name, state_dir) for name in ordered]


def _delete_services(kube: KubeClient, namespaces: list[str], timeout: float = 90) -> list[str]:
    """Delete the DiffusionServices in ``namespaces`` and wait for the operator to let them go; one it
    has not released by then (an operator that never started) loses its finalizer here. Then wait for
    their pods (the garbage collector deletes the children) to be gone: a namespace deleted while its
    pods still terminate backs off in the namespace controller for minutes."""
    found = [(ns, s.metadata.name) for ns in namespaces if kube.get("v1", "Namespace", ns) is not None
             for s in _services(kube, ns)]
    for namespace, name in found:
        kube.delete(API, "DiffusionService", name, namespace)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(kube.get(API, "DiffusionService", n, ns) for ns, n in found):
        time.sleep(0.5)
    for namespace, name in found:
        if kube.get(API, "DiffusionService", name, namespace) is not None:
            kube.resource(API, "DiffusionService").patch(name=name, namespace=namespace,
                                                         body={"metadata": {"finalizers": None}},
                                                         content_type="application/merge-patch+json")
    while time.monotonic() < deadline + 60 and any(kube.items("v1", "Pod", ns) for ns, _ in found):
        time.sleep(0.5)
    return [f"diffusionservice {ns}/{name}" for ns, name in found]


def _services(kube: KubeClient, namespace: str) -> list[Any]:
    try:
        return kube.items(API, "DiffusionService", namespace)
    except Exception:  # the CRD is not installed: nothing to delete
        return []


def stop_demo(cluster: Cluster, *, remove_from_cluster: bool) -> list[str]:
    """Stop the demo's processes and, with ``remove_from_cluster``, uninstall and delete what it created.

    Without it (``testbed down``: the cluster goes anyway) only the processes are stopped. Returns
    what was stopped or removed, for the one line the CLI prints.
    """
    state_dir = cluster.state_dir
    footprint = Footprint.load(state_dir)
    done: list[str] = []
    if remove_from_cluster and cluster.healthy():
        kube = KubeClient(cluster.kubeconfig)
        # Services first, while their operator runs: it removes its finalizer from each. Uninstalled
        # first, the operator is gone and the namespace waits on those finalizers for ever.
        done.extend(_delete_services(kube, footprint.namespaces))
        if footprint.release is not None:
            namespace, release = footprint.release
            with contextlib.suppress(HelmError):
                if Helm(cluster.kubeconfig, state_dir / "demo" / "helm").uninstall(release, namespace):
                    done.append(f"helm release {namespace}/{release}")
        for namespace in footprint.namespaces:
            kube.delete("v1", "Namespace", namespace)
            done.append(f"namespace {namespace}")
        for crd in footprint.crds:
            kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)
            done.append(f"CRD {crd}")
    for process in demo_processes(state_dir):
        if process.alive():
            done.append(process.name)
        process.stop(grace=15)
    Footprint.path(state_dir).unlink(missing_ok=True)
    return done
