"""Where the test bed finds its binaries and keeps its state.

The binary cache is shared by every checkout on the machine (it is keyed by version, see
tools/versions.env), while the state directory belongs to one checkout, so two clones never stop
each other's clusters.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO_ROOT / "tools" / "versions.env"

#: Binary name -> the versions.env key that pins it.
PINNED_BY = {
    "etcd": "ETCD_VERSION",
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "kube-scheduler": "KUBERNETES_VERSION",
    "kubectl": "KUBERNETES_VERSION",
    "kubelet": "KUBERNETES_VERSION",
    "kube-proxy": "KUBERNETES_VERSION",
    "kwok": "KWOK_VERSION",
    "helm": "HELM_VERSION",
    "metrics-adapter": "CUSTOM_METRICS_APISERVER_VERSION",
    "registry": "DISTRIBUTION_VERSION",
}

#: Binaries whose source lives in this repository: their cache key also carries a hash of that
#: source, so an edit rebuilds them without anyone bumping a version (tools/build-binaries.sh
#: computes the same hash with ``source_hash``).
SOURCE_DIRS = {"metrics-adapter": REPO_ROOT / "tools" / "gobin" / "metrics-adapter"}


class BinaryMissingError(RuntimeError):
    """A pinned binary has not been built yet; the message says how to build it."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "diffusion-operator"


def bin_cache() -> Path:
    return Path(os.environ.get("DIFFUSION_BIN_CACHE") or cache_root() / "bin")


def versions() -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pins[key.strip()] = value.strip()
    return pins


def source_hash(directory: Path) -> str:
    """12 hex digits of SHA-256 over ``go.mod``, ``go.sum`` and the non-test ``.go`` files, each as its
    name, a newline and its bytes, in byte order of the names (what build-binaries.sh hashes)."""
    files = sorted(p for p in directory.iterdir()
                   if p.name in ("go.mod", "go.sum") or (p.suffix == ".go" and not p.name.endswith("_test.go")))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    return digest.hexdigest()[:12]


def binary(name: str) -> Path:
    pins = versions()
    version = pins[PINNED_BY[name]]
    if name in SOURCE_DIRS:
        version += "+" + source_hash(SOURCE_DIRS[name])
    path = bin_cache() / f"{name}-{version}-r{pins.get('BUILD_RECIPE', '1')}" / name
    if not path.exists():
        raise BinaryMissingError(
            f"{name} {version} is not built yet ({path} is missing): run `make binaries` "
            "(builds it once from the Go module proxy)"
        )
    return path


def state_dir() -> Path:
    return Path(os.environ.get("TESTBED_STATE") or REPO_ROOT / ".state" / "testbed")
