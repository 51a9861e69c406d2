"""containerd for the real node: its own root, state and socket, images only from local archives.

No registry is reachable from here, and pulling must never be tried against the outside world: every
registry host (``_default`` and the ones the product's images name) resolves to a closed loopback
port, so an image that was not imported fails to pull at once with a local error
(``ErrImagePull``), which is what the "image that is not there" tests want to see. The product's
images are built by ``make images`` and imported into the ``k8s.io`` namespace, where the CRI plugin
looks, under the tags the chart renders, so ``imagePullPolicy: IfNotPresent`` finds them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed.realnode.prereqs import CNI_BIN_DIR

#: A closed port on loopback: where every registry "is", so no pull ever leaves this machine.
NO_REGISTRY = "http://127.0.0.1:9"
#: Registries whose names appear in the product's and the tests' images; ``_default`` covers the rest.
REGISTRY_HOSTS = ("_default", "docker.io", "ghcr.io", "registry.k8s.io", "nvcr.io", "testbed.dev", "localhost")
CRI_NAMESPACE = "k8s.io"


@dataclass(frozen=True)
class RuntimeLayout:
    """Where this node's containerd keeps everything (under the test bed's state directory)."""

    base: Path

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def hosts_dir(self) -> Path:
        return self.base / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        return self.base / "net.d"

    @property
    def ipam_dir(self) -> Path:
        return self.base / "ipam"


def containerd_config(layout: RuntimeLayout, sandbox_image: str) -> str:
    """config.toml (version 2): CRI with runc on cgroupfs, overlayfs, our CNI and our registry hosts."""
    runc = shutil.which("runc") or "runc"
    return f"""version = 2
root = "{layout.root}"
state = "{layout.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{layout.socket}"

[ttrpc]
  address = "{layout.socket}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # AppArmor profiles need apparmor_parser and a kernel that enforces them; the test bed uses neither.
  disable_apparmor = true
  # The sandboxes these machines run in drop CAP_SYS_RESOURCE, which lowering oom_score_adj needs
  # (runc fails "failed to update /proc/self/oom_score_adj"); clamp to containerd's own score.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        # The kubelet runs with cgroupDriver: cgroupfs; both must agree.
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{layout.hosts_dir}"
"""


def write_registry_hosts(hosts_dir: Path) -> None:
    """hosts.toml for every registry name: the server and its only host are a closed loopback port."""
    for host in REGISTRY_HOSTS:
        directory = hosts_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(
            f'server = "{NO_REGISTRY}"\n\n[host."{NO_REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n'
        )


def trust_plain_http_registry(hosts_dir: Path, address: str) -> Path:
    """Let the node pull from the plain-HTTP registry at ``address`` (``127.0.0.1:<port>``), as a
    cluster's nodes pull from its registry. containerd reads ``<hosts_dir>/<host:port>/hosts.toml``
    at each pull, so this takes effect without a restart; every other registry stays closed.
    Returns the directory to remove when that registry is gone."""
    directory = hosts_dir / address
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.toml").write_text(
        f'server = "http://{address}"\n\n[host."http://{address}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    return directory


def ctr(layout: RuntimeLayout, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ctr`` against this node's containerd, in the CRI namespace."""
    return subprocess.run(
        ["ctr", "--address", str(layout.socket), "--namespace", CRI_NAMESPACE, *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def image_names(layout: RuntimeLayout) -> set[str]:
    result = ctr(layout, "images", "list", "--quiet", timeout=60)
    return set(result.stdout.split()) if result.returncode == 0 else set()


def remove_all_containers(layout: RuntimeLayout) -> None:
    """Kill every task and delete every container of the CRI namespace (what a killed kubelet left)."""
    for task in ctr(layout, "tasks", "list", "--quiet", timeout=60).stdout.split():
        ctr(layout, "tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
    for container in ctr(layout, "containers", "list", "--quiet", timeout=60).stdout.split():
        ctr(layout, "tasks", "delete", "--force", container, timeout=30)
        ctr(layout, "containers", "delete", container, timeout=30)
