"""The metrics adapter: ``custom.metrics.k8s.io`` answered from Prometheus, for the real HPA.

kube-controller-manager's HorizontalPodAutoscaler reads Pods metrics only through the aggregated
``custom.metrics.k8s.io`` API. Triton's k8s-onprem chart serves it with prometheus-adapter, which
cannot be fetched here, so ``tools/gobin/metrics-adapter`` (built from
``sigs.k8s.io/custom-metrics-apiserver``, see its package doc) plays that part with the same per-pod
rule semantics. It runs as a host process of the test bed, like Prometheus:

- it serves TLS with a certificate from the test bed's CA, on this machine's own non-loopback
  address (Endpoints refuse 127.0.0.0/8, and the API server routes to the endpoint IP: there is no
  kube-proxy for ClusterIPs);
- it runs as the ServiceAccount ``custom-metrics/metrics-adapter`` with what prometheus-adapter's
  manifests grant (``system:auth-delegator``, ``extension-apiserver-authentication-reader``, and
  reading pods), delegates authentication and authorization to the API server, and trusts the
  aggregator's ``X-Remote-User`` headers through the front-proxy CA (testbed/pki.py);
- it is registered by a selectorless Service and its EndpointSlice in ``custom-metrics`` and the
  ``APIService`` ``v1beta2.custom.metrics.k8s.io``.

A metric is a name and a query template (prometheus-adapter's ``metricsQuery`` syntax):
``<<.LabelMatchers>>`` restricts it to the namespace and the pods asked for, ``<<.GroupBy>>`` is
``pod``, ``<<.Window>>`` the range (``window``; the chart's 30 s, shorter for a compressed benchmark).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from testbed import paths
from testbed.cluster import Cluster
from testbed.kube import KubeClient, WaitTimeoutError, condition, service_account_kubeconfig
from testbed.pki import issue_serving_cert
from testbed.processes import ManagedProcess, free_port, log_tail

#: Triton's k8s-onprem chart's HPA metric, per pod: queue time per request over the window (µs).
#: (Triton server#8979: it averages per-model ratios; kept as the chart has it, to compare with.)
TRITON_CHART_QUEUE_QUERY = (
    "avg(delta(nv_inference_queue_duration_us{<<.LabelMatchers>>}[<<.Window>>])"
    "/(1+delta(nv_inference_request_success{<<.LabelMatchers>>}[<<.Window>>]))) by (<<.GroupBy>>)"
)

NAMESPACE = "custom-metrics"
SERVICE = "metrics-adapter"
API_GROUP = "custom.metrics.k8s.io"
API_VERSION = "v1beta2"
APISERVICE = f"{API_VERSION}.{API_GROUP}"
PROCESS = "metrics-adapter"
FIELD_MANAGER = "testbed-metrics-adapter"
_PORT_NAME = "https"
#: Lifetime of the adapter's ServiceAccount token: longer than any benchmark that keeps it running.
TOKEN_SECONDS = 24 * 3600


class MetricsAdapterUnavailableError(RuntimeError):
    """The APIService did not become Available; the message holds its condition and the log tail."""


def host_address() -> str:
    """This machine's first global IPv4 address: local (the API server reaches it without leaving the
    host) and not loopback (an EndpointSlice refuses 127.0.0.0/8)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                             text=True, timeout=5, check=True).stdout
        for match in re.finditer(r"\binet (\d+\.\d+\.\d+\.\d+)/", out):
            return match.group(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # no packet is sent
        probe.connect(("10.255.255.255", 1))
        address = str(probe.getsockname()[0])
    if ipaddress.ip_address(address).is_loopback:
        raise MetricsAdapterUnavailableError("this machine has no non-loopback IPv4 address")
    return address


def go_duration(window: float | str) -> str:
    """Seconds (``1.5``) or a Go duration (``"30s"``) as the adapter's ``--window`` flag."""
    if isinstance(window, str):
        return window
    return f"{round(window * 1000)}ms"


@dataclass
class MetricsAdapter:
    """A running adapter registered with the API server; :meth:`stop` unregisters and stops it."""

    cluster: Cluster
    address: str
    port: int
    metrics: dict[str, str]
    window: str
    #: Seconds from the APIService's creation to its ``Available=True`` condition.
    available_after: float = 0.0

    @property
    def process(self) -> ManagedProcess:
        return self.cluster.process(PROCESS)

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    def stop(self) -> None:
        """The APIService goes first: an unavailable aggregated API breaks every client's discovery.
        The namespace and its ServiceAccount stay (deleting a namespace would race the next start)."""
        kube = KubeClient(self.cluster.kubeconfig)
        for manifest in reversed(identity() + registration(self.address, self.port, b"")):
            if manifest["kind"] not in ("Namespace", "ServiceAccount"):
                meta = manifest["metadata"]
                kube.delete(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        self.process.stop()


def start_metrics_adapter(cluster: Cluster, prometheus_url: str, metrics: Mapping[str, str],
                          window: float | str = "30s", *, timeout: float = 90) -> MetricsAdapter:
    """Start the adapter serving ``metrics`` (name -> query template) from ``prometheus_url``,
    register it and wait until the API server reports the APIService Available."""
    state = cluster.state_dir / PROCESS
    state.mkdir(parents=True, exist_ok=True)
    address, port = host_address(), free_port()
    cert, key = issue_serving_cert(cluster.pki, state, SERVICE,
                                   dns=[f"{SERVICE}.{NAMESPACE}.svc", f"{SERVICE}.{NAMESPACE}.svc.cluster.local"],
                                   ips=[address])
    config = state / "config.json"
    config.write_text(json.dumps({"metrics": [{"name": n, "query": q} for n, q in sorted(metrics.items())]},
                                 indent=2))
    adapter = MetricsAdapter(cluster, address, port, dict(metrics), go_duration(window))
    kube = KubeClient(cluster.kubeconfig)
    for manifest in identity():
        kube.apply(manifest, field_manager=FIELD_MANAGER)
    kubeconfig = str(service_account_kubeconfig(kube, NAMESPACE, SERVICE, state / "kubeconfig", seconds=TOKEN_SECONDS))
    adapter.process.stop()
    adapter.process.start([
        str(paths.binary("metrics-adapter")),
        f"--prometheus-url={prometheus_url}",
        f"--config={config}",
        f"--window={adapter.window}",
        f"--bind-address={address}",
        f"--secure-port={port}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={key}",
        f"--cert-dir={state / 'certs'}",
        f"--lister-kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--v=1",
    ])
    adapter.process.wait_ready(lambda: _healthy(adapter.url, cluster), timeout=60, interval=0.2)
    for manifest in registration(address, port, cluster.pki.ca_cert.read_bytes()):
        kube.apply(manifest, field_manager=FIELD_MANAGER)
    created = time.monotonic()
    try:
        wait_available(cluster, timeout)
    except MetricsAdapterUnavailableError:
        adapter.stop()
        raise
    adapter.available_after = round(time.monotonic() - created, 2)
    return adapter


def identity() -> list[dict[str, Any]]:
    """The adapter's namespace, ServiceAccount and RBAC (prometheus-adapter's, less what it does not
    use): delegated authn/authz, reading the front-proxy CA from kube-system, and listing pods."""
    rbac = "rbac.authorization.k8s.io/v1"
    subject = [{"kind": "ServiceAccount", "name": SERVICE, "namespace": NAMESPACE}]
    lister = f"{SERVICE}-pod-reader"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE, "namespace": NAMESPACE}},
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": lister},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": lister}, "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": lister}},
        {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": f"{SERVICE}:system:auth-delegator"},
         "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"}},
        {"apiVersion": rbac, "kind": "RoleBinding",
         "metadata": {"name": f"{SERVICE}-auth-reader", "namespace": "kube-system"}, "subjects": subject,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "extension-apiserver-authentication-reader"}},
    ]


def registration(address: str, port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The selectorless Service, its EndpointSlice (the host process) and the APIService."""
    labels = {"app.kubernetes.io/name": SERVICE, "app.kubernetes.io/managed-by": "testbed"}
    return [
        {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
            "spec": {"ports": [{"name": _PORT_NAME, "port": 443, "targetPort": port, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {
                **labels, "kubernetes.io/service-name": SERVICE,
                "endpointslice.kubernetes.io/managed-by": "testbed-metrics-adapter"}},
            "addressType": "IPv4",
            "ports": [{"name": _PORT_NAME, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": APISERVICE, "labels": labels},
            "spec": {
                "group": API_GROUP, "version": API_VERSION,
                "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443},
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100, "versionPriority": 200,
            },
        },
    ]


def pods_metric_hpa(name: str, namespace: str, deployment: str, metric: str, average_value: float | str, *,
                    min_replicas: int = 1, max_replicas: int = 10,
                    behavior: Mapping[str, Any] | None = None,
                    scale_target_ref: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An ``autoscaling/v2`` HPA on one Pods metric with an AverageValue target, as the k8s-onprem chart
    writes it (``behavior`` None: Kubernetes' defaults, 300 s scale-down window). It scales the
    Deployment ``deployment`` unless ``scale_target_ref`` names another target (any /scale subresource)."""
    target = scale_target_ref or {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}
    spec: dict[str, Any] = {
        "scaleTargetRef": dict(target),
        "minReplicas": min_replicas, "maxReplicas": max_replicas,
        "metrics": [{"type": "Pods", "pods": {
            "metric": {"name": metric},
            "target": {"type": "AverageValue", "averageValue": str(average_value)},
        }}],
    }
    if behavior is not None:
        spec["behavior"] = dict(behavior)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def wait_available(cluster: Cluster, timeout: float = 90) -> None:
    """Until the APIService's ``Available`` condition is True (the aggregator reached the adapter's
    discovery document through the Service's endpoint)."""
    try:
        KubeClient(cluster.kubeconfig).wait_for("apiregistration.k8s.io/v1", "APIService", APISERVICE, None,
                      lambda s: condition(s, "Available") == "True", what="Available", timeout=timeout)
    except WaitTimeoutError as err:
        tail = log_tail(cluster.process(PROCESS).log_path, 20)
        raise MetricsAdapterUnavailableError(f"{err}\n--- {PROCESS} log:\n{tail}") from err


def _healthy(url: str, cluster: Cluster) -> bool:
    ctx = ssl.create_default_context(cafile=str(cluster.pki.ca_cert))
    ctx.check_hostname = False  # the cert names the Service and the address; the probe dials the address
    ctx.load_cert_chain(str(cluster.pki.admin_cert), str(cluster.pki.admin_key))
    with urllib.request.urlopen(f"{url}/healthz", context=ctx, timeout=2) as resp:
        return bool(resp.status == 200)
