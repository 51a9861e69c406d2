"""Which Triton models' queues are a service's SLA signal: one answer for the autoscaler, alerts and dashboards.

A request waits at the model it enters by: ``sdxl`` for text-to-image, ``sdxl-photoshoot`` for the
product photoshoot (``engine_builder.layout.ENTRY_MODELS``). The BLS model holds one request per instance,
so a burst queues there; the UNet's own queue is the batcher's short window and is not the SLA. A
service that serves both pipelines is watched on both, summed: the mean wait of any of its requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from engine_builder.layout import ENTRY_MODELS
from engine_builder.plan import PIPELINES

#: Every pipeline's entry model: fleet-wide alerts and dashboards watch all of them, so a service is
#: covered whatever pipelines it serves (a model a service does not serve has no series to match).
ALL_QUEUE_MODELS: Final[tuple[str, ...]] = tuple(sorted(ENTRY_MODELS[pipeline] for pipeline in PIPELINES))


def queue_models(pipelines: Iterable[str], override: str | None = None) -> tuple[str, ...]:
    """The entry models of a service's pipelines; ``override`` (``DIFFUSION_QUEUE_MODEL``) wins.

    The override is for a repository whose queue is somewhere else (a custom pipeline model): it
    applies to every service of the operator, as before per-service models existed.
    """
    if override:
        return (override,)
    models = sorted({ENTRY_MODELS[pipeline] for pipeline in pipelines if pipeline in ENTRY_MODELS})
    if not models:
        raise ValueError(f"no entry model for pipelines {sorted(pipelines)!r}")
    return tuple(models)
