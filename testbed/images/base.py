"""The Debian base every image but pause is built on: ``mmdebstrap`` once, then imported into buildah.

Made from the machine's own apt sources (no registry), and keyed by its recipe and those sources: it
is rebuilt only when either changes. Its identity, the sha256 of its rootfs tarball, is part of every
image's input hash, so a base with newer Debian packages rebuilds every image on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.images.cache import prune, write_json
from testbed.images.recipes import PROJECT
from testbed.images.steps import run_step

#: Python 3.11 with venv (every image), libpython3.11.so.1.0 (Triton's Python-backend stub links it),
#: CA certificates (model downloads). Docs, man pages and locales are left out.
BASE_PACKAGES = ("python3", "python3-venv", "libpython3.11", "ca-certificates")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


def mmdebstrap_argv(out: Path, sources: Path = DEBIAN_SOURCES) -> list[str]:
    return [
        "mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",  # usr-is-merged, not usrmerge and its perl (45 MB)
        f"--include={','.join(BASE_PACKAGES)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/info/*", '--aptopt=Acquire::Languages "none"',
        "bookworm", str(out), str(sources),
    ]


@dataclass(frozen=True)
class BaseImage:
    ref: str
    #: sha256 of the rootfs tarball: a rebuilt base (newer Debian packages) rebuilds every image on it.
    identity: str
    record: dict[str, object]


def ensure_base(directory: Path) -> BaseImage:
    """The Debian base: made once per recipe and apt sources, imported into buildah when missing there."""
    recipe = json.dumps({"argv": mmdebstrap_argv(Path("OUT")), "sources": DEBIAN_SOURCES.read_text()})
    key = hashlib.sha256(recipe.encode()).hexdigest()[:20]
    rootfs, sidecar = directory / f"base-{key}.tar", directory / f"base-{key}.json"
    if not sidecar.exists():
        print("base: mmdebstrap bookworm (about a minute)", file=sys.stderr, flush=True)
        started = time.monotonic()
        tmp = directory / f".base-{key}.tar.tmp-{os.getpid()}"
        run_step(mmdebstrap_argv(tmp), step="mmdebstrap", log=directory / f"base-{key}.log")
        identity = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, rootfs)
        write_json(sidecar, {"identity": identity, "build_seconds": round(time.monotonic() - started, 1),
                             "size_bytes": rootfs.stat().st_size})
        prune(directory, "base-", keep=(rootfs.name, sidecar.name, f"base-{key}.log"))
    record = json.loads(sidecar.read_text())
    ref = f"localhost/{PROJECT}/base:{record['identity'][:16]}"
    if subprocess.run(["buildah", "inspect", "--type", "image", ref], capture_output=True, check=False).returncode:
        container = run_step(["buildah", "from", "scratch"], step="buildah from").strip()
        try:
            run_step(["buildah", "add", "--quiet", container, str(rootfs), "/"], step="buildah add")
            run_step(["buildah", "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", container], step="buildah config")
            run_step(["buildah", "commit", "--quiet", container, ref], step="buildah commit")
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    return BaseImage(ref, record["identity"], record)
