"""Building: one image's ``buildah bud`` when no archive of its input hash exists, and all of them.

A build stages exactly the hashed inputs as its context, mounts the wheelhouse read-only, runs with
``--network=none``, and pushes the result to a docker-archive written atomically; buildah's own copy
is removed (the archive is the cache). ``build_all`` records each image in this checkout's index and
the figures of the last builds in bench/results/images.json.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from testbed.images.base import BaseImage, ensure_base
from testbed.images.cache import CachedImage, cached_images, images_dir, locked, prune, remember, write_json
from testbed.images.recipes import RECIPES, ImageRecipe, input_files, input_hash
from testbed.images.steps import ImageBuildError, run_step
from testbed.images.wheelhouse import (
    PIP_ARGS,
    PLACEHOLDERS_MOUNT,
    WHEELS_MOUNT,
    placeholders_dir,
    prepare_wheels,
    wheels_dir,
)
from testbed.paths import REPO_ROOT


def stage_context(recipe: ImageRecipe, dest: Path) -> None:
    """The build context: exactly the hashed inputs, or the Go binary built from them."""
    if recipe.go_binary is not None:
        package = REPO_ROOT / recipe.go_binary
        run_step(["go", "build", "-C", str(package), "-trimpath", "-ldflags=-s -w", "-o", str(dest / package.name),
                  "."], step="go build", env={"CGO_ENABLED": "0"})
        return
    for name in input_files(recipe):
        if name != recipe.dockerfile:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest / name)


def build_image(recipe: ImageRecipe, base: BaseImage | None, directory: Path) -> tuple[CachedImage, bool]:
    """The archive of ``recipe`` and whether it was cached; built only when none of its input hash exists."""
    pins = prepare_wheels(recipe) if recipe.wheel_roots else []
    build_args = {"PIP_ARGS": PIP_ARGS} if recipe.wheel_roots else {}
    tools = run_step(["go", "version"], step="go version").strip() if recipe.go_binary else ""
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
        run_step([*argv, str(stage)], step=f"{recipe.name}: buildah bud (log: {log})", log=log)
        run_step(["buildah", "push", "--quiet", recipe.tag, f"docker-archive:{tmp}:{recipe.tag}"],
                 step=f"{recipe.name}: buildah push", log=log)
        os.replace(tmp, archive)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        tmp.unlink(missing_ok=True)
        # The archive is the cache; a second copy in buildah's storage would only cost disk.
        subprocess.run(["buildah", "rmi", recipe.tag], capture_output=True, check=False)
    image = CachedImage(recipe.name, recipe.tag, str(archive), key, archive.stat().st_size,
                        round(time.monotonic() - started, 1), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    prune(directory, f"{recipe.name}-", keep=(archive.name, log.name))
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
    with locked(directory):
        recipes = [r for r in RECIPES if r.name in wanted]
        base = ensure_base(directory) if any(r.on_base for r in recipes) else None
        for recipe in recipes:
            started = time.monotonic()
            image, cached = build_image(recipe, base, directory)
            remember(directory, image)
            rows.append({**asdict(image), "cached": cached, "seconds": round(time.monotonic() - started, 1)})
            print(f"{recipe.name:15} {'cached' if cached else 'built':6} {image.size_bytes / 2**20:6.0f} MiB  "
                  f"built in {image.build_seconds:5.1f} s  {image.tag}", file=sys.stderr, flush=True)
    if results is not None and (not (results / "images.json").exists() or not all(row["cached"] for row in rows)):
        # Every image's last build (archive names only: the file is committed), rewritten when one was built.
        this_run = {str(row["name"]): row for row in rows}
        images = [{**this_run.get(name, asdict(known)), "archive": Path(known.archive).name}
                  for name, known in sorted(cached_images(directory).items())]
        results.mkdir(parents=True, exist_ok=True)
        write_json(results / "images.json", {"base": base.record if base else None, "images": images})
    return rows
