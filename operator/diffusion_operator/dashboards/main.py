"""The main dashboard, "Diffusion service / SLA": one DiffusionService's SLA, its API as clients see it,
capacity, GPUs and engines."""

from __future__ import annotations

from typing import Any, Final

from diffusion_operator.dashboards import api_edge, assemble, capacity, engines, gpu, sla, variables
from diffusion_operator.dashboards import defaults as d
from diffusion_operator.metrics import operator_promql as op

UID: Final = "diffusion-service-sla"
TITLE: Final = "Diffusion service / SLA"
FILENAME: Final = "diffusion-service-sla.json"
SCALE_EVENTS: Final = "Scale events"


def dashboard() -> Any:
    return assemble.build(
        TITLE, UID,
        "Queue latency against the SLA target, throughput, cost per image, the OpenAI API as its clients see "
        "it, replicas and the autoscaler's decisions for one DiffusionService. Every query comes from "
        "diffusion_operator.metrics.",
        variables.service_variables(),
        [assemble.Row(sla.TITLE, sla.panels()),
         assemble.Row(api_edge.TITLE, api_edge.panels()),
         assemble.Row(capacity.TITLE, capacity.panels()),
         assemble.Row(gpu.TITLE, gpu.panels()),
         assemble.Row(engines.TITLE, engines.panels())],
        annotations=[(SCALE_EVENTS, op.replica_changes(d.OPERATOR))],
    )
