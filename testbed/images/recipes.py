"""What each image is built from, and the hash of those inputs that names its archive (pure).

The hash is the whole cache rule: the same inputs give the same archive name, so nothing is rebuilt;
any change to a hashed input gives a new name, so the image is rebuilt. What is hashed: the recipe's
version, name and tag, the base's identity (for images on it), the tools' version, every input file's
path and bytes, the wheel pins and the build arguments.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from testbed.images.steps import ImageBuildError
from testbed.paths import REPO_ROOT

#: Bump when the build procedure changes in a way the hashed inputs do not show: every image rebuilds.
RECIPE_VERSION = "1"
PROJECT = "diffusion-operator"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
REGISTRY = "ghcr.io/diffusion-operator"
#: containerd's ``sandbox_image`` on the real node must name exactly this.
PAUSE_TAG = "registry.k8s.io/pause:3.10"
#: The builder image is installed from these, the operator's from these and its own package; neither
#: imports the test bed (.importlinter), so test-bed edits rebuild nothing and operator edits only it.
PROJECT_FILES = ("pyproject.toml", "README.md", "constraints.txt", "engine_builder")
#: Never part of an image's inputs (nor of its build context).
IGNORED = re.compile(r"(^|/)(__pycache__|\.mypy_cache|\.pytest_cache|[^/]*\.egg-info)(/|$)|\.pyc$")


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
                wheel_roots=("numpy<2", "transformers", "tokenizers", "safetensors", "pillow", "onnxruntime",
                             "nvidia-pytriton")),
    ImageRecipe("pause", PAUSE_TAG, "tools/gobin/pause/Dockerfile", ("tools/gobin/pause",), on_base=False,
                go_binary="tools/gobin/pause"),
)


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
