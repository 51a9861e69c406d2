"""Every data file the packages read at run time ships in the wheel the images install.

The images install the project with pip (not editable), so a file under a package that no
``package-data`` pattern matches is silently left out: the trained weights once were, and every build
Job failed with ``SourceUnavailable`` while the editable checkout passed its tests.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "engine_builder", ROOT / "operator" / "diffusion_operator", ROOT / "testbed")
NOT_DATA = {".py", ".pyc", ".md"}  # code and docs; Dockerfiles build the images and are not read by them


def test_every_data_file_under_a_package_matches_a_package_data_pattern():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    data = [p for package in PACKAGES for p in package.rglob("*")
            if p.is_file() and p.suffix not in NOT_DATA and not p.name.startswith("Dockerfile")
            and "__pycache__" not in p.parts]
    assert any(p.suffix == ".safetensors" for p in data), "the trained weights are data files"
    missing = [str(p.relative_to(ROOT)) for p in data if not any(fnmatch.fnmatch(p.name, pat) for pat in patterns)]
    assert missing == [], f"not in the wheel (add a pattern to [tool.setuptools.package-data]): {missing}"
