"""Fault: Prometheus misbehaves while the load that scaled the service up has gone.

Each mode (HTTP 500, answers slower than the client's timeout, empty result, NaN, +Inf, two series
where one is expected, the port closed) runs for several autoscaler ticks. The idle signals would
scale down at once (no stabilization window in this service), so holding is the operator's choice,
not luck. Expectation: 0 scale-downs during any fault, ``ScalingActive=False`` and ``Fallback=True``
with a reason naming the failure, and recovery (the scale-down it held back) once Prometheus answers.
"""

from __future__ import annotations

import time

import pytest

from testbed.kube import KubeClient, condition
from tests.e2e.faults.support import BUSY, FAST_AUTOSCALER, IDLE, Figures, autoscaled, signal_values
from tests.e2e.support import API, start_operator

FAULTS = ("http500", "slow", "empty", "nan", "inf", "multi", "down")


def conditions(obj) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c.get("message", ""))
            for c in (obj.to_dict().get("status") or {}).get("conditions") or []}


def replicas(kube: KubeClient, namespace: str) -> int:
    return int(kube.get("apps/v1", "Deployment", "sdxl", namespace).spec.replicas)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_prometheus_fault_never_scales_down_and_is_reported_then_recovers(
        cluster, kube: KubeClient, namespace: str, crds: None, faulty_prometheus, figures: Figures, fault: str):
    faulty_prometheus.values = signal_values(namespace, "sdxl", BUSY)
    operator = start_operator(cluster, namespace, **FAST_AUTOSCALER)
    try:
        kube.create(autoscaled("sdxl", namespace, faulty_prometheus.url, max_replicas=3))
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace, lambda d: d.spec.replicas == 3, timeout=120,
                      what="scaled up to 3")

        # The load is gone, and at the same moment Prometheus breaks.
        faulty_prometheus.values = signal_values(namespace, "sdxl", IDLE)
        faulty_prometheus.set_mode(fault)
        broke = time.monotonic()
        obj = kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                            lambda o: conditions(o).get("Fallback", ("",))[0] == "True", timeout=60,
                            what="Fallback=True")
        fallback_s = time.monotonic() - broke
        seen = conditions(obj)
        assert seen["ScalingActive"][0] == "False" and seen["ScalingActive"][1] == "MetricsUnavailable", seen
        assert seen["Fallback"][1] == "FallbackActive" and seen["Fallback"][2], seen
        lowest = 3
        deadline = time.monotonic() + 8  # several more ticks under the fault
        while time.monotonic() < deadline:
            lowest = min(lowest, replicas(kube, namespace))
            time.sleep(0.2)
        assert lowest == 3, f"scaled down to {lowest} while Prometheus was failing ({fault})"

        faulty_prometheus.set_mode("ok")
        healed = time.monotonic()
        kube.wait_for(API, "DiffusionService", "sdxl", namespace,
                      lambda o: condition(o, "Fallback") == "False" and condition(o, "ScalingActive") == "True",
                      timeout=60, what="recovered conditions")
        kube.wait_for("apps/v1", "Deployment", "sdxl", namespace, lambda d: d.spec.replicas == 1, timeout=60,
                      what="the held-back scale-down")
        figures.record("prometheus_faults", **{
            f"{fault}_seconds_to_fallback": round(fallback_s, 2),
            f"{fault}_seconds_to_recover_and_scale_down": round(time.monotonic() - healed, 2),
        })
        assert operator.process.alive()
    finally:
        operator.stop()
