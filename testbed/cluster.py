"""The control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

Ports are picked free at start and written to ``state.json``, so several checkouts can each run a
test bed and ``testbed env`` can tell a shell where this one is. Start order follows the data flow:
etcd -> apiserver -> (controller-manager, scheduler, kwok) -> node pools.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from testbed import paths
from testbed.kube import KubeClient
from testbed.pki import FRONT_PROXY_CLIENT, Pki, ensure_pki
from testbed.pools import DEFAULT_POOLS, NodePool, node_manifest
from testbed.processes import ManagedProcess, ProcessStartError, free_port
from testbed.prometheus import Prometheus, file_scrape
from testbed.provisioner import STORAGE_CLASS
from testbed.realnode import RealNode, RealNodeUnavailableError
from testbed.realnode.network import GATEWAY, SERVICE_CIDR

#: Pod lifecycles (including fake failing images) the fake kubelets play; see the file's header.
KWOK_STAGES = Path(__file__).parent / "kwok-stages.yaml"

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "provisioner")

#: Starts tried before a failure is reported (a port race is the usual cause of a failed start).
START_ATTEMPTS = 2

#: kwok hands out fake pod IPs from here; the real node routes them nowhere (realnode/network.py).
POD_CIDR = "10.244.0.1/16"  # inside KWOK_CIDR: the first address kwok hands out, and the mask


#: How often kube-controller-manager's HPA controller evaluates every HorizontalPodAutoscaler (and
#: re-discovers the metrics APIs). Kubernetes' default is 15s; a time-compressed benchmark of the real
#: HPA sets e.g. ``DIFFUSION_TESTBED_HPA_SYNC_PERIOD=1.5s`` before ``testbed up`` (read at start only).
HPA_SYNC_PERIOD_ENV = "DIFFUSION_TESTBED_HPA_SYNC_PERIOD"
HPA_SYNC_PERIOD_DEFAULT = "15s"


def hpa_sync_period() -> str:
    """The ``--horizontal-pod-autoscaler-sync-period`` value: a Go duration (``1.5s``, ``500ms``)."""
    value = os.environ.get(HPA_SYNC_PERIOD_ENV, "").strip() or HPA_SYNC_PERIOD_DEFAULT
    if not re.fullmatch(r"(\d+(\.\d+)?(ms|s|m))+", value):
        raise ValueError(f"{HPA_SYNC_PERIOD_ENV}={value!r} is not a duration such as 15s, 1.5s or 500ms")
    return value


@dataclass
class ClusterState:
    state_dir: str
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    scheduler_port: int
    kwok_port: int
    started_at: float
    start_seconds: float = 0.0
    #: Whether this test bed runs the real node (testbed/realnode), and if it could not, why.
    real_node: bool = False
    real_node_error: str = ""

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return Path(self.state_dir) / "admin.kubeconfig"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def load_state(state_dir: Path | None = None) -> ClusterState | None:
    state_dir = state_dir or paths.state_dir()
    try:
        return ClusterState(**json.loads(_state_file(state_dir).read_text()))
    except FileNotFoundError:
        return None


def write_kubeconfig(
    path: Path, server: str, pki: Pki, *, user: str = "admin", cert: Path | None = None, key: Path | None = None
) -> None:
    """A kubeconfig for ``server`` authenticating with a client certificate (the admin's by default)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "testbed", "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(cert or pki.admin_cert), "client-key": str(key or pki.admin_key)},
            }
        ],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": user}}],
        "current-context": "testbed",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def _https_ok(url: str, pki: Pki) -> bool:
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # component serving certs are self-signed by the component
    with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
        return bool(resp.status == 200)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


class Cluster:
    """A running (or startable) test-bed cluster rooted at one state directory."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or paths.state_dir()).resolve()
        self.pki = ensure_pki(self.state_dir / "pki")
        self.state = load_state(self.state_dir)

    # -- queries -------------------------------------------------------------------------------
    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.state_dir)

    def running(self) -> dict[str, bool]:
        alive = {name: self.process(name).alive() for name in COMPONENTS}
        if self.state is not None and self.state.real_node:
            alive.update(self.real_node().running())
        return alive

    def real_node(self) -> RealNode:
        return RealNode(self.state_dir, self.pki)

    def healthy(self) -> bool:
        if self.state is None or not all(self.running().values()):
            return False
        try:
            return _https_ok(f"{self.state.server}/readyz", self.pki)
        except OSError:
            return False

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "admin.kubeconfig"

    @property
    def volumes_dir(self) -> Path:
        """Where the provisioner makes PersistentVolume directories (removed with the cluster)."""
        return self.state_dir / "volumes"

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self, pools: Sequence[NodePool] = DEFAULT_POOLS, *, real_node: bool = False) -> ClusterState:
        """Start every component that is not running; idempotent.

        ``real_node`` adds the real kubelet node (one per machine: it owns a bridge and routes). When
        the host cannot run it, the cluster still starts and ``state.real_node_error`` says why.
        """
        if self.healthy() and (self.state is None or self.state.real_node or not real_node):
            assert self.state is not None
            self.apply_pools(pools)
            return self.state
        started = time.monotonic()
        for attempt in range(START_ATTEMPTS):
            self.down()
            self.state = ClusterState(
                state_dir=str(self.state_dir),
                etcd_client_port=free_port(),
                etcd_peer_port=free_port(),
                apiserver_port=free_port(),
                controller_manager_port=free_port(),
                scheduler_port=free_port(),
                kwok_port=free_port(),
                started_at=time.time(),
                real_node=real_node,
            )
            write_kubeconfig(self.kubeconfig, self.state.server, self.pki)
            try:
                self._start_etcd()
                self._start_apiserver()
                self._start_controllers()
                break
            except ProcessStartError:
                # A free port can be taken by another process between our probe and the server's bind
                # ("address already in use"): start again on fresh ports before giving up.
                if attempt + 1 == START_ATTEMPTS:
                    raise
        self.apply_pools(pools)
        assert self.state is not None
        if real_node:
            self._start_real_node()
        self.state.start_seconds = round(time.monotonic() - started, 2)
        _state_file(self.state_dir).write_text(json.dumps(asdict(self.state), indent=2))
        return self.state

    # -- the test bed's Prometheus --------------------------------------------------------------
    @property
    def targets_dir(self) -> Path:
        """Drop ``<name>.json`` file_sd files here to have the test bed's Prometheus scrape them."""
        return self.state_dir / "scrape-targets"

    def prometheus(self) -> Prometheus:
        return Prometheus(self.state_dir, name="prometheus", port=self._prometheus_port())

    def _prometheus_port(self) -> int | None:
        url = self.state_dir / "prometheus.url"
        return int(url.read_text().rsplit(":", 1)[1]) if url.exists() else None

    def start_prometheus(self) -> str:
        """Prometheus scraping whatever ``targets_dir`` lists (idempotent); returns its URL."""
        prom = self.prometheus()
        if prom.process.alive():
            return prom.url
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        url = prom.start([file_scrape("triton", self.targets_dir)])
        (self.state_dir / "prometheus.url").write_text(url)
        return url

    def _start_real_node(self) -> None:
        assert self.state is not None
        node = self.real_node()
        try:
            node.up(self.state.server, write_kubeconfig)
            node.wait_ready_and_advertise_gpus(KubeClient(self.kubeconfig))
        except (RealNodeUnavailableError, ProcessStartError) as err:  # the cluster still serves kwok's pools
            node.down()
            self.state.real_node, self.state.real_node_error = False, str(err)

    def down(self) -> None:
        if self.state is None or self.state.real_node:
            self.real_node().down()
        self.prometheus().stop()
        (self.state_dir / "prometheus.url").unlink(missing_ok=True)
        self.process("metrics-adapter").stop()  # testbed/metrics_adapter.py, when a test started one
        for name in reversed(COMPONENTS):
            self.process(name).stop()
        _state_file(self.state_dir).unlink(missing_ok=True)
        # etcd data is throw-away: a fresh `up` is a fresh cluster.
        for data in (self.state_dir / "etcd-data", self.volumes_dir):
            shutil.rmtree(data, ignore_errors=True)
        self.state = None

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver on the same port (fault injection: clients must reconnect)."""
        self.process("kube-apiserver").stop()
        self._start_apiserver()

    # -- components ----------------------------------------------------------------------------
    def _start_etcd(self) -> None:
        assert self.state is not None
        s = self.state
        proc = self.process("etcd")
        proc.start(
            [
                str(paths.binary("etcd")),
                "--name=testbed",
                f"--data-dir={self.state_dir / 'etcd-data'}",
                f"--listen-client-urls=http://127.0.0.1:{s.etcd_client_port}",
                f"--advertise-client-urls=http://127.0.0.1:{s.etcd_client_port}",
                f"--listen-peer-urls=http://127.0.0.1:{s.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{s.etcd_peer_port}",
                f"--initial-cluster=testbed=http://127.0.0.1:{s.etcd_peer_port}",
                "--unsafe-no-fsync",  # a test bed trades durability for speed
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ]
        )
        proc.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{s.etcd_client_port}/health"), timeout=30)

    def _start_apiserver(self) -> None:
        assert self.state is not None
        s, pki = self.state, self.pki
        proc = self.process("kube-apiserver")
        proc.start(
            [
                str(paths.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{s.etcd_client_port}",
                *self._apiserver_address_flags(),
                f"--secure-port={s.apiserver_port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                # As on a real cluster: kubelets are confined to their own node and its pods.
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={pki.kubelet_client_cert}",
                f"--kubelet-client-key={pki.kubelet_client_key}",
                # Node names resolve nowhere here (and a DNS lookup would leave the machine).
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-account-issuer={s.server}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                *self._aggregation_flags(),
                "--allow-privileged=true",
                "--profiling=false",
                f"--cert-dir={self.state_dir / 'apiserver-certs'}",
                "--v=1",
            ]
        )
        proc.wait_ready(lambda: _https_ok(f"{s.server}/readyz", pki), timeout=90, interval=0.25)

    def _aggregation_flags(self) -> list[str]:
        """The aggregation layer, as kubeadm configures it: requests for an APIService (the metrics
        adapter's ``custom.metrics.k8s.io``) are proxied with the front-proxy client cert and the
        user in ``X-Remote-*`` headers, straight to the Service's endpoint IP (no kube-proxy here)."""
        pki = self.pki
        return [
            f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
            f"--proxy-client-key-file={pki.front_proxy_client_key}",
            "--enable-aggregator-routing=true",
        ]

    def _apiserver_address_flags(self) -> list[str]:
        """Loopback only, unless the real node runs: its pods reach the API server through the
        ``kubernetes`` Service, whose endpoint is the node bridge's gateway address."""
        assert self.state is not None
        if not self.state.real_node:
            # The `kubernetes` Service would point at loopback, which validation refuses: no reconciler.
            return ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none"]
        return ["--bind-address=0.0.0.0", f"--advertise-address={GATEWAY}", "--endpoint-reconciler-type=lease"]

    def _component_kubeconfig_flags(self) -> list[str]:
        kc = str(self.kubeconfig)
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ]

    def _start_controllers(self) -> None:
        assert self.state is not None
        s, pki = self.state, self.pki
        kcm = self.process("kube-controller-manager")
        kcm.start(
            [
                str(paths.binary("kube-controller-manager")),
                *self._component_kubeconfig_flags(),
                f"--secure-port={s.controller_manager_port}",
                f"--cert-dir={self.state_dir / 'kcm-certs'}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*,-nodeipam",
                # Test-bed pace: the default client QPS of 20 would make a 1,000-service benchmark
                # measure the controller-manager's rate limiter instead of the operator.
                "--kube-api-qps=300",
                "--kube-api-burst=600",
                "--concurrent-gc-syncs=20",
                "--concurrent-job-syncs=20",
                "--concurrent-deployment-syncs=20",
                "--concurrent-replicaset-syncs=20",
                f"--horizontal-pod-autoscaler-sync-period={hpa_sync_period()}",
                "--v=1",
            ]
        )
        scheduler = self.process("kube-scheduler")
        scheduler.start(
            [
                str(paths.binary("kube-scheduler")),
                *self._component_kubeconfig_flags(),
                f"--secure-port={s.scheduler_port}",
                f"--cert-dir={self.state_dir / 'scheduler-certs'}",
                "--kube-api-qps=300",
                "--kube-api-burst=600",
                "--v=1",
            ]
        )
        kwok = self.process("kwok")
        kwok.start(
            [
                str(paths.binary("kwok")),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--manage-nodes-with-label-selector=",
                "--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
                "--disregard-status-with-label-selector=",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.244.0.1",
                f"--server-address=127.0.0.1:{s.kwok_port}",
                "--node-lease-duration-seconds=40",
            ]
        )
        kcm.wait_ready(
            lambda: _https_ok(f"https://127.0.0.1:{s.controller_manager_port}/healthz", pki), timeout=60
        )
        scheduler.wait_ready(
            lambda: _https_ok(f"https://127.0.0.1:{s.scheduler_port}/healthz", pki), timeout=60
        )
        kwok.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{s.kwok_port}/healthz"), timeout=60)
        provisioner = self.process("provisioner")
        provisioner.start([sys.executable, "-m", "testbed.provisioner", f"--kubeconfig={self.kubeconfig}",
                           f"--volumes-dir={self.volumes_dir}"], cwd=paths.REPO_ROOT)

    def apply_pools(self, pools: Sequence[NodePool]) -> None:
        """Create the default StorageClass and the pools' Nodes (server-side apply: re-running is harmless)."""
        client = KubeClient(self.kubeconfig)
        client.apply(STORAGE_CLASS, field_manager="testbed")
        for pool in pools:
            for index in range(pool.nodes):
                client.apply(node_manifest(pool, index), field_manager="testbed")
