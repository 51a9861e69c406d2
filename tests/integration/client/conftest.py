"""A tiny SDXL repository served by a real CPU Triton (``tests/integration/tiny_sdxl.py``), and the
``diffusion`` CLI as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from testbed.kube import KubeClient, condition
from testbed.paths import REPO_ROOT
from testbed.triton import TritonServer
from tests.integration.tiny_sdxl import build_tiny_repository, warm_up

DIFFUSION = Path(sys.executable).parent / "diffusion"


@pytest.fixture(scope="session")
def tiny_repository() -> Path:
    return build_tiny_repository()


@pytest.fixture(scope="module")
def tiny_triton(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    server = TritonServer(tmp_path_factory.mktemp("triton-client"), tiny_repository, name="triton-client")
    server.start(timeout=180)
    warm_up(server.http_url)
    yield server
    server.stop()


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
