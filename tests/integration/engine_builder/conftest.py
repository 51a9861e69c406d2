"""One tiny-SDXL repository per code version, built through the real CLI, and one Triton serving it.

The build output is cached under ``~/.cache/diffusion-operator/engine-builder-tests/<code hash>/``:
the cache key covers the plan, the code hash covers the builder, so a rerun without changes is a
cache hit (itself one of the properties under test) and any code change rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testbed.paths import cache_root
from testbed.triton import TritonServer, stub_python_env

ROOT = Path(__file__).resolve().parents[3]
PLAN = {
    "source": "builtin://tiny-sdxl",
    "backend": "onnxruntime",
    "precision": "fp16",
    "resolutions": [{"width": 256, "height": 256}],
    "max_batch_size": 2,
}


def code_hash() -> str:
    digest = hashlib.sha256()
    # Every file the builder ships, the trained weights too: new weights with unchanged code must
    # not reuse repositories built from the old ones.
    for path in sorted((ROOT / "engine_builder").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def run_cli(plan: Path, out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess; the termination log is pre-created as the kubelet does in a pod."""
    (out.parent / "termination-log").write_text("")
    return subprocess.run(
        [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(plan), "--out", str(out),
         "--termination-log", str(out.parent / "termination-log"), *extra],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
    )


@dataclass(frozen=True)
class Built:
    plan_path: Path
    out: Path
    summary: dict[str, Any]
    first_run: subprocess.CompletedProcess[str]

    @property
    def path(self) -> Path:
        return Path(self.summary["path"])

    @property
    def repository(self) -> Path:
        return self.path / "model_repository"


@pytest.fixture(scope="session")
def built_tiny() -> Built:
    base = cache_root() / "engine-builder-tests" / code_hash()
    for stale in base.parent.glob("*"):  # builds of older code versions are never used again
        if stale != base and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    plan_path = base / "plan.json"
    plan_path.write_text(json.dumps(PLAN))
    result = run_cli(plan_path, base / "cache")
    assert result.returncode == 0, result.stderr[-4000:]
    return Built(plan_path, base / "cache", json.loads(result.stdout.strip().splitlines()[-1]), result)


@pytest.fixture(scope="session", name="stub_env")
def stub_env_fixture() -> dict[str, str]:
    return stub_python_env()


@pytest.fixture(scope="module")
def triton(built_tiny: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    server = TritonServer(tmp_path_factory.mktemp("triton-sdxl"), built_tiny.repository, name="triton-sdxl")
    server.start(env={**stub_python_env(), "OMP_NUM_THREADS": "1"}, timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="session", name="run_cli")
def run_cli_fixture() -> Any:
    """The CLI as a subprocess (tests import no helpers across modules: fixtures only)."""
    return run_cli
