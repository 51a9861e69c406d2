"""The real node's pod network: one Linux bridge on this machine, and routes that keep traffic here.

Pods get addresses on ``POD_SUBNET`` from the CNI ``bridge`` + ``host-local`` plugins. The bridge's
gateway address doubles as the node's InternalIP and as the address pods reach the API server and
the test bed's Prometheus at. Three rules keep every packet on this machine:

- pods get **no default route**: only their subnet and the Service range (via the gateway, where
  kube-proxy's DNAT turns ClusterIPs into pod addresses), so a pod cannot address anything else;
- the Service range is routed onto the bridge, not out of the default interface, so a ClusterIP
  with no endpoints dies on the bridge instead of leaving the host;
- kwok's fake pod and node addresses are ``unreachable``: a scrape or ``kubectl logs`` aimed at a
  fake pod fails at once instead of being sent to the machine's default gateway.

The bridge, the routes and the sysctls are host-global, so one real node runs per machine;
``setup`` first removes whatever a killed earlier run left.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from testbed.pki import APISERVER_EXTRA_IPS
from testbed.realnode.prereqs import CNI_BIN_DIR

BRIDGE = "tbr0"
POD_SUBNET = "10.250.0.0/24"
GATEWAY = APISERVER_EXTRA_IPS[0]
SERVICE_CIDR = "10.96.0.0/16"
#: kwok's fake pod IPs and fake node InternalIPs (testbed/cluster.py POD_CIDR).
KWOK_CIDR = "10.244.0.0/16"
CNI_NETWORK = "testbed"
_SYSCTLS = {
    "net/ipv4/ip_forward": "1",  # pod -> ClusterIP -> pod is routed through the host
    "net/bridge/bridge-nf-call-iptables": "1",  # bridged replies pass conntrack (kube-proxy's DNAT)
}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def cni_config(ipam_dir: Path) -> dict[str, Any]:
    """The CNI network list containerd's CRI plugin reads (``conf_dir``)."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                    "routes": [{"dst": SERVICE_CIDR}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_cni_config(conf_dir: Path, ipam_dir: Path) -> None:
    conf_dir.mkdir(parents=True, exist_ok=True)
    ipam_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / f"10-{CNI_NETWORK}.conflist").write_text(json.dumps(cni_config(ipam_dir), indent=2))


def setup() -> None:
    """Bridge with the gateway address, the routes and sysctls above; idempotent."""
    teardown()
    if not Path("/proc/sys/net/bridge").exists() and shutil.which("modprobe"):
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, check=False)
    for key, value in _SYSCTLS.items():
        Path("/proc/sys", key).write_text(value)
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/{POD_SUBNET.split('/')[1]}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    _ip("route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY)
    _ip("route", "replace", "unreachable", KWOK_CIDR)


def teardown() -> None:
    """Remove the bridge and routes; leftover pod network namespaces go with ``remove_netns``."""
    _ip("route", "del", SERVICE_CIDR, check=False)
    _ip("route", "del", "unreachable", KWOK_CIDR, check=False)
    _ip("link", "del", BRIDGE, check=False)
    with contextlib.suppress(OSError):
        Path("/proc/sys/net/ipv4/ip_forward").write_text("0")


def remove_netns(prefix: str = "cni-") -> int:
    """Delete pod network namespaces a killed containerd left (CNI names them ``cni-<uuid>``)."""
    listing = _ip("netns", "list", check=False).stdout.split("\n")
    names = [line.split()[0] for line in listing if line.startswith(prefix)]
    for name in names:
        _ip("netns", "del", name, check=False)
    return len(names)


def plugins_dir() -> Path:
    return CNI_BIN_DIR
