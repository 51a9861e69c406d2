"""`make images` rebuilds an image exactly when its inputs change, and its CPU shortcuts stay true.

Pure and cheap: the hash over a recipe's files, the placeholder wheels, and (against the dev venv's
real torch) that the wheels CPU images leave empty are ones ``import torch`` never loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from testbed import images
from testbed.images import CPU_PLACEHOLDERS, ImageRecipe, input_files, input_hash, placeholder_wheel, wheel_closure
from testbed.images import cache as image_cache
from testbed.paths import REPO_ROOT

RECIPE = ImageRecipe("demo", "example.test/demo:1", "app/Dockerfile", ("app/src", "constraints.txt"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "app" / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app" / "src" / "main.py").write_text("print('hi')\n")
    (tmp_path / "app" / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "app" / "README.md").write_text("not an input\n")
    (tmp_path / "constraints.txt").write_text("numpy==1.26.4\n")
    return tmp_path


def digest(root: Path, *, base: str = "base-1", wheels: tuple[str, ...] = ("numpy==1.26.4",),
           args: dict[str, str] | None = None, recipe: ImageRecipe = RECIPE) -> str:
    return input_hash(recipe, root=root, base_identity=base, wheels=wheels, build_args=args or {"PIP_ARGS": "-q"})


def test_the_inputs_are_the_dockerfile_and_the_listed_files_without_bytecode(repo: Path):
    assert input_files(RECIPE, repo) == ["app/Dockerfile", "app/src/main.py", "constraints.txt"]


def test_the_same_inputs_give_the_same_hash_and_other_files_do_not_count(repo: Path):
    before = digest(repo)
    (repo / "app" / "README.md").write_text("edited\n")
    (repo / "app" / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\1")
    assert digest(repo) == before


@pytest.mark.parametrize("change", ["dockerfile", "source", "new file", "constraints", "base", "wheels", "args"])
def test_any_input_change_gives_a_new_hash(repo: Path, change: str):
    before = digest(repo)
    kwargs: dict = {}
    if change == "dockerfile":
        (repo / "app" / "Dockerfile").write_text("FROM scratch\nUSER 1000\n")
    elif change == "source":
        (repo / "app" / "src" / "main.py").write_text("print('bye')\n")
    elif change == "new file":
        (repo / "app" / "src" / "extra.py").write_text("")
    elif change == "constraints":
        (repo / "constraints.txt").write_text("numpy==1.26.3\n")
    elif change == "base":
        kwargs["base"] = "base-2"
    elif change == "wheels":
        kwargs["wheels"] = ("numpy==1.26.4", "torch==2.15.0")
    else:
        kwargs["args"] = {"PIP_ARGS": "--no-index"}
    assert digest(repo, **kwargs) != before


def test_a_scratch_image_does_not_depend_on_the_base(repo: Path):
    scratch = ImageRecipe("demo", "example.test/demo:1", "app/Dockerfile", ("app/src",), on_base=False)
    assert digest(repo, base="base-1", recipe=scratch) == digest(repo, base="base-2", recipe=scratch)


def test_a_missing_input_is_an_error_not_an_empty_hash(repo: Path):
    shutil.rmtree(repo / "app" / "src")
    with pytest.raises(images.ImageBuildError, match="app/src does not exist"):
        digest(repo)


def test_every_recipe_hashes_from_this_checkout():
    for recipe in images.RECIPES:
        files = input_files(recipe)
        assert recipe.dockerfile in files
        assert not any("testbed/" in f for f in files), "no image is built from the test bed"


def test_the_triton_wheel_roots_are_what_its_dockerfile_installs():
    recipe = next(r for r in images.RECIPES if r.name == "triton-sdxl")
    dockerfile = (REPO_ROOT / recipe.dockerfile).read_text()
    for root in recipe.wheel_roots:
        assert root in dockerfile


def test_a_placeholder_wheel_installs_metadata_only(tmp_path: Path):
    wheel = placeholder_wheel("nvidia-nvtx", "13.2.86", ["extra-a"], tmp_path)
    assert wheel.name == "nvidia_nvtx-13.2.86-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert all(name.startswith("nvidia_nvtx-13.2.86.dist-info/") for name in archive.namelist())
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                           "--target", str(target), str(wheel)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in target.iterdir()] == ["nvidia_nvtx-13.2.86.dist-info"]


def _needed_by_torch() -> set[str]:
    """Distributions owning a library that loading ``torch._C`` pulls in (ldd: the DT_NEEDED closure)."""
    torch_dist = metadata.distribution("torch")
    extension = next(f for f in torch_dist.files or [] if str(f).startswith("torch/_C.") and str(f).endswith(".so"))
    done = subprocess.run(["ldd", str(torch_dist.locate_file(extension))], capture_output=True, text=True, check=True)
    loaded = {Path(line.split("=>")[1].split()[0]).resolve() for line in done.stdout.splitlines()
              if "=>" in line and "/" in line.split("=>")[1]}
    owners = set()
    for dist in metadata.distributions():
        files = {Path(str(dist.locate_file(f))).resolve() for f in dist.files or []
                 if str(f).endswith(".so") or ".so." in str(f)}
        if files & loaded:
            owners.add(dist.metadata["Name"])
    return owners


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd")
def test_cpu_placeholders_are_wheels_torch_pins_but_never_loads():
    needed = _needed_by_torch()
    assert "nvidia-cublas" in needed, "sanity: PyPI's torch links CUDA libraries"
    assert not needed & CPU_PLACEHOLDERS
    assert wheel_closure(["torch"]).keys() >= CPU_PLACEHOLDERS, "every placeholder stands for a wheel torch pins"


def test_pruning_keeps_the_most_recently_used_archives_of_an_image_and_the_one_just_built(tmp_path: Path):
    # Checkouts share the archive cache: another checkout's current build must survive this one's.
    hashes = [f"{n:020x}" for n in range(5)]
    for age, key in enumerate(hashes):  # hashes[0] is the newest
        archive = tmp_path / f"operator-{key}.tar"
        archive.write_bytes(b"x")
        (tmp_path / f"operator-{key}.log").write_text("log")
        mtime = 1_000_000 - age * 100
        os.utime(archive, (mtime, mtime))
    (tmp_path / f"triton-sdxl-{hashes[4]}.tar").write_bytes(b"other image")
    image_cache.prune(tmp_path, "operator-", keep=(f"operator-{hashes[4]}.tar", f"operator-{hashes[4]}.log"))
    left = sorted(p.name for p in tmp_path.glob("operator-*.tar"))
    assert len(left) == images.ARCHIVES_KEPT_PER_IMAGE
    assert f"operator-{hashes[4]}.tar" in left  # just built, though the oldest by mtime
    assert f"operator-{hashes[0]}.tar" in left  # the most recently used of the others
    assert not (tmp_path / f"operator-{hashes[3]}.log").exists()  # a pruned archive's log goes with it
    assert (tmp_path / f"triton-sdxl-{hashes[4]}.tar").exists()


def test_each_checkout_has_its_own_index_of_current_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mine = images.index_path(tmp_path)
    monkeypatch.setattr(image_cache, "REPO_ROOT", tmp_path / "another-worktree")
    assert images.index_path(tmp_path) != mine
    assert images.index_path(tmp_path).parent == tmp_path
