"""Row "GPU": utilisation from NVIDIA's DCGM exporter and from Triton itself."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import promql

TITLE = "GPU"
#: Triton pods are named after the Deployment, which is named after the DiffusionService.
POD_REGEX = "$service-.*"


def utilization() -> timeseries.Panel:
    return d.timeseries_panel(
        "GPU utilisation",
        "Mean utilisation of the service's GPUs from the DCGM exporter (needs it installed, pod labels "
        "kept) and as Triton reports it (nv_gpu_utilization).",
        d.RATIO,
        [(promql.gpu_utilization_dcgm(d.NAMESPACE, POD_REGEX), "DCGM"),
         (promql.gpu_utilization_triton(d.TRITON), "Triton")],
        width=d.FULL,
    ).max(1)


def panels() -> list[timeseries.Panel]:
    return [utilization()]
