"""The gate: passes through while open, holds in order while closed, refuses beyond its limit,
times out with the cold start in the message, and fails what it holds when told why."""

from __future__ import annotations

import asyncio

import pytest
from diffusion_operator.activator.gate import (
    CannotStartError,
    Gate,
    HoldTimeoutError,
    QueueFullError,
    ShuttingDownError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gate(limit: int = 3, deadline_s: float = 30.0, clock: Clock | None = None) -> Gate:
    return Gate(service="ns/sdxl", limit=limit, deadline_s=deadline_s, clock=clock or Clock())


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_an_open_gate_with_nothing_held_lets_a_request_through_at_once():
    async def run() -> None:
        g = gate()
        g.open()
        await asyncio.wait_for(g.enter(), timeout=0.1)
        assert g.held == 0

    asyncio.run(run())


def test_a_closed_gate_holds_and_releases_oldest_first():
    async def run() -> list[int]:
        g = gate(limit=5)
        g.close()
        order: list[int] = []

        async def request(i: int) -> None:
            await g.enter()
            order.append(i)

        tasks = [asyncio.create_task(request(i)) for i in range(4)]
        await settle()
        assert g.held == 4 and order == []
        g.open()
        await asyncio.gather(*tasks)
        assert g.counters.released == 4
        return order

    assert asyncio.run(run()) == [0, 1, 2, 3]


def test_beyond_the_limit_a_request_is_refused_with_a_retryable_429():
    async def run() -> None:
        g = gate(limit=2)
        g.close()
        tasks = [asyncio.create_task(g.enter()) for _ in range(2)]
        await settle()
        with pytest.raises(QueueFullError) as error:
            await g.enter()
        assert error.value.status == 429 and error.value.retryable
        assert "ns/sdxl" in str(error.value) and "2 requests" in str(error.value)
        assert g.counters.rejected == 1 and g.held == 2
        g.open()
        await asyncio.gather(*tasks)

    asyncio.run(run())


def test_a_request_held_past_its_deadline_reports_the_cold_start_so_far():
    async def run() -> None:
        clock = Clock()
        g = gate(deadline_s=0.05, clock=clock)
        g.close()
        clock.now += 42.0  # the cold start began 42 s before this request timed out
        with pytest.raises(HoldTimeoutError) as error:
            await g.enter()
        assert error.value.status == 504
        assert "ns/sdxl" in str(error.value) and "42.0s so far" in str(error.value)
        assert g.held == 0 and g.counters.timed_out == 1

    asyncio.run(run())


def test_what_is_held_is_answered_with_the_reason_the_pods_cannot_start():
    async def run() -> None:
        g = gate()
        g.close()
        tasks = [asyncio.create_task(g.enter()) for _ in range(2)]
        await settle()
        assert g.fail(CannotStartError("no GPU node")) == 2
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, CannotStartError) and not r.retryable for r in results)
        assert g.counters.failed_to_start == 2 and g.held == 0

    asyncio.run(run())


def test_shutdown_errors_are_retryable_and_not_counted_as_start_failures():
    async def run() -> None:
        g = gate()
        g.close()
        task = asyncio.create_task(g.enter())
        await settle()
        g.fail(ShuttingDownError("bye"))
        with pytest.raises(ShuttingDownError) as error:
            await task
        assert error.value.retryable and error.value.status == 503
        assert g.counters.failed_to_start == 0

    asyncio.run(run())


def test_a_client_that_goes_away_leaves_the_queue():
    async def run() -> None:
        g = gate()
        g.close()
        task = asyncio.create_task(g.enter())
        await settle()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert g.held == 0

    asyncio.run(run())


@pytest.mark.parametrize(("limit", "deadline"), [(0, 1.0), (1, 0.0)])
def test_a_gate_needs_a_limit_and_a_deadline(limit: int, deadline: float):
    with pytest.raises(ValueError, match="queue limit"):
        gate(limit=limit, deadline_s=deadline)
