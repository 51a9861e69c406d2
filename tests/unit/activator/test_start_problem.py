"""Which statuses mean the service's pods cannot start (answer held requests) and which are a cold start."""

from __future__ import annotations

import pytest
from diffusion_operator.activator.backend import start_problem


def available(status: str, reason: str, message: str) -> dict:
    return {"conditions": [{"type": "Ready", "status": "False", "reason": "X", "message": "ignored"},
                           {"type": "Available", "status": status, "reason": reason, "message": message}]}


@pytest.mark.parametrize(("status", "expected"), [
    (available("False", "ReplicasUnavailable",
               "Unschedulable pod sdxl-1: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
     "Unschedulable pod sdxl-1: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."),
    (available("False", "ImagePullFailed", "ImagePullBackOff in pod sdxl-1: not found"),
     "ImagePullBackOff in pod sdxl-1: not found"),
    (available("False", "ReplicasUnavailable", "CrashLoopBackOff in pod sdxl-1: back-off"),
     "CrashLoopBackOff in pod sdxl-1: back-off"),
    (available("False", "ReplicasUnavailable", "0/1 Triton pods ready"), None),  # an ordinary cold start
    (available("False", "ScaledToZero", "scaled to zero replicas"), None),
    (available("True", "MinimumReplicasAvailable", "1/1 Triton pods ready"), None),
    ({}, None),
    (None, None),
])
def test_start_problem(status, expected):
    assert start_problem(status) == expected
