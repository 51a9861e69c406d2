"""What a host needs before the real node can start, each missing piece named with its fix.

A node that half-starts (containerd up, no CNI plugin) leaves pods stuck in ContainerCreating with a
message three layers away from the cause. So ``testbed up`` checks everything first and, when one is
missing, says exactly which one and how to install it; the tests that need the node then skip with
that same sentence (``tests/conftest.py``). On this project's machines all of them hold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed import paths

#: CNI plugins the node's network config chains (network.py), from Debian's containernetworking-plugins.
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
CNI_BIN_DIR = Path("/usr/lib/cni")
#: The Debian packages that provide the runtime, the network plugins and what kube-proxy shells out to.
DEBIAN_PACKAGES = "containerd runc containernetworking-plugins iptables conntrack iproute2"
_INSTALL = f"run `bash tools/system-deps.sh` (apt-get install {DEBIAN_PACKAGES})"
_CGROUP_CONTROLLERS = ("cpu", "memory", "pids")


@dataclass(frozen=True)
class Prerequisite:
    name: str
    check: Callable[[], bool]
    fix: str


def _cgroups_mounted() -> bool:
    root = Path("/sys/fs/cgroup")
    unified = root / "cgroup.controllers"
    if unified.exists():  # cgroup v2
        return set(_CGROUP_CONTROLLERS) <= set(unified.read_text().split())
    return all((root / name).is_dir() for name in _CGROUP_CONTROLLERS)  # cgroup v1 hierarchies


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    argv = [unshare, "--net", "--mount", "--pid", "--fork", "true"]
    result = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    return result.returncode == 0


def _overlayfs() -> bool:
    try:
        return "overlay" in Path("/proc/filesystems").read_text()
    except OSError:
        return False


def _built(name: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            paths.binary(name)
        except paths.BinaryMissingError:
            return False
        return True

    return check


def _installed(path: Path) -> Callable[[], bool]:
    return path.exists


def _on_path(program: str) -> Callable[[], bool]:
    return lambda: shutil.which(program) is not None


PREREQUISITES: tuple[Prerequisite, ...] = (
    Prerequisite("root (network namespaces, mounts, iptables)", lambda: os.geteuid() == 0,
                 "run the test bed as root"),
    Prerequisite("cgroups with the cpu, memory and pids controllers", _cgroups_mounted,
                 "mount cgroup v2 at /sys/fs/cgroup (or the v1 cpu, memory and pids hierarchies)"),
    Prerequisite("network, mount and pid namespaces (unshare)", _namespaces_work,
                 "run on a kernel and in a sandbox that allow unshare(2) for root"),
    Prerequisite("the overlay filesystem (containerd's snapshotter)", _overlayfs, "load the overlay kernel module"),
    Prerequisite("bridge netfilter (/proc/sys/net/bridge: kube-proxy's DNAT on bridged pod traffic)",
                 lambda: Path("/proc/sys/net/bridge").exists() or shutil.which("modprobe") is not None,
                 "load the br_netfilter kernel module (apt-get install kmod; modprobe br_netfilter)"),
    *(Prerequisite(program, _on_path(program), _INSTALL)
      for program in ("containerd", "ctr", "runc", "iptables", "conntrack", "ip")),
    *(Prerequisite(f"CNI plugin {plugin}", _installed(CNI_BIN_DIR / plugin), _INSTALL) for plugin in CNI_PLUGINS),
    Prerequisite("kubelet", _built("kubelet"), "run `make binaries` (builds it from the pinned k8s.io/kubernetes)"),
    Prerequisite("kube-proxy", _built("kube-proxy"), "run `make binaries`"),
)


def missing() -> list[Prerequisite]:
    """The prerequisites this host lacks, in the order they are listed."""
    return [item for item in PREREQUISITES if not _holds(item)]


def _holds(item: Prerequisite) -> bool:
    try:
        return item.check()
    except (OSError, subprocess.SubprocessError):
        return False


def explain(lacking: list[Prerequisite]) -> str:
    """One line per missing prerequisite: what is missing and what to do."""
    return "; ".join(f"{item.name} is missing: {item.fix}" for item in lacking)
