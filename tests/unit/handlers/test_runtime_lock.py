"""A service's lock from a coroutine: it waits for a reconcile thread without blocking the loop, and a
cancelled wait leaves the lock free."""

from __future__ import annotations

import asyncio
import threading

from diffusion_operator.handlers.runtime import Runtime


def runtime() -> Runtime:
    return Runtime(gateway=None, config=None)  # type: ignore[arg-type]


def test_the_async_holder_waits_for_the_thread_and_the_loop_keeps_running() -> None:
    shared = runtime()
    order: list[str] = []

    async def scenario() -> None:
        lock = shared.lock_for("u1")
        lock.acquire()
        timer = threading.Timer(0.2, lambda: (order.append("thread done"), lock.release()))
        timer.start()
        ticker = asyncio.create_task(asyncio.sleep(0.05))
        async with shared.locked("u1"):
            order.append("autoscaler")
        assert ticker.done()  # the loop ran other work while the lock was held elsewhere
        timer.join()

    asyncio.run(scenario())
    assert order == ["thread done", "autoscaler"]
    assert not shared.lock_for("u1").locked()


def test_a_cancelled_wait_does_not_keep_the_lock() -> None:
    shared = runtime()

    async def scenario() -> None:
        lock = shared.lock_for("u1")
        lock.acquire()

        async def wait() -> None:
            async with shared.locked("u1"):
                raise AssertionError("never reached: cancelled while waiting")

        waiter = asyncio.create_task(wait())
        await asyncio.sleep(0.1)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        lock.release()

    asyncio.run(scenario())
    assert not shared.lock_for("u1").locked()
