"""How the activator knows Triton is Ready, and why its pods cannot start when they cannot.

Readiness: the activator asks Triton itself, ``GET /v2/health/ready`` through the backend Service,
every ``probe_interval_s`` while it holds requests (and every ``idle_probe_interval_s`` otherwise).
That is the same path a forwarded request takes, so "ready" means what forwarding needs: kube-proxy
has a Ready endpoint and that Triton's strict readiness (every model loaded) says yes. Watching
EndpointSlices, as Knative's activator does, would add a watch and RBAC on endpointslices to learn
the same thing one hop earlier; a forward that still meets a closed port (connection refused: not
sent) closes the gate and is held again, so the probe's lag costs no request.

Why pods cannot start: the operator already computes it (``Available`` False with a start problem's
reason, e.g. ``Unschedulable``, and the scheduler's words as its message; see ``reconcile/decide.py``).
The activator reads the DiffusionService's status (a namespaced Role allows ``get`` on that one object)
while it holds requests, instead of the operator writing a second copy of the same fact somewhere;
``start_problem`` is the pure rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from diffusion_operator.activator import messages
from diffusion_operator.activator.gate import CannotStartError, Gate
from diffusion_operator.api.conditions import START_PROBLEMS, ConditionType

log = logging.getLogger(__name__)


def start_problem(status: Mapping[str, Any] | None) -> str | None:
    """Why the service's Triton pods cannot start, from its status; None while they may still start.

    Only a start problem the operator named counts (``Available=False`` with a reason in
    ``START_PROBLEMS``): ``ReplicasUnavailable`` ("0/1 Triton pods ready") is an ordinary cold start.
    """
    conditions: Sequence[Mapping[str, Any]] = (status or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") != ConditionType.AVAILABLE or condition.get("status") != "False":
            continue
        if condition.get("reason") in START_PROBLEMS:
            return str(condition.get("message") or condition.get("reason"))
    return None


StatusReader = Callable[[], Awaitable[Mapping[str, Any] | None]]


class BackendMonitor:
    """Keeps the gate's state in step with Triton's readiness and the service's start problems."""

    def __init__(self, gate: Gate, session: aiohttp.ClientSession, ready_url: str, *,
                 read_status: StatusReader | None = None, probe_interval_s: float = 0.25,
                 idle_probe_interval_s: float = 1.0, status_interval_s: float = 2.0,
                 probe_timeout_s: float = 2.0) -> None:
        self.gate = gate
        self.session = session
        self.ready_url = ready_url
        self.read_status = read_status
        self.probe_interval_s = probe_interval_s
        self.idle_probe_interval_s = idle_probe_interval_s
        self.status_interval_s = status_interval_s
        self.probe_timeout = aiohttp.ClientTimeout(total=probe_timeout_s)
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Probe now (a request arrived at a closed gate, or a forward met a closed port)."""
        self._wake.set()

    async def ready(self) -> bool:
        try:
            async with self.session.get(self.ready_url, timeout=self.probe_timeout) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def probe_once(self) -> bool:
        ready = await self.ready()
        if ready:
            self.gate.open()
        else:
            self.gate.close()
        return ready

    async def run_probes(self) -> None:
        while True:
            await self.probe_once()
            interval = self.probe_interval_s if self.gate.held or not self.gate.is_open else self.idle_probe_interval_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)

    async def check_status_once(self) -> str | None:
        """Fail what is held when the service reports that its pods cannot start."""
        if self.read_status is None or not self.gate.held:
            return None
        try:
            status = await self.read_status()
        except Exception as error:  # the API server being away must not stop the activator
            log.warning("could not read the service's status: %s", error)
            return None
        problem = start_problem(status)
        if problem is not None:
            failed = self.gate.fail(CannotStartError(messages.cannot_start(self.gate.service, problem)))
            log.info("answered %d held requests: %s", failed, problem)
        return problem

    async def run_status(self) -> None:
        while True:
            await self.check_status_once()
            await asyncio.sleep(self.status_interval_s)
