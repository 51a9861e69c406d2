"""One real Kubernetes node on this machine: containerd + runc + CNI, the kubelet and kube-proxy.

kwok's nodes only pretend; this one runs the product's containers, so what a claim says a pod does
can be shown. Start order follows the dependencies: the bridge (the node's address) -> containerd
(with the CNI config, so the node turns Ready as soon as the kubelet registers) -> the product's
images -> kubelet (registers with its own ``system:node:real-0`` certificate) -> the GPU capacity
patch -> kube-proxy (Services). ``down`` undoes it in reverse and also cleans what a killed run
left: containers, mounts, network namespaces, kube-proxy's iptables chains.

containerd's root (content store and unpacked snapshots) lives in the user cache, not the test
bed's state directory: importing a multi-GB image takes minutes, and a second test bed on the same
machine finds it already there.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from diffusion_operator.api.gpus import GPU_RESOURCE

from testbed import paths
from testbed.images import PAUSE_TAG, ImageBuildError, import_images
from testbed.kube import KubeClient
from testbed.pki import REAL_NODE_NAME, Pki
from testbed.processes import ManagedProcess, ProcessStartError, free_port, log_tail
from testbed.realnode import kubelet as kubelet_cfg
from testbed.realnode import network, prereqs
from testbed.realnode.runtime import (
    RuntimeLayout,
    containerd_config,
    ctr,
    remove_all_containers,
    write_registry_hosts,
)

COMPONENTS = ("containerd", "kubelet", "kube-proxy")
#: Seconds a registered node may take to report Ready (CNI config loaded, runtime up).
READY_TIMEOUT = 90


class RealNodeUnavailableError(RuntimeError):
    """This host cannot run the real node; the message names each missing prerequisite and its fix."""


def containerd_root() -> Path:
    return paths.cache_root() / "containerd"


def owner_file() -> Path:
    """Names the state directory of the test bed whose real node runs on this machine (one at most:
    the bridge, routes and iptables chains are host-wide)."""
    return paths.cache_root() / "real-node-owner"


def running_owner(me: Path) -> Path | None:
    """Another test bed whose real node is alive, if any (a stale record of a dead one is ignored)."""
    try:
        owner = Path(owner_file().read_text().strip())
    except FileNotFoundError:
        return None
    if owner.resolve() == me.resolve():
        return None
    alive = any(ManagedProcess(name, owner).alive() for name in COMPONENTS)
    return owner if alive else None


def _unmount_under(base: Path) -> None:
    """Lazily unmount every mount below ``base`` (deepest first): tmpfs volumes, subPath binds, rootfs."""
    resolved = str(base.resolve())
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines]
    for point in sorted((p for p in points if p == resolved or p.startswith(resolved + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


class RealNode:
    """The real node of the test bed rooted at ``state_dir``."""

    def __init__(self, state_dir: Path, pki: Pki) -> None:
        self.state_dir = state_dir
        self.pki = pki
        self.base = state_dir / "node"
        self.layout = RuntimeLayout(self.base / "containerd")

    # -- queries -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return REAL_NODE_NAME

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.state_dir)

    def running(self) -> dict[str, bool]:
        return {name: self.process(name).alive() for name in COMPONENTS}

    @property
    def kubelet_dir(self) -> Path:
        return self.base / "kubelet"

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self, server: str, write_kubeconfig: Callable[..., None]) -> None:
        """Start the node against the API server at ``server``; raises RealNodeUnavailableError first
        when the host lacks something, with the fix."""
        lacking = prereqs.missing()
        if lacking:
            raise RealNodeUnavailableError(prereqs.explain(lacking))
        other = running_owner(self.state_dir)
        if other is not None:
            raise RealNodeUnavailableError(f"the test bed at {other} runs this machine's real node (testbed down)")
        owner_file().parent.mkdir(parents=True, exist_ok=True)
        owner_file().write_text(str(self.state_dir.resolve()))
        self.down()
        network.setup()
        self._start_containerd()
        try:
            imported = import_images("ctr", self.layout.socket)
        except ImageBuildError as err:  # no sandbox image, no pod: the node is of no use yet
            raise RealNodeUnavailableError(str(err)) from err
        if imported:
            print(f"imported into the real node: {', '.join(imported)}", file=sys.stderr)
        self._start_kubelet(server, write_kubeconfig)
        self._start_kube_proxy(server, write_kubeconfig)

    def down(self) -> None:
        """Stop and clean up this test bed's node; another test bed's running node is left alone.

        The bridge, routes and iptables chains are host-wide: a test bed that never ran a node here
        (no ``node`` directory) or whose node another test bed now owns touches none of them.
        """
        if not self.base.exists() or running_owner(self.state_dir) is not None:
            return
        for name in ("kube-proxy", "kubelet"):
            self.process(name).stop()
        if self.process("containerd").alive():
            remove_all_containers(self.layout)
        self.process("containerd").stop()
        with contextlib.suppress(paths.BinaryMissingError):
            subprocess.run([str(paths.binary("kube-proxy")), "--cleanup"], capture_output=True, check=False, timeout=60)
        _unmount_under(self.base)
        _unmount_under(containerd_root())
        network.remove_netns()
        network.teardown()
        # Everything but the cache: a stopped node keeps nothing (pods, volumes, IPAM leases).
        shutil.rmtree(self.base, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            if Path(owner_file().read_text().strip()).resolve() == self.state_dir.resolve():
                owner_file().unlink()

    # -- components ----------------------------------------------------------------------------
    def _start_containerd(self) -> None:
        layout = self.layout
        layout.base.mkdir(parents=True, exist_ok=True)
        layout.state.parent.mkdir(parents=True, exist_ok=True)
        root = containerd_root()
        root.mkdir(parents=True, exist_ok=True)
        if layout.root.is_symlink() or layout.root.exists():
            layout.root.unlink()
        layout.root.symlink_to(root, target_is_directory=True)
        layout.config.write_text(containerd_config(layout, PAUSE_TAG))
        write_registry_hosts(layout.hosts_dir)
        network.write_cni_config(layout.cni_conf_dir, layout.ipam_dir)
        proc = self.process("containerd")
        proc.start(["containerd", f"--config={layout.config}", "--log-level=warn"])
        proc.wait_ready(lambda: ctr(layout, "version", timeout=5).returncode == 0, timeout=60, interval=0.2)
        # A killed earlier run can leave containers in the shared root: the kubelet must start clean.
        remove_all_containers(layout)

    def _start_kubelet(self, server: str, write_kubeconfig: Callable[..., None]) -> None:
        kubeconfig = self.base / "kubelet.kubeconfig"
        write_kubeconfig(kubeconfig, server, self.pki, user=f"system:node:{self.name}",
                         cert=self.pki.node_cert, key=self.pki.node_key)
        self.ports = kubelet_cfg.KubeletPorts(kubelet=free_port(), healthz=free_port(),
                                              proxy_metrics=free_port(), proxy_healthz=free_port())
        resolv = self.base / "resolv.conf"
        resolv.write_text("")
        config = self.base / "kubelet-config.yaml"
        kubelet_cfg.write_yaml(config, kubelet_cfg.kubelet_config(
            address=network.GATEWAY, ports=self.ports, ca_cert=self.pki.ca_cert, runtime_socket=self.layout.socket,
            resolv_conf=resolv, pod_logs=self.base / "pod-logs",
        ))
        proc = self.process("kubelet")
        proc.start(kubelet_cfg.kubelet_argv(
            paths.binary("kubelet"), config=config, kubeconfig=kubeconfig, root_dir=self.kubelet_dir,
            cert_dir=self.base / "kubelet-pki", node_ip=network.GATEWAY,
        ))
        proc.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{self.ports.healthz}/healthz"), timeout=60, interval=0.25)

    def _start_kube_proxy(self, server: str, write_kubeconfig: Callable[..., None]) -> None:
        kubeconfig = self.base / "kube-proxy.kubeconfig"
        write_kubeconfig(kubeconfig, server, self.pki, user="system:kube-proxy",
                         cert=self.pki.proxy_cert, key=self.pki.proxy_key)
        proc = self.process("kube-proxy")
        proc.start(kubelet_cfg.kube_proxy_argv(paths.binary("kube-proxy"), kubeconfig=kubeconfig, ports=self.ports,
                                               cluster_cidr=network.POD_SUBNET))
        proc.wait_ready(lambda: _http_ok(f"http://127.0.0.1:{self.ports.proxy_healthz}/healthz"), timeout=60,
                        interval=0.25)

    # -- after registration --------------------------------------------------------------------
    def wait_ready_and_advertise_gpus(self, kube: KubeClient, timeout: float = READY_TIMEOUT) -> None:
        """Wait for the node to be Ready, then add ``nvidia.com/gpu`` to its capacity (the documented
        way to advertise an extended resource without a device plugin)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process("kubelet").alive():
                raise ProcessStartError(f"kubelet exited:\n{_tail(self.process('kubelet'))}")
            node = kube.get("v1", "Node", self.name)
            if node is not None and any(c.type == "Ready" and c.status == "True"
                                        for c in node.status.conditions or []):
                break
            time.sleep(0.5)
        else:
            log = _tail(self.process("kubelet"))
            raise ProcessStartError(f"node {self.name} not Ready after {timeout:.0f}s:\n{log}")
        gpus = str(kubelet_cfg.ADVERTISED_GPUS)
        kube.core.patch_node_status(self.name, {"status": {"capacity": {GPU_RESOURCE: gpus}}})
        while time.monotonic() < deadline + 30:
            node = kube.get("v1", "Node", self.name)
            if node is not None and (node.status.allocatable or {}).get(GPU_RESOURCE) == gpus:
                return
            time.sleep(0.5)
        raise ProcessStartError(f"node {self.name} never showed {GPU_RESOURCE}={gpus} as allocatable")

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "running": self.running(), "address": network.GATEWAY,
                "containerd": str(self.layout.socket), "pod_subnet": network.POD_SUBNET}


def _tail(proc: ManagedProcess) -> str:
    return log_tail(proc.log_path)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)
