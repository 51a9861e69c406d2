"""A Triton pod being removed gets enough time to finish the longest request it can hold."""

from __future__ import annotations

from typing import Any

import pytest
from diffusion_operator.api.spec import DiffusionServiceSpec
from diffusion_operator.render.defaults import RenderSettings
from diffusion_operator.render.deployment import ENDPOINT_DRAIN_SECONDS, build_deployment
from diffusion_operator.render.drain import MIN_EXIT_TIMEOUT_SECONDS, drain_times, longest_execution_seconds


def spec(**fields: Any) -> DiffusionServiceSpec:
    return DiffusionServiceSpec.model_validate({"model": {"source": "builtin://tiny-sdxl"}, **fields})


def test_sdxl_defaults_on_an_l4_cover_two_full_batches_of_30_steps():
    # 30 steps x 0.326 s x batch 4 x 1.25 overhead at 1024^2: about 49 s per execution
    assert longest_execution_seconds(spec()) == pytest.approx(48.96, abs=0.1)
    times = drain_times(spec(), endpoint_drain_s=5, minimum_grace_s=60)
    assert times.exit_timeout_s == 99 and times.grace_s == 5 + 99 + 10  # + the default maxQueueDelay


@pytest.mark.parametrize(("fields", "longer"), [
    ({"pipeline": {"steps": 60}}, True),
    ({"engine": {"maxBatchSize": 8}}, True),
    ({"engine": {"resolutions": [{"width": 1536, "height": 1536}]}}, True),
    ({"serving": {"gpu": {"type": "nvidia-h100-80gb"}}}, False),
])
def test_more_steps_batch_or_pixels_take_longer_and_a_faster_gpu_less(fields, longer):
    assert (longest_execution_seconds(spec(**fields)) > longest_execution_seconds(spec())) is longer


def test_a_tiny_service_never_gets_less_than_tritons_own_exit_timeout_or_the_configured_grace():
    tiny = spec(engine={"resolutions": [{"width": 256, "height": 256}], "maxBatchSize": 2}, pipeline={"steps": 2})
    times = drain_times(tiny, endpoint_drain_s=5, minimum_grace_s=60)
    assert times.exit_timeout_s == MIN_EXIT_TIMEOUT_SECONDS and times.grace_s == 60


def test_the_queue_sla_is_part_of_the_exit_timeout():
    slow_sla = spec(autoscaling={"enabled": True, "maxReplicas": 2, "queueLatencyTarget": "60s"})
    assert drain_times(slow_sla, endpoint_drain_s=5, minimum_grace_s=60).exit_timeout_s == 99 + 60


def test_the_deployment_carries_both():
    deployment = build_deployment("s", "n", spec(), cache_key="k", replicas=1, settings=RenderSettings())
    pod = deployment["spec"]["template"]["spec"]
    assert "--exit-timeout-secs=99" in pod["containers"][0]["args"]
    assert pod["terminationGracePeriodSeconds"] == ENDPOINT_DRAIN_SECONDS + 99 + 10
