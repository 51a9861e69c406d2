"""The build cache: one docker-archive per image and input hash, and each checkout's index of its own.

``~/.cache/diffusion-operator/images/`` (``DIFFUSION_IMAGE_CACHE`` moves it) is shared by every
checkout on the machine (a branch, a worktree, CI's clean clone): archives are named by input hash,
so checkouts with the same inputs share one; each checkout keeps its own index of which archive is
its current build; one build runs at a time (:func:`locked`); and pruning keeps a few archives per
image, most recently used first.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from testbed.paths import REPO_ROOT, cache_root

#: Archives kept per image (GBs each): the cache is shared by every checkout on the machine (a
#: branch, a worktree, CI's clean clone), each with its own current build; the least recently built
#: or used beyond this many go. Two: this checkout's and one other's; the builder and serving images
#: are ~3.6 GiB each, and a third set filled this machine's disk mid-build.
ARCHIVES_KEPT_PER_IMAGE = 2


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


def write_json(path: Path, data: object) -> None:
    """Write ``data`` atomically (readers never see half a file), sorted and indented to diff cleanly."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def prune(directory: Path, prefix: str, keep: Iterable[str]) -> None:
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


def remember(directory: Path, image: CachedImage) -> None:
    """Make ``image`` this checkout's current build of its name."""
    index = {name: asdict(known) for name, known in cached_images(directory).items()}
    write_json(index_path(directory), {**index, image.name: asdict(image)})


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One build at a time per cache: several checkouts and agents share it."""
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
