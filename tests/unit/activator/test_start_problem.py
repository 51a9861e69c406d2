"""Which statuses mean the service's pods cannot start (answer held requests) and which are a cold start,
and the monitor answering what it holds with that reason."""

from __future__ import annotations

import asyncio

import pytest
from diffusion_operator.activator.backend import BackendMonitor, start_problem
from diffusion_operator.activator.gate import CannotStartError, Gate
from diffusion_operator.api.conditions import START_PROBLEMS, Reason


def available(status: str, reason: str, message: str) -> dict:
    return {"conditions": [{"type": "Ready", "status": "False", "reason": "X", "message": "ignored"},
                           {"type": "Available", "status": status, "reason": reason, "message": message}]}


UNSCHEDULABLE = "Unschedulable pod sdxl-1: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


@pytest.mark.parametrize(("status", "expected"), [
    (available("False", Reason.UNSCHEDULABLE, UNSCHEDULABLE), UNSCHEDULABLE),
    (available("False", Reason.IMAGE_PULL_FAILED, "ImagePullBackOff in pod sdxl-1: not found"),
     "ImagePullBackOff in pod sdxl-1: not found"),
    (available("False", Reason.CRASH_LOOP_BACK_OFF, "CrashLoopBackOff in pod sdxl-1: back-off"),
     "CrashLoopBackOff in pod sdxl-1: back-off"),
    (available("False", Reason.CONTAINER_CONFIG_INVALID, ""), Reason.CONTAINER_CONFIG_INVALID),  # no message
    (available("False", Reason.REPLICAS_UNAVAILABLE, "0/1 Triton pods ready"), None),  # an ordinary cold start
    # The reason decides, not the text: a cold start whose message happens to read like a problem is one.
    (available("False", Reason.REPLICAS_UNAVAILABLE, "CrashLoopBackOff in pod sdxl-1: back-off"), None),
    (available("False", Reason.SCALED_TO_ZERO, "scaled to zero replicas"), None),
    (available("True", Reason.MINIMUM_REPLICAS_AVAILABLE, "1/1 Triton pods ready"), None),
    ({}, None),
    (None, None),
])
def test_start_problem(status, expected):
    assert start_problem(status) == expected


@pytest.mark.parametrize("reason", sorted(START_PROBLEMS))
def test_every_start_problem_the_operator_can_write_answers_held_requests(reason: str):
    assert start_problem(available("False", reason, f"{reason} in pod sdxl-1")) == f"{reason} in pod sdxl-1"


def test_held_requests_are_answered_with_the_reason_the_status_gives():
    problem = UNSCHEDULABLE

    async def run() -> tuple[str | None, BaseException]:
        gate = Gate(service="ns/sdxl", limit=5, deadline_s=30, clock=lambda: 0.0)
        gate.close()

        async def status() -> dict:
            return available("False", Reason.UNSCHEDULABLE, problem)

        monitor = BackendMonitor(gate, session=None, ready_url="http://unused",  # type: ignore[arg-type]
                                 read_status=status)
        held = asyncio.create_task(gate.enter())
        await asyncio.sleep(0)
        found = await monitor.check_status_once()
        error = await asyncio.gather(held, return_exceptions=True)
        assert isinstance(error[0], CannotStartError)
        return found, error[0]

    found, error = asyncio.run(run())
    assert found == problem
    assert str(error) == f"diffusion service ns/sdxl cannot start a Triton pod: {problem}"
    assert error.status == 503 and not error.retryable
