"""The child-event work queue: bursts coalesce, failures are retried with backoff, nothing is lost."""

from __future__ import annotations

import asyncio
import time

from diffusion_operator.api.resource import ServiceRef
from diffusion_operator.handlers import workqueue
from diffusion_operator.handlers.workqueue import DirtyQueue, retry_delay

KEY = ServiceRef("ns", "svc", "uid-1")


def test_retry_delays_double_and_are_capped():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(30) == workqueue.RETRY_MAX_SECONDS


def test_a_burst_of_marks_for_one_owner_becomes_one_reconcile():
    seen: list[ServiceRef] = []

    async def scenario() -> None:
        queue = DirtyQueue(seen.append, workers=2)
        for _ in range(50):
            queue.mark(KEY)
        queue.mark(ServiceRef("ns", "other", "uid-2"))
        await asyncio.sleep(0.2)
        await queue.stop()

    asyncio.run(scenario())
    assert seen.count(KEY) == 1 and len(seen) == 2


def test_a_failed_reconcile_is_retried_until_it_succeeds(monkeypatch):
    monkeypatch.setattr(workqueue, "RETRY_BASE_SECONDS", 0.01)
    attempts: list[ServiceRef] = []

    def flaky(key: ServiceRef) -> None:
        attempts.append(key)
        if len(attempts) < 3:
            raise RuntimeError("API server briefly unavailable")

    async def scenario() -> None:
        queue = DirtyQueue(flaky, workers=1)
        queue.mark(KEY)
        await asyncio.sleep(0.5)
        await queue.stop()

    asyncio.run(scenario())
    assert len(attempts) == 3


def test_a_reconcile_that_asks_for_a_requeue_runs_again_after_its_delay():
    seen: list[float] = []

    def wants_another_look(key: ServiceRef) -> float | None:
        seen.append(time.monotonic())
        return 0.2 if len(seen) == 1 else None

    async def scenario() -> None:
        queue = DirtyQueue(wants_another_look, workers=1)
        queue.mark(KEY)
        await asyncio.sleep(0.6)
        await queue.stop()

    asyncio.run(scenario())
    assert len(seen) == 2 and seen[1] - seen[0] >= 0.2


def test_mark_later_works_from_another_thread():
    seen: list[ServiceRef] = []

    async def scenario() -> None:
        queue = DirtyQueue(seen.append, workers=1)
        await asyncio.to_thread(queue.mark_later, KEY, 0.1)
        await asyncio.sleep(0.4)
        await queue.stop()

    asyncio.run(scenario())
    assert seen == [KEY]
