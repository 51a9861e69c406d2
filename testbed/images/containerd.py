"""Importing the cached archives into a node's containerd (no registry): ``ctr images import``.

Each imported image is labelled with the input hash it was built from, so a node that keeps its
containerd state re-imports a tag whose content changed and skips one that did not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from testbed.images.cache import cached_images, images_dir
from testbed.images.recipes import RECIPES
from testbed.images.steps import ImageBuildError, run_step

#: Set on every image this module imports: the input hash it was built from, so a node that keeps
#: its containerd state re-imports a tag whose content changed and skips one that did not.
HASH_LABEL = "dev.diffusion-operator/image-hash"


def containerd_images(ctr: str | Path, address: str | Path, namespace: str = "k8s.io") -> dict[str, dict[str, str]]:
    """``ref -> labels`` of the images in ``namespace`` (``ctr images ls``: labels are the last column)."""
    out = run_step([str(ctr), "--address", str(address), "-n", namespace, "images", "ls"], step="ctr images ls")
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
        run_step([*images, "import", image.archive], step=f"ctr images import {image.archive}", timeout=timeout)
        run_step([*images, "label", image.tag, f"{HASH_LABEL}={image.hash}"], step=f"ctr images label {image.tag}")
        imported.append(image.tag)
    return imported
