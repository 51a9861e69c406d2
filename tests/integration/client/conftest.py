"""A tiny SDXL repository served by a real CPU Triton, and the ``diffusion`` CLI as a user runs it.

The repository is built once through ``engine-builder build`` into
``~/.cache/diffusion-operator/client-tests/<builder code hash>/``; the builder's own cache makes a
rerun a hit in under a second, and a change to the builder's code rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient

from testbed.kube import KubeClient, condition
from testbed.paths import REPO_ROOT, cache_root
from testbed.triton import TritonServer

PLAN = {"source": "builtin://tiny-sdxl", "backend": "onnxruntime", "precision": "fp16",
        "resolutions": [{"width": 256, "height": 256}], "max_batch_size": 2}
DIFFUSION = Path(sys.executable).parent / "diffusion"


def _builder_code_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "engine_builder").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def tiny_repository() -> Path:
    base = cache_root() / "client-tests" / _builder_code_hash()
    for stale in base.parent.glob("*"):
        if stale != base and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    (base / "plan.json").write_text(json.dumps(PLAN))
    result = subprocess.run(
        [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(base / "plan.json"),
         "--out", str(base / "cache"), "--termination-log", str(base / "termination-log")],
        capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(json.loads(result.stdout.strip().splitlines()[-1])["path"]) / "model_repository"


@pytest.fixture(scope="module")
def tiny_triton(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    server = TritonServer(tmp_path_factory.mktemp("triton-client"), tiny_repository, name="triton-client")
    server.start(timeout=180)
    warm_up(server)
    yield server
    server.stop()


def warm_up(server: TritonServer) -> None:
    """One request per ``sdxl`` instance at once: each pays its ONNX Runtime set-up (~3 s) here, not in a test."""
    def one(seed: int) -> None:
        client = TritonClient(Endpoint(server.http_url))
        try:
            client.generate(ImageRequest(prompt="warm up", seed=seed, steps=1, width=64, height=64))
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=PLAN["max_batch_size"]) as pool:
        list(pool.map(one, range(PLAN["max_batch_size"])))


@pytest.fixture(scope="session")
def diffusion() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``diffusion`` console script; ``env`` adds variables (e.g. KUBECONFIG)."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DIFFUSION), *args], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd, check=False)

    return run


@pytest.fixture(scope="session")
def diffusion_crd(kube: KubeClient) -> None:
    """The DiffusionService CRD (no operator: the tests write status themselves, as the operator would)."""
    for path in sorted((REPO_ROOT / "manifests" / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            kube.apply(crd, field_manager="client-tests")
            kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"], None,
                          lambda c: condition(c, "Established") == "True", what="Established")
    kube.dynamic.resources.invalidate_cache()
