"""The real node's kubelet and kube-proxy: configuration as data, flags as lists.

The node looks like one of the L4 pool's (its labels, its GPU taint) plus one label and one taint of
its own, ``testbed.dev/real-node``. The extra taint keeps the kwok-based tests' pods, whose fake
images exist nowhere, off it; what should run here (the demo, the real-node tests) says so with the
operator's own ``gpuNodeLabels``/``gpuTolerations`` settings, the knobs a platform team uses on a
cluster whose GPU nodes are not GKE's. ``nvidia.com/gpu`` is advertised by patching the node's
status (an extended resource without a device plugin): pods that ask for GPUs schedule and run on
CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from diffusion_operator.api.gpus import ACCELERATOR_LABEL, GpuType

from testbed.pki import REAL_NODE_NAME
from testbed.pools import GPU_TAINT

REAL_NODE_LABEL = "testbed.dev/real-node"
REAL_NODE_TAINT = {"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}
#: Extended GPUs the node advertises, like an 8-GPU L4 machine (g2-standard-96): the real-node suite
#: keeps up to seven GPU pods at once (its services, a rollout's surge pod, a build).
ADVERTISED_GPUS = 8
#: The GPU type the node poses as: the L4 pool's.
GPU_TYPE: GpuType = "nvidia-l4"
#: The L4 pool's labels (testbed/pools.py, GKE's names) and the node's own.
NODE_LABELS = {
    "cloud.google.com/gke-nodepool": "l4-pool",
    ACCELERATOR_LABEL: GPU_TYPE,
    "nvidia.com/gpu.product": "NVIDIA-L4",
    "nvidia.com/gpu.count": str(ADVERTISED_GPUS),
    REAL_NODE_LABEL: "true",
}


def node_selector() -> dict[str, str]:
    """What selects the real node among the L4 pool (operator setting ``gpuNodeLabels``)."""
    return {ACCELERATOR_LABEL: GPU_TYPE, REAL_NODE_LABEL: "true"}


def tolerations() -> list[dict[str, str]]:
    """What lets a pod onto the real node (operator setting ``gpuTolerations``, chart ``tolerations``)."""
    return [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]}
            for t in (GPU_TAINT, REAL_NODE_TAINT)]


@dataclass(frozen=True)
class KubeletPorts:
    kubelet: int
    healthz: int
    proxy_metrics: int
    proxy_healthz: int


def kubelet_config(
    *, address: str, ports: KubeletPorts, ca_cert: Path, runtime_socket: Path, resolv_conf: Path, pod_logs: Path
) -> dict[str, Any]:
    """KubeletConfiguration: webhook authn/z against the API server, cgroupfs, no evictions on a dev disk."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.healthz,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "cgroupDriver": "cgroupfs",
        # The machines this runs on mount cgroup v1; kubelet >= 1.35 refuses it unless told.
        "failCgroupV1": False,
        "failSwapOn": False,
        # An empty resolv.conf: pods have no DNS server to ask, so no lookup ever leaves the machine.
        "resolvConf": str(resolv_conf),
        "clusterDomain": "cluster.local",
        "podLogsDir": str(pod_logs),
        "registerNode": True,
        "registerWithTaints": [GPU_TAINT, REAL_NODE_TAINT],
        # Tests fill the disk with images and engine caches; evicting pods for it would be a test-bed artefact.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        # A transient pressure must not hold the node tainted for the default 5 min.
        "evictionPressureTransitionPeriod": "30s",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "10s",
        "maxPods": 60,
        "kubeAPIQPS": 50,
        "kubeAPIBurst": 100,
        "shutdownGracePeriod": "0s",
        "rotateCertificates": False,
    }


def kubelet_argv(binary: Path, *, config: Path, kubeconfig: Path, root_dir: Path, cert_dir: Path,
                 node_ip: str) -> list[str]:
    labels = ",".join(f"{key}={value}" for key, value in NODE_LABELS.items())
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--cert-dir={cert_dir}",
        f"--hostname-override={REAL_NODE_NAME}",
        f"--node-ip={node_ip}",
        f"--node-labels={labels}",
        "--v=1",
    ]


def kube_proxy_argv(binary: Path, *, kubeconfig: Path, ports: KubeletPorts, cluster_cidr: str) -> list[str]:
    """iptables mode; conntrack sysctls left as the host has them (``--conntrack-max-per-core=0``)."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={REAL_NODE_NAME}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={cluster_cidr}",
        f"--metrics-bind-address=127.0.0.1:{ports.proxy_metrics}",
        f"--healthz-bind-address=127.0.0.1:{ports.proxy_healthz}",
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0s",
        "--conntrack-tcp-timeout-close-wait=0s",
        "--v=1",
    ]


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
