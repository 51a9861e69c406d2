"""The wheelhouse: every recipe's pinned wheels, downloaded once and bind-mounted into its build.

Builds run with ``--network=none``; pip inside them installs only from here (``PIP_ARGS``). The pins
are the dev venv's own versions (:func:`wheel_closure`), so images hold what the tests ran against.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from testbed.images.recipes import PROJECT, ImageRecipe
from testbed.images.steps import ImageBuildError, run_step
from testbed.paths import cache_root

WHEELS_MOUNT, PLACEHOLDERS_MOUNT = "/wheels", "/wheels-cpu"
PIP_ARGS = f"--no-index --find-links={WHEELS_MOUNT} --find-links={PLACEHOLDERS_MOUNT}"
#: The project's [build-system] requires (setuptools>=75,<81, wheel), for pip's build isolation.
BUILD_REQUIREMENTS = {"setuptools": "80.9.0", "wheel": "0.45.1"}
#: Distributions PyPI's Linux torch pins that ``import torch`` never loads on CPU: Triton's GPU
#: compiler (1 GB) and the CUDA libraries outside the DT_NEEDED closure of ``torch._C`` (opened on a
#: GPU only): ~1.4 GB. torch's other CUDA wheels (~1.8 GB) stay real: its own libraries link them, so
#: the loader needs them even on CPU (tests/integration/images checks both against the dev venv).
CPU_PLACEHOLDERS = frozenset({"triton", "nvidia-cusolver", "nvidia-nvjitlink", "nvidia-cuda-cccl", "nvidia-nvtx",
                              "cuda-bindings", "cuda-pathfinder"})
#: The placeholders' METADATA summary. A placeholder's bytes are not part of any image's hash, so the
#: text stays as first written (naming the module this package was split from): an image rebuilt
#: under an unchanged hash then holds the same bytes.
PLACEHOLDER_SUMMARY = "empty placeholder for a CPU image (testbed/images.py)"


def wheels_dir() -> Path:
    return cache_root() / "wheels"


def placeholders_dir() -> Path:
    return cache_root() / "wheels-cpu-placeholders"


def wheel_closure(roots: Iterable[str]) -> dict[str, str]:
    """``name -> version`` of every distribution ``roots`` need, read from this (the dev) environment.

    The dev venv holds exactly constraints.txt (``make setup``), so its metadata is the lock, and no
    resolver has to download anything. The project itself is built from source and left out.
    """

    installed: dict[str, metadata.Distribution] = {
        canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    extras_seen: dict[str, set[str]] = {}
    todo = [Requirement(root) for root in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in extras_seen and set(req.extras) <= extras_seen[name]:
            continue
        if name not in installed:
            raise ImageBuildError(f"{req.name} is not installed in {sys.prefix}: run `make setup`")
        extras = extras_seen.setdefault(name, set())
        extras.update(req.extras)
        for line in installed[name].requires or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(dep)
    return {name: installed[name].version for name in sorted(extras_seen) if name != PROJECT}


def placeholder_wheel(name: str, version: str, extras: Iterable[str], dest: Path) -> Path:
    """An empty wheel that satisfies ``name==version`` (and its extras) and installs no files."""
    stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}"
    files = {
        f"{stem}.dist-info/METADATA": "".join([
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"Summary: {PLACEHOLDER_SUMMARY}\n",
            *(f"Provides-Extra: {extra}\n" for extra in sorted(extras))]),
        f"{stem}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: testbed.images\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = "".join(
        f"{member},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(text.encode())}\n" for member, text in files.items())
    files[f"{stem}.dist-info/RECORD"] = record + f"{stem}.dist-info/RECORD,,\n"
    path = dest / f"{stem}-py3-none-any.whl"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with zipfile.ZipFile(tmp, "w") as archive:
        for member, text in files.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0)), text)
    os.replace(tmp, path)
    return path


def prepare_wheels(recipe: ImageRecipe) -> list[str]:
    """Fill the wheelhouse for ``recipe``, downloading only what is missing; returns its pins."""
    closure = wheel_closure(recipe.wheel_roots)
    real = {name: version for name, version in closure.items() if name not in CPU_PLACEHOLDERS}
    empty = {name: version for name, version in closure.items() if name in CPU_PLACEHOLDERS}
    if any(root.startswith(PROJECT) for root in recipe.wheel_roots):
        real.update(BUILD_REQUIREMENTS)
    wheels, placeholders = wheels_dir(), placeholders_dir()
    wheels.mkdir(parents=True, exist_ok=True)
    placeholders.mkdir(parents=True, exist_ok=True)
    have = {parse_wheel_filename(p.name)[:2] for p in wheels.glob("*.whl")}
    missing = [f"{n}=={v}" for n, v in real.items() if (canonicalize_name(n), Version(v)) not in have]
    if missing:
        print(f"wheelhouse: downloading {len(missing)} wheels into {wheels}", file=sys.stderr, flush=True)
        run_step([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                  "--dest", str(wheels), *missing], step="pip download")
    for stale in placeholders.glob("*.whl"):  # a placeholder must never shadow a wheel that became real
        if parse_wheel_filename(stale.name)[0] not in CPU_PLACEHOLDERS:
            stale.unlink()
    for name, version in empty.items():
        placeholder_wheel(name, version, metadata.metadata(name).get_all("Provides-Extra") or [], placeholders)
    return sorted(f"{n}=={v}" for n, v in real.items()) + sorted(f"{n}=={v} (empty)" for n, v in empty.items())
