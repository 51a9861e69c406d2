"""The capacity planner: the autoscaler's queueing model applied to a peak rate, an SLA and a GPU."""

from __future__ import annotations

import math

import pytest
from diffusion_operator.autoscaling.capacity import replicas_for_queue_sla, wait_exceeds_probability
from diffusion_operator.client.errors import UsageError
from diffusion_operator.client.planner import (
    SDXL_SERVICE_TIME_CV2,
    SERVICE_TIMES,
    PlanInput,
    ServiceTime,
    plan,
    service_time_for,
)

H100 = SERVICE_TIMES["nvidia-h100-80gb"]


def test_anchors_carry_their_source_and_the_l4_figure_says_it_is_an_estimate():
    assert H100.seconds == 1.471 and H100.measured and "model card" in H100.source
    assert SERVICE_TIMES["nvidia-a100-80gb"].seconds == 2.742
    l4 = SERVICE_TIMES["nvidia-l4"]
    assert not l4.measured and "estimate" in l4.source


def test_the_plan_uses_the_same_queueing_model_as_the_autoscaler():
    given = PlanInput(rate=2.0, sla_s=2.0, gpu="nvidia-h100-80gb", service_time=H100, quantile=0.95)
    result = plan(given)
    assert result.replicas_at_peak == replicas_for_queue_sla(2.0, 1.471, 2.0, 0.95, SDXL_SERVICE_TIME_CV2) == 4
    # one replica fewer would miss the SLA quantile; the recommendation meets it
    assert 1 - wait_exceeds_probability(3, 2.0, 1.471, 2.0, SDXL_SERVICE_TIME_CV2) < 0.95
    assert result.attainment_at_peak >= 0.95
    assert result.attainment_with_max >= result.attainment_at_peak


def test_max_adds_headroom_min_covers_the_trough_and_costs_follow_from_the_fleet():
    given = PlanInput(rate=2.0, sla_s=2.0, gpu="nvidia-h100-80gb", service_time=H100, price_per_hour=10.0)
    result = plan(given)
    assert result.max_replicas == math.ceil(4 * 1.2) == 5
    assert result.min_replicas == replicas_for_queue_sla(0.5, 1.471, 2.0, 0.95, SDXL_SERVICE_TIME_CV2) == 2
    assert result.utilization_at_peak == pytest.approx(2.0 * 1.471 / 4)
    # 4 GPUs for the 500 s that 1,000 images take at 2/s; fully busy it would be 1,000 x 1.471 s
    assert result.gpu_hours_per_1000_at_peak == pytest.approx(4 * 500 / 3600)
    assert result.gpu_hours_per_1000_floor == pytest.approx(1471 / 3600)
    assert result.dollars_per_1000_at_peak == pytest.approx(10 * 4 * 500 / 3600)


def test_no_price_means_no_dollars_rather_than_a_made_up_one():
    result = plan(PlanInput(rate=1.0, sla_s=1.0, gpu="nvidia-l4", service_time=SERVICE_TIMES["nvidia-l4"]))
    assert result.dollars_per_1000_at_peak is None and result.dollars_per_1000_floor is None


def test_the_anchor_scales_with_steps_and_pixels_and_a_measurement_overrides_it():
    half = service_time_for("nvidia-h100-80gb", steps=15, width=1024, height=1024)
    assert half.seconds == pytest.approx(1.471 / 2) and not half.measured
    quarter = service_time_for("nvidia-h100-80gb", width=512, height=1024)
    assert quarter.seconds == pytest.approx(1.471 / 2)
    assert service_time_for("nvidia-l4", override_s=3.2) == ServiceTime(3.2, "--service-time (yours)", True)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rate": 0.0}, "rate"),
    ({"sla_s": 0.0}, "sla"),
    ({"quantile": 1.0}, "quantile"),
])
def test_impossible_inputs_are_usage_errors(kwargs: dict[str, float], message: str):
    base = {"rate": 1.0, "sla_s": 1.0, "gpu": "nvidia-h100-80gb", "service_time": H100}
    with pytest.raises(UsageError, match=message):
        plan(PlanInput(**{**base, **kwargs}))  # type: ignore[arg-type]


def test_a_gpu_without_an_anchor_asks_for_a_measurement():
    with pytest.raises(UsageError, match="--service-time"):
        service_time_for("nvidia-tesla-t4")
