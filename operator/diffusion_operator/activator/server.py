"""Run the activator: the HTTP and gRPC pass-throughs, the backend monitor and the admin port.

The admin port serves ``/metrics``, ``/healthz`` (live) and ``/readyz`` (503 once shutting down, so
the client Service stops sending here first). On SIGTERM the activator keeps holding for
``drain_s`` (the pod's preStop and grace cover it): if Triton becomes Ready meanwhile the held
requests still go through; whatever is left is answered 503 with a retryable message, which a
client's retry sends to the other replica. In-flight forwards are then given the rest of the grace.

The HTTP server cancels a request's handler when its client disconnects (``handler_cancellation``);
grpc.aio does the same for a cancelled RPC. Either way an abandoned request leaves the hold queue and
its forward to Triton is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc.aio
from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from diffusion_operator.activator import messages
from diffusion_operator.activator.backend import BackendMonitor, StatusReader
from diffusion_operator.activator.channels import ChannelPool, insecure_pool
from diffusion_operator.activator.gate import Gate, ShuttingDownError
from diffusion_operator.activator.grpc_proxy import CHANNEL_OPTIONS, PassThrough
from diffusion_operator.activator.http_proxy import Authenticate, build_app
from diffusion_operator.activator.keys import KeyStore
from diffusion_operator.activator.metrics import ApiMetrics, registry_for
from diffusion_operator.activator.openai.limits import KeyLimiter
from diffusion_operator.activator.openai.routes import OpenAIApi
from diffusion_operator.activator.openai.settings import ApiSettings
from diffusion_operator.activator.openai.upstream import TritonImages

log = logging.getLogger(__name__)

#: Seconds to wait for the backend Service's ClusterIP before falling back to its DNS name.
BACKEND_LOOKUP_TRIES = 30


@dataclass(frozen=True)
class ActivatorSettings:
    service: str
    namespace: str
    #: Triton's backend Service, e.g. ``sdxl-backend.ns.svc``.
    backend_host: str
    backend_http_port: int = 8000
    backend_grpc_port: int = 8001
    listen_host: str = "0.0.0.0"
    http_port: int = 8000
    grpc_port: int = 8001
    admin_port: int = 8002
    queue_limit: int = 100
    deadline_s: float = 1200.0
    drain_s: float = 10.0
    #: Read the DiffusionService's status (in a cluster); off in tests against a host Triton.
    read_status: bool = True
    #: The connection pool to Triton: enough for every held request to go at once.
    max_connections: int = 256
    #: The backend Service's name: when set (in a cluster), its ClusterIP replaces ``backend_host``.
    backend_service: str | None = None
    #: The OpenAI images API and its keys (``spec.api``); None: the KServe pass-through only, no keys.
    api: ApiSettings | None = None


def kube_cluster_ip(namespace: str, name: str) -> str | None:
    """The backend Service's ClusterIP, read with the pod's ServiceAccount.

    Why not its DNS name: the activator then depends on no cluster DNS (the test bed's pods have
    none) and no lookup sits in front of a new connection; a ClusterIP never changes while the
    Service exists, and the operator creates the Service before the activator.
    """
    from kubernetes import client, config  # noqa: PLC0415 - only in a cluster; tests run without it

    config.load_incluster_config()  # type: ignore[no-untyped-call]
    service = client.CoreV1Api().read_namespaced_service(name, namespace)
    ip = service.spec.cluster_ip if service.spec else None
    return str(ip) if ip and ip != "None" else None


def kube_status_reader(namespace: str, name: str) -> StatusReader:
    """Read ``status`` of the DiffusionService with the pod's ServiceAccount (in-cluster config)."""
    from kubernetes import client, config  # noqa: PLC0415 - only in a cluster; tests run without it

    from diffusion_operator.api import GROUP, PLURAL, VERSION  # noqa: PLC0415

    config.load_incluster_config()  # type: ignore[no-untyped-call]
    api = client.CustomObjectsApi()

    def read() -> Mapping[str, Any] | None:
        body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return body.get("status") if isinstance(body, dict) else None

    async def read_async() -> Mapping[str, Any] | None:
        return await asyncio.to_thread(read)

    return read_async


class Activator:
    def __init__(self, settings: ActivatorSettings) -> None:
        self.settings = settings
        self.gate = Gate(service=f"{settings.namespace}/{settings.service}", limit=settings.queue_limit,
                         deadline_s=settings.deadline_s)
        self.shutting_down = False
        self._stopped = asyncio.Event()
        self.ready = asyncio.Event()
        self.registry = registry_for(self.gate)
        self.api_metrics = ApiMetrics(self.registry) if settings.api is not None else None

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        s = self.settings
        connector = aiohttp.TCPConnector(limit=s.max_connections, ttl_dns_cache=30)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
            host = await self._backend_host()
            if host is None:
                return
            backend = f"http://{host}:{s.backend_http_port}"
            reader = kube_status_reader(s.namespace, s.service) if s.read_status else None
            monitor = BackendMonitor(self.gate, session, f"{backend}/v2/health/ready", read_status=reader)
            tasks = [asyncio.create_task(monitor.run_probes()), asyncio.create_task(monitor.run_status())]
            channel = insecure_pool(f"{host}:{s.backend_grpc_port}", CHANNEL_OPTIONS, asyncio.get_running_loop().time)
            api = self._api(channel, monitor.poke)
            authenticate: Authenticate | None = api.keys.authenticate if api is not None else None
            # handler_cancellation: a client that disconnects cancels its handler, so a held request leaves
            # the gate's queue and a forwarded one is dropped: the API's gRPC call to Triton is cancelled
            # (Triton cancels the request and the pipeline stops at its next step); a KServe request passed
            # through over HTTP only closes its connection, which Triton ignores. aiohttp's default since
            # 3.7 lets the handler run on: held requests nobody waits for would be counted by the
            # autoscaler and sent when the service wakes.
            http = web.AppRunner(build_app(self.gate, session, backend, monitor.poke, authenticate=authenticate,
                                           add_routes=api.add_routes if api is not None else None),
                                 access_log=None, handler_cancellation=True)
            admin = web.AppRunner(self._admin_app(), access_log=None)
            await http.setup()
            await admin.setup()
            await web.TCPSite(http, s.listen_host, s.http_port).start()
            await web.TCPSite(admin, s.listen_host, s.admin_port).start()
            server = grpc.aio.server(options=CHANNEL_OPTIONS)
            server.add_generic_rpc_handlers((PassThrough(self.gate, channel, monitor.poke, authenticate),))
            server.add_insecure_port(f"{s.listen_host}:{s.grpc_port}")
            await server.start()
            log.info("activator for %s holding up to %d requests for %.0fs each, backend %s",
                     self.gate.service, s.queue_limit, s.deadline_s, host)
            if api is not None:
                log.info("OpenAI images API on /v1 for model %s: keys %s, n <= %d, sizes %s, steps <= %d, edits %s",
                         api.settings.model_id, ", ".join(api.keys.names()) or "(none yet)",
                         api.settings.max_images, api.settings.sizes.describe(), api.settings.max_steps,
                         "on (photoshoot)" if api.settings.edits else "off (no photoshoot pipeline)")
            self.ready.set()
            await self._stopped.wait()
            await self._drain()
            await server.stop(grace=s.drain_s)
            await http.cleanup()
            await admin.cleanup()
            await channel.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _api(self, channel: ChannelPool, poke: Callable[[], None]) -> OpenAIApi | None:
        """The OpenAI images API in front of Triton's gRPC port (``activator/openai``), when ``spec.api`` is on."""
        api = self.settings.api
        if api is None:
            return None
        clock = asyncio.get_running_loop().time
        return OpenAIApi(settings=api, keys=KeyStore(api.keys_dir, clock),
                         limiter=KeyLimiter(api.requests_per_minute, api.max_concurrent, clock),
                         images=TritonImages(self.gate, channel, poke, clock), metrics=self.api_metrics)

    async def _backend_host(self) -> str | None:
        """The backend Service's ClusterIP (retried for ``BACKEND_LOOKUP_TRIES`` seconds), else
        ``backend_host`` (its DNS name); None if stopped meanwhile."""
        s = self.settings
        tries = 0
        while s.backend_service is not None and not self._stopped.is_set() and tries < BACKEND_LOOKUP_TRIES:
            tries += 1
            try:
                ip = await asyncio.to_thread(kube_cluster_ip, s.namespace, s.backend_service)
            except Exception as error:  # the API server away, or the Service not created yet
                log.warning("backend Service %s not readable yet: %s", s.backend_service, error)
                ip = None
            if ip is not None:
                return ip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=1.0)
        return None if self._stopped.is_set() else s.backend_host

    async def _drain(self) -> None:
        """Stop being Ready, keep holding up to ``drain_s``, then answer what is left as retryable."""
        self.shutting_down = True
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.drain_s
        while self.gate.held and loop.time() < until:
            await asyncio.sleep(0.1)
        pod = os.environ.get("HOSTNAME", "activator")
        failed = self.gate.fail(ShuttingDownError(messages.shutting_down(self.gate.service, pod)))
        log.info("shutting down; answered %d held requests as retryable", failed)

    def _admin_app(self) -> web.Application:
        registry = self.registry

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def readyz(_: web.Request) -> web.Response:
            return web.Response(status=503 if self.shutting_down else 200,
                                text="shutting down" if self.shutting_down else "ok")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        return app


def serve(settings: ActivatorSettings) -> None:
    """Run until SIGTERM/SIGINT (the pod's stop), draining as described above."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def main() -> None:
        activator = Activator(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, activator.stop)
        await activator.run()

    asyncio.run(main())
