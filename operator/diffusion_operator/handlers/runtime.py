"""What every handler needs, built once at startup and carried in kopf's memo."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from diffusion_operator.config import OperatorConfig
from diffusion_operator.k8s.gateway import KubeGateway
from diffusion_operator.render.defaults import RenderSettings

#: The operator's settings, read once: kopf's decorators need the timer intervals at import time, and
#: every handler module and the startup handler must see the same values.
CONFIG = OperatorConfig.from_env(dict(os.environ))


#: How often an async handler retries a service's lock held by a reconcile thread.
LOCK_POLL_SECONDS = 0.05


@dataclass
class Runtime:
    gateway: KubeGateway
    config: OperatorConfig
    #: One lock per DiffusionService uid: a Job event and a spec update must not reconcile the same
    #: service at once in this process (kopf serialises per object, not across the objects we watch).
    locks: defaultdict[str, threading.Lock] = field(default_factory=lambda: defaultdict(threading.Lock))
    #: The autoscaler's one HTTP session to Prometheus, on kopf's event loop (every service, every tick).
    prometheus: aiohttp.ClientSession | None = None

    def lock_for(self, uid: str) -> threading.Lock:
        return self.locks[uid]

    @contextlib.asynccontextmanager
    async def locked(self, uid: str) -> AsyncIterator[None]:
        """``lock_for(uid)`` from a coroutine: polled, so the event loop never blocks on a reconcile
        thread, and a cancelled wait leaves nothing holding the lock."""
        lock = self.lock_for(uid)
        while not lock.acquire(blocking=False):
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            lock.release()

    @property
    def render_settings(self) -> RenderSettings:
        """The renderers' settings from the operator config (the chart's values)."""
        cfg = self.config
        return RenderSettings(
            triton_image=cfg.triton_image,
            builder_image=cfg.builder_image,
            builder_service_account=cfg.builder_service_account,
            cache_size=cfg.cache_size,
            cache_storage_class=cfg.cache_storage_class,
            metrics_scraper_namespace=cfg.metrics_scraper_namespace,
            operator_namespace=cfg.operator_namespace,
            gpu_node_labels=cfg.gpu_node_labels,
            gpu_tolerations=tuple(cfg.gpu_tolerations) if cfg.gpu_tolerations is not None else None,
            metrics_interval=cfg.metrics_interval,
            activator_image=cfg.activator_image,
            activator_queue_limit=cfg.activator_queue_limit,
            activator_node_selector=dict(cfg.activator_node_selector),
            activator_tolerations=tuple(cfg.activator_tolerations),
        )
