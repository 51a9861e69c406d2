"""``make images``: the product's container images, built here with buildah and cached as archives.

No registry is reachable from the test bed, so the real node's containerd gets its images with
``ctr images import`` (:func:`import_images`). Everything comes from this checkout, PyPI and Debian:

* a Debian bookworm base made by ``mmdebstrap`` from the machine's apt sources, passed to every
  Dockerfile as ``BASE_IMAGE`` (their default stays a public image, so ``docker build`` still works);
* the operator, the CPU engine builder and the CPU Triton image from the repository's Dockerfiles;
* the pod sandbox ("pause") image: tools/gobin/pause, a static Go binary in a scratch image.

An image is rebuilt only when the hash of its inputs changes: its Dockerfile, the files it is built
from, the base's identity, the exact wheel set and the build arguments. Python packages come from a
host wheelhouse (``pip download`` once, shared by every image and rebuild) bind-mounted into the
build, so builds run offline with ``--network=none``. The wheels PyPI's torch pins but never loads on
CPU are empty placeholders there (``CPU_PLACEHOLDERS``). Each build leaves a docker-archive
``<name>-<hash>.tar`` (written atomically; older ones are deleted) and its line in ``index.json``
under ``~/.cache/diffusion-operator/images/``, and its size and time in bench/results/images.json.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from testbed.paths import REPO_ROOT, cache_root

#: Bump when the build procedure changes in a way the hashed inputs do not show: every image rebuilds.
RECIPE_VERSION = "1"
PROJECT = "diffusion-operator"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
REGISTRY = "ghcr.io/diffusion-operator"
#: containerd's ``sandbox_image`` on the real node must name exactly this.
PAUSE_TAG = "registry.k8s.io/pause:3.10"
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
#: Python 3.11 with venv (every image), libpython3.11.so.1.0 (Triton's Python-backend stub links it),
#: CA certificates (model downloads). Docs, man pages and locales are left out.
BASE_PACKAGES = ("python3", "python3-venv", "libpython3.11", "ca-certificates")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
#: The builder image is installed from these, the operator's from these and its own package; neither
#: imports the test bed (.importlinter), so test-bed edits rebuild nothing and operator edits only it.
PROJECT_FILES = ("pyproject.toml", "README.md", "constraints.txt", "engine_builder")
#: Never part of an image's inputs (nor of its build context).
IGNORED = re.compile(r"(^|/)(__pycache__|\.mypy_cache|\.pytest_cache|[^/]*\.egg-info)(/|$)|\.pyc$")


class ImageBuildError(RuntimeError):
    """A build or import step failed; the message names the step and holds its log tail."""


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    tag: str
    dockerfile: str
    #: Repository paths (files or folders) the image is built from: hashed, and staged as its context.
    inputs: tuple[str, ...]
    #: pip requirements whose closure the wheelhouse must hold (the Dockerfile's install line).
    wheel_roots: tuple[str, ...] = ()
    #: Built FROM the Debian base (BASE_IMAGE); False for FROM scratch.
    on_base: bool = True
    #: A Go package folder built into the context as the static binary named after the folder.
    go_binary: str | None = None


RECIPES = (
    ImageRecipe("operator", f"{REGISTRY}/operator:{VERSION}", "operator/Dockerfile",
                (*PROJECT_FILES, "operator/diffusion_operator"), wheel_roots=(PROJECT,)),
    ImageRecipe("engine-builder", f"{REGISTRY}/engine-builder:{VERSION}-cpu", "engine_builder/Dockerfile.cpu",
                PROJECT_FILES, wheel_roots=(f"{PROJECT}[builder]",)),
    ImageRecipe("triton-sdxl", f"{REGISTRY}/triton-sdxl:{VERSION}-cpu", "engine_builder/Dockerfile.triton-cpu",
                ("constraints.txt",),
                wheel_roots=("numpy<2", "torch", "diffusers", "transformers", "tokenizers", "safetensors", "pillow",
                             "onnxruntime", "nvidia-pytriton")),
    ImageRecipe("pause", PAUSE_TAG, "tools/gobin/pause/Dockerfile", ("tools/gobin/pause",), on_base=False,
                go_binary="tools/gobin/pause"),
)


@dataclass(frozen=True)
class CachedImage:
    name: str
    tag: str
    archive: str
    hash: str
    size_bytes: int
    build_seconds: float
    built_at: str


def images_dir() -> Path:
    return Path(os.environ.get("DIFFUSION_IMAGE_CACHE") or cache_root() / "images")


def wheels_dir() -> Path:
    return cache_root() / "wheels"


def placeholders_dir() -> Path:
    return cache_root() / "wheels-cpu-placeholders"


# --- inputs and their hash (pure) ---------------------------------------------------------------


def input_files(recipe: ImageRecipe, root: Path = REPO_ROOT) -> list[str]:
    """Every file the image is built from (its Dockerfile included), repository-relative and sorted."""
    found = {recipe.dockerfile}
    for entry in recipe.inputs:
        path = root / entry
        candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        if not candidates:
            raise ImageBuildError(f"{recipe.name}: input {entry} does not exist under {root}")
        found.update(p.relative_to(root).as_posix() for p in candidates)
    return sorted(f for f in found if not IGNORED.search(f))


def input_hash(recipe: ImageRecipe, *, root: Path = REPO_ROOT, base_identity: str, wheels: Iterable[str],
               build_args: dict[str, str], tools: str = "") -> str:
    """The hash naming the image's archive: the same inputs give the same name, any change a new one."""
    digest = hashlib.sha256()

    def field(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            digest.update(len(data).to_bytes(8, "big") + data)

    field(RECIPE_VERSION, recipe.name, recipe.tag, base_identity if recipe.on_base else "", tools)
    for name in input_files(recipe, root):
        field(name, (root / name).read_bytes())
    field(*sorted(wheels), *(f"{key}={value}" for key, value in sorted(build_args.items())))
    return digest.hexdigest()[:20]


# --- the wheelhouse -----------------------------------------------------------------------------


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
            "Summary: empty placeholder for a CPU image (testbed/images.py)\n",
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
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
              "--dest", str(wheels), *missing], step="pip download")
    for stale in placeholders.glob("*.whl"):  # a placeholder must never shadow a wheel that became real
        if parse_wheel_filename(stale.name)[0] not in CPU_PLACEHOLDERS:
            stale.unlink()
    for name, version in empty.items():
        placeholder_wheel(name, version, metadata.metadata(name).get_all("Provides-Extra") or [], placeholders)
    return sorted(f"{n}=={v}" for n, v in real.items()) + sorted(f"{n}=={v} (empty)" for n, v in empty.items())


# --- building -----------------------------------------------------------------------------------


def _run(argv: list[str], *, step: str, log: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 3600) -> str:
    """Run one step and return its stdout (or append all output to ``log``); on failure raise with the tail."""
    full_env = {**os.environ, **(env or {})}
    if log is None:
        done = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
        output = done.stdout + done.stderr
    else:
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=full_env,
                                  timeout=timeout, check=False)
        output = log.read_text(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-40:])
        raise ImageBuildError(f"{step} failed (exit {done.returncode}):\n{tail}")
    return done.stdout if log is None else ""


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
        _run(mmdebstrap_argv(tmp), step="mmdebstrap", log=directory / f"base-{key}.log")
        identity = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, rootfs)
        _write_json(sidecar, {"identity": identity, "build_seconds": round(time.monotonic() - started, 1),
                              "size_bytes": rootfs.stat().st_size})
        _prune(directory, "base-", keep=(rootfs.name, sidecar.name, f"base-{key}.log"))
    record = json.loads(sidecar.read_text())
    ref = f"localhost/{PROJECT}/base:{record['identity'][:16]}"
    if subprocess.run(["buildah", "inspect", "--type", "image", ref], capture_output=True, check=False).returncode:
        container = _run(["buildah", "from", "scratch"], step="buildah from").strip()
        try:
            _run(["buildah", "add", "--quiet", container, str(rootfs), "/"], step="buildah add")
            _run(["buildah", "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "--env", "LANG=C.UTF-8", "--cmd", "/bin/bash", container], step="buildah config")
            _run(["buildah", "commit", "--quiet", container, ref], step="buildah commit")
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    return BaseImage(ref, record["identity"], record)


def stage_context(recipe: ImageRecipe, dest: Path) -> None:
    """The build context: exactly the hashed inputs, or the Go binary built from them."""
    if recipe.go_binary is not None:
        package = REPO_ROOT / recipe.go_binary
        _run(["go", "build", "-C", str(package), "-trimpath", "-ldflags=-s -w", "-o", str(dest / package.name), "."],
             step="go build", env={"CGO_ENABLED": "0"})
        return
    for name in input_files(recipe):
        if name != recipe.dockerfile:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest / name)


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


#: Archives kept per image (GBs each): the cache is shared by every checkout on the machine (a
#: branch, a worktree, CI's clean clone), each with its own current build; the least recently built
#: or used beyond this many go. Two: this checkout's and one other's; the builder and serving images
#: are ~3.6 GiB each, and a third set filled this machine's disk mid-build.
ARCHIVES_KEPT_PER_IMAGE = 2


def _prune(directory: Path, prefix: str, keep: Iterable[str]) -> None:
    """Drop an image's least recently used archives (and their logs) beyond ``ARCHIVES_KEPT_PER_IMAGE``."""
    pattern = rf"{re.escape(prefix)}([0-9a-f]{{20}})\.tar"
    archives = sorted((p for p in directory.glob(f"{prefix}*.tar") if re.fullmatch(pattern, p.name)),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    kept = set(keep)
    others = [p for p in archives if p.name not in kept]
    stale = others[max(0, ARCHIVES_KEPT_PER_IMAGE - (len(archives) - len(others))):]
    for archive in stale:
        for path in (archive, archive.with_suffix(".log"), archive.with_suffix(".json")):
            path.unlink(missing_ok=True)


def index_path(directory: Path) -> Path:
    """This checkout's index: which archive is *its* current build of each image.

    One index per checkout (keyed by its path), because checkouts share the archives: a worktree
    that changed the operator must not make another checkout import its image, or lose its own.
    """
    checkout = hashlib.sha256(str(REPO_ROOT.resolve()).encode()).hexdigest()[:12]
    return directory / f"index-{checkout}.json"


def cached_images(directory: Path | None = None) -> dict[str, CachedImage]:
    """What ``make images`` left for this checkout: name -> its current archive and record."""
    index = index_path(directory or images_dir())
    if not index.exists():
        return {}
    return {name: CachedImage(**record) for name, record in json.loads(index.read_text()).items()}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One build at a time per cache: several checkouts and agents share it."""
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_image(recipe: ImageRecipe, base: BaseImage | None, directory: Path) -> tuple[CachedImage, bool]:
    """The archive of ``recipe`` and whether it was cached; built only when none of its input hash exists."""
    pins = prepare_wheels(recipe) if recipe.wheel_roots else []
    build_args = {"PIP_ARGS": PIP_ARGS} if recipe.wheel_roots else {}
    tools = _run(["go", "version"], step="go version").strip() if recipe.go_binary else ""
    key = input_hash(recipe, base_identity=base.identity if base else "", wheels=pins, build_args=build_args,
                     tools=tools)
    archive = directory / f"{recipe.name}-{key}.tar"
    if archive.exists():
        os.utime(archive)  # in use: the last to be pruned
        known = cached_images(directory).get(recipe.name)
        if known is not None and known.hash == key:
            return known, True
        return CachedImage(recipe.name, recipe.tag, str(archive), key, archive.stat().st_size, 0.0, "unknown"), True
    print(f"{recipe.name}: building {recipe.tag} ({key})", file=sys.stderr, flush=True)
    started = time.monotonic()
    log = directory / f"{recipe.name}-{key}.log"
    log.write_text("")
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{recipe.name}-", dir=directory))
    tmp = directory / f".{recipe.name}-{key}.tar.tmp-{os.getpid()}"
    argv = ["buildah", "bud", "--pull=never", "--network=none", "-f", str(REPO_ROOT / recipe.dockerfile),
            "-t", recipe.tag]
    if base is not None and recipe.on_base:
        argv += ["--build-arg", f"BASE_IMAGE={base.ref}"]
    for key_value in (f"{k}={v}" for k, v in build_args.items()):
        argv += ["--build-arg", key_value]
    if recipe.wheel_roots:
        argv += ["-v", f"{wheels_dir()}:{WHEELS_MOUNT}:ro", "-v", f"{placeholders_dir()}:{PLACEHOLDERS_MOUNT}:ro"]
    try:
        stage_context(recipe, stage)
        _run([*argv, str(stage)], step=f"{recipe.name}: buildah bud (log: {log})", log=log)
        _run(["buildah", "push", "--quiet", recipe.tag, f"docker-archive:{tmp}:{recipe.tag}"],
             step=f"{recipe.name}: buildah push", log=log)
        os.replace(tmp, archive)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        tmp.unlink(missing_ok=True)
        # The archive is the cache; a second copy in buildah's storage would only cost disk.
        subprocess.run(["buildah", "rmi", recipe.tag], capture_output=True, check=False)
    image = CachedImage(recipe.name, recipe.tag, str(archive), key, archive.stat().st_size,
                        round(time.monotonic() - started, 1), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    _prune(directory, f"{recipe.name}-", keep=(archive.name, log.name))
    return image, False


def build_all(names: Iterable[str] | None = None,
              results: Path | None = REPO_ROOT / "bench" / "results") -> list[dict[str, object]]:
    """Build what changed (all images, or ``names``), update the index and record sizes and times."""
    wanted = set(names or (r.name for r in RECIPES))
    if unknown := wanted - {r.name for r in RECIPES}:
        raise ImageBuildError(f"unknown images {sorted(unknown)}; known: {[r.name for r in RECIPES]}")
    directory = images_dir()
    directory.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with _locked(directory):
        recipes = [r for r in RECIPES if r.name in wanted]
        base = ensure_base(directory) if any(r.on_base for r in recipes) else None
        for recipe in recipes:
            started = time.monotonic()
            image, cached = build_image(recipe, base, directory)
            index = {name: asdict(known) for name, known in cached_images(directory).items()}
            _write_json(index_path(directory), {**index, recipe.name: asdict(image)})
            rows.append({**asdict(image), "cached": cached, "seconds": round(time.monotonic() - started, 1)})
            print(f"{recipe.name:15} {'cached' if cached else 'built':6} {image.size_bytes / 2**20:6.0f} MiB  "
                  f"built in {image.build_seconds:5.1f} s  {image.tag}", file=sys.stderr, flush=True)
    if results is not None and (not (results / "images.json").exists() or not all(row["cached"] for row in rows)):
        # Every image's last build (archive names only: the file is committed), rewritten when one was built.
        this_run = {str(row["name"]): row for row in rows}
        images = [{**this_run.get(name, asdict(known)), "archive": Path(known.archive).name}
                  for name, known in sorted(cached_images(directory).items())]
        results.mkdir(parents=True, exist_ok=True)
        _write_json(results / "images.json", {"base": base.record if base else None, "images": images})
    return rows


# --- containerd ---------------------------------------------------------------------------------

#: Set on every image this module imports: the input hash it was built from, so a node that keeps
#: its containerd state re-imports a tag whose content changed and skips one that did not.
HASH_LABEL = "dev.diffusion-operator/image-hash"


def containerd_images(ctr: str | Path, address: str | Path, namespace: str = "k8s.io") -> dict[str, dict[str, str]]:
    """``ref -> labels`` of the images in ``namespace`` (``ctr images ls``: labels are the last column)."""
    out = _run([str(ctr), "--address", str(address), "-n", namespace, "images", "ls"], step="ctr images ls")
    images: dict[str, dict[str, str]] = {}
    for line in out.splitlines()[1:]:
        if parts := line.split():
            images[parts[0]] = dict(kv.split("=", 1) for kv in parts[-1].split(",") if "=" in kv)
    return images


def import_images(ctr: str | Path, address: str | Path, *, namespace: str = "k8s.io",
                  names: Iterable[str] | None = None, timeout: float = 1800) -> list[str]:
    """Import the cached archives (all, or ``names``) into the containerd at ``address``; returns the tags imported.

    An image already there from the same archive is skipped. ``ctr images import`` unpacks into the
    default snapshotter, so pods with ``imagePullPolicy: IfNotPresent`` start from it at once.
    """
    cached = cached_images()
    wanted = list(names) if names is not None else [r.name for r in RECIPES]
    if missing := [name for name in wanted if name not in cached or not Path(cached[name].archive).exists()]:
        raise ImageBuildError(f"no archive for {missing} in {images_dir()}: run `make images`")
    present = containerd_images(ctr, address, namespace)
    imported = []
    for image in (cached[name] for name in wanted):
        if present.get(image.tag, {}).get(HASH_LABEL) == image.hash:
            continue
        images = [str(ctr), "--address", str(address), "-n", namespace, "images"]
        _run([*images, "import", image.archive], step=f"ctr images import {image.archive}", timeout=timeout)
        _run([*images, "label", image.tag, f"{HASH_LABEL}={image.hash}"], step=f"ctr images label {image.tag}")
        imported.append(image.tag)
    return imported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.images", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build what changed")
    build.add_argument("names", nargs="*", help=f"default: all of {', '.join(r.name for r in RECIPES)}")
    load = commands.add_parser("import", help="import the cached archives into a containerd")
    load.add_argument("--address", required=True, help="containerd's socket")
    load.add_argument("--ctr", default="ctr")
    load.add_argument("--namespace", default="k8s.io")
    load.add_argument("names", nargs="*")
    commands.add_parser("ls", help="the cached archives")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build_all(args.names or None)
        elif args.command == "import":
            for tag in import_images(args.ctr, args.address, namespace=args.namespace, names=args.names or None):
                print(f"imported {tag}")
        else:
            for image in cached_images().values():
                print(f"{image.name:15} {image.size_bytes / 2**20:6.0f} MiB  {image.tag}  {image.archive}")
    except ImageBuildError as err:
        print(f"images: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
