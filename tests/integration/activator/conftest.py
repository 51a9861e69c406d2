"""An activator run in this process (its own thread and event loop) in front of a host Triton: the
echo model's (started by each test), or the tiny SDXL repository's (one per module, for the API;
with the photoshoot pipeline for its edits)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from diffusion_operator.activator.server import Activator, ActivatorSettings

from testbed.processes import free_port
from testbed.triton import TritonServer
from tests.integration.tiny_sdxl import PHOTOSHOOT_PLAN, build_tiny_repository, warm_up

MODELS = Path(__file__).parents[1] / "testbed" / "models"


class RunningActivator:
    def __init__(self, settings: ActivatorSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.activator: Activator | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.activator = Activator(self.settings)
            task = asyncio.create_task(self.activator.run())
            await self.activator.ready.wait()
            self.started.set()
            await task

        self.loop.run_until_complete(main())

    def start(self) -> RunningActivator:
        self.thread.start()
        assert self.started.wait(10), "the activator did not start"
        return self

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.settings.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.settings.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.admin_port}/metrics"

    def held(self) -> int:
        assert self.activator is not None
        return self.activator.gate.held

    def stop(self) -> None:
        if self.activator is not None:
            self.loop.call_soon_threadsafe(self.activator.stop)
        self.thread.join(30)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[TritonServer]:
    """A Triton with the echo model, not started: the test starts it when the service "wakes"."""
    server = TritonServer(tmp_path, MODELS, name="backend")
    yield server
    server.stop()


def _starter(backend: TritonServer, service: str, started: list[RunningActivator]) -> Callable[..., RunningActivator]:
    def start(**overrides: object) -> RunningActivator:
        settings = ActivatorSettings(service=service, namespace="test", backend_host="127.0.0.1",
                                     backend_http_port=backend.http_port, backend_grpc_port=backend.grpc_port,
                                     listen_host="127.0.0.1", http_port=free_port(), grpc_port=free_port(),
                                     admin_port=free_port(), read_status=False, drain_s=1.0)
        running = RunningActivator(replace(settings, **overrides)).start()  # type: ignore[arg-type]
        started.append(running)
        return running

    return start


@pytest.fixture
def activator_factory(backend: TritonServer) -> Iterator[Callable[..., RunningActivator]]:
    started: list[RunningActivator] = []
    yield _starter(backend, "echo", started)
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def tiny_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A Triton serving the tiny SDXL repository (``tests/integration/tiny_sdxl.py``), started and warm."""
    server = TritonServer(tmp_path_factory.mktemp("triton-api"), build_tiny_repository(), name="triton-api")
    server.start(timeout=180)
    warm_up(server.http_url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdxl_activator_factory(tiny_triton: TritonServer) -> Iterator[Callable[..., RunningActivator]]:
    """Activators in front of ``tiny_triton`` for the service ``sdxl-tiny`` (the API's model id)."""
    started: list[RunningActivator] = []
    yield _starter(tiny_triton, "sdxl-tiny", started)
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def photoshoot_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """A Triton serving the tiny repository with the photoshoot pipeline (``PHOTOSHOOT_PLAN``), started and warm."""
    server = TritonServer(tmp_path_factory.mktemp("triton-edits"), build_tiny_repository(PHOTOSHOOT_PLAN),
                          name="triton-edits")
    server.start(timeout=180)
    warm_up(server.http_url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def photoshoot_activator_factory(photoshoot_triton: TritonServer) -> Iterator[Callable[..., RunningActivator]]:
    """Activators in front of ``photoshoot_triton`` for the service ``sdxl-tiny``."""
    started: list[RunningActivator] = []
    yield _starter(photoshoot_triton, "sdxl-tiny", started)
    for running in started:
        running.stop()
