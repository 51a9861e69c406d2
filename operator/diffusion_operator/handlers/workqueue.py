"""A de-duplicating work queue for child events (controller-runtime's workqueue, in asyncio).

A burst of Job and Deployment events (a rollout, a thousand services created at once) must not turn
into a thousand queued reconciles of the same service, nor hold thousands of event bodies in memory
while worker threads are busy. Child events only *mark* their owner dirty here and return; a few
workers reconcile each dirty owner once, however many events marked it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from diffusion_operator.api.resource import ServiceRef

log = logging.getLogger(__name__)

#: Requeue delays after failed reconciles double from here, up to the cap (controller-runtime's shape).
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def retry_delay(failures: int) -> float:
    """1 s, 2 s, 4 s ... capped: a broken service is retried, never hammered, never forgotten."""
    return float(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, failures - 1)))


class DirtyQueue:
    """``reconcile(key)`` may return seconds after which the key wants another look (RequeueAfter)."""

    def __init__(self, reconcile: Callable[[ServiceRef], float | None], workers: int) -> None:
        self._reconcile = reconcile
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):  # created in kopf's startup handler, on its loop
            self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[ServiceRef] = asyncio.Queue()
        self._pending: set[ServiceRef] = set()
        self._failures: dict[ServiceRef, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._workers = workers

    def _start(self) -> None:
        # Started lazily from inside a kopf handler: tasks copy the current context, and kopf's event
        # poster lives in context variables that only handlers have (kopf.event needs them).
        self._loop = asyncio.get_running_loop()
        self._tasks = [self._loop.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def mark(self, key: ServiceRef) -> None:
        """Ask for one reconcile of ``key``; a key already waiting is not queued twice."""
        if not self._tasks:
            self._start()
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def mark_later(self, key: ServiceRef, delay: float) -> None:
        """``mark`` after ``delay`` seconds; safe from any thread (kopf runs sync handlers in threads)."""
        loop = self._loop
        if loop is None:
            return  # not created on a loop (tests): the resync timer is the fallback
        loop.call_soon_threadsafe(loop.call_later, delay, self.mark, key)

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            # Taken off the pending set *before* the reconcile: an event during it marks the key again,
            # so nothing that happens while we work is lost.
            self._pending.discard(key)
            try:
                again = await asyncio.to_thread(self._reconcile, key)
                self._failures.pop(key, None)
                if again is not None:
                    asyncio.get_running_loop().call_later(again, self.mark, key)
            except Exception as err:  # one service's failure must not stop the workers
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = retry_delay(failures)
                log.warning("reconcile of %s/%s failed (%s); retry in %.0fs", key.namespace, key.name, err, delay)
                asyncio.get_running_loop().call_later(delay, self.mark, key)
            finally:
                self._queue.task_done()
