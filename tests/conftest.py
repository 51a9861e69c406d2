"""Shared fixtures: the real test bed (cluster, Prometheus, Triton) and per-test namespaces.

Tests get their layer marker from their folder (tests/unit -> ``unit`` ...), so ``pytest -m unit``
selects the fast pure tests without anyone remembering to decorate them.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from testbed.cluster import Cluster
from testbed.images import import_images
from testbed.kube import KubeClient
from testbed.paths import binary
from testbed.prometheus import Prometheus
from testbed.realnode import RealNode
from testbed.triton import TritonServer

LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for layer in LAYERS:
            if layer in parts:
                item.add_marker(getattr(pytest.mark, layer))
        # Whatever runs containers on the real node says so, wherever it lives (`-m realnode`).
        if "real_node" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realnode)
        if item.get_closest_marker("gpu") and not _gpu_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU and TensorRT; none here"))


def _gpu_available() -> bool:
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        import tensorrt  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def testbed_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state dir per pytest session unless TESTBED_STATE points at a running `testbed up`."""
    explicit = os.environ.get("TESTBED_STATE")
    return Path(explicit) if explicit else tmp_path_factory.mktemp("testbed")


@pytest.fixture(scope="session")
def cluster(testbed_state_dir: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The session's cluster: reused if already running there (testbed up), else started and stopped.

    It brings the real node only when a collected test uses it: the node is one per machine, and a
    run of kwok-only tests (``-m "not realnode"``) should neither wait for it nor take it from another.
    """
    bed = Cluster(testbed_state_dir)
    reuse = bed.healthy()
    bed.up(real_node=any("real_node" in getattr(item, "fixturenames", ()) for item in request.session.items))
    yield bed
    if not reuse:
        bed.down()


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> KubeClient:
    return KubeClient(cluster.kubeconfig)


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> RealNode:
    """The session cluster's real kubelet node; tests that need it skip, with the reason, where the
    host cannot run containers. On this project's machines it must run: CI sets
    TESTBED_REQUIRE_REAL_NODE=1 and a missing node fails instead of skipping."""
    assert cluster.state is not None
    if not cluster.state.real_node:
        reason = f"no real node on this host: {cluster.state.real_node_error}"
        if os.environ.get("TESTBED_REQUIRE_REAL_NODE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    node = cluster.real_node()
    # Disk pressure lets the kubelet delete unused images (the sandbox image too); put back what is
    # missing (a label check per image when all are there).
    import_images("ctr", node.layout.socket)
    return node


@pytest.fixture
def namespace(kube: KubeClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test; on failure its events are printed before it is deleted."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    label = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:63].strip("-_.") or "test"
    kube.create_namespace(name, {"test": label})
    yield name
    report: pytest.TestReport | None = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n--- events in namespace {name}")
        print("\n".join(kube.events_for(name)[-40:]))
    kube.core.delete_namespace(name)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    started: list[Prometheus] = []

    def start(scrape_configs: list[dict], rule_files: list[Path] | None = None) -> Prometheus:
        prom = Prometheus(tmp_path, name=f"prometheus-{len(started)}")
        prom.start(scrape_configs, rule_files)
        started.append(prom)
        return prom

    yield start
    for prom in started:
        prom.stop()


@pytest.fixture
def triton_factory(tmp_path: Path) -> Iterator[Callable[..., TritonServer]]:
    started: list[TritonServer] = []

    def start(model_repository: Path, extra_args: list[str] | None = None,
              env: dict[str, str] | None = None) -> TritonServer:
        server = TritonServer(tmp_path, model_repository, name=f"triton-{len(started)}")
        server.start(extra_args=extra_args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def helm_binary() -> str:
    return str(binary("helm"))


@pytest.fixture(scope="session")
def kubectl_binary() -> str:
    path = binary("kubectl")
    assert shutil.which(str(path)) or path.exists()
    return str(path)
