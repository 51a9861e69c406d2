"""The queueing model agrees with textbook values and sizes fleets monotonically."""

from __future__ import annotations

import math

import pytest
from diffusion_operator.autoscaling.capacity import (
    BatchingCurve,
    erlang_c,
    mean_wait_s,
    replicas_for_queue_sla,
    wait_exceeds_probability,
)


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: P(wait) = utilisation
        (2, 1.0, 1 / 3),  # worked by hand from the Erlang C formula
        (3, 0.0, 0.0),
        (2, 2.0, 1.0),  # saturated
        (2, 5.0, 1.0),  # overloaded
    ],
)
def test_erlang_c_matches_known_values(servers: int, load: float, expected: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(expected)


def test_mean_wait_of_an_mm1_queue_is_rho_over_mu_minus_lambda() -> None:
    assert mean_wait_s(1, arrival_rate=0.5, service_time_s=1.0, service_time_cv2=1.0) == pytest.approx(1.0)


def test_deterministic_service_halves_the_mm1_wait() -> None:
    exponential = mean_wait_s(1, 0.5, 1.0, service_time_cv2=1.0)
    deterministic = mean_wait_s(1, 0.5, 1.0, service_time_cv2=0.0)
    assert deterministic == pytest.approx(exponential / 2)


def test_an_overloaded_fleet_waits_forever() -> None:
    assert mean_wait_s(2, arrival_rate=1.0, service_time_s=2.0) == math.inf
    assert wait_exceeds_probability(2, 1.0, 2.0, wait_s=100.0) == 1.0


def test_no_demand_needs_no_replicas() -> None:
    assert replicas_for_queue_sla(0.0, 9.0, 10.0) == 0
    assert replicas_for_queue_sla(1.0, 0.0, 10.0) == 0


@pytest.mark.parametrize("arrival_rate", [0.05, 0.5, 1.0, 3.0, 5.0])
def test_sized_fleet_is_the_smallest_that_meets_the_quantile(arrival_rate: float) -> None:
    servers = replicas_for_queue_sla(arrival_rate, 9.0, 10.0, quantile=0.99, service_time_cv2=0.1)
    assert servers > arrival_rate * 9.0  # more than the offered load, or the queue grows forever
    assert wait_exceeds_probability(servers, arrival_rate, 9.0, 10.0, 0.1) <= 0.01
    assert wait_exceeds_probability(servers - 1, arrival_rate, 9.0, 10.0, 0.1) > 0.01


def test_sizing_grows_with_load_and_with_a_stricter_quantile() -> None:
    sizes = [replicas_for_queue_sla(rate, 9.0, 10.0) for rate in (0.5, 1.0, 2.0, 4.0)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert replicas_for_queue_sla(2.0, 9.0, 10.0, quantile=0.999) >= replicas_for_queue_sla(2.0, 9.0, 10.0, 0.9)


def test_batching_curve_gives_modest_throughput_gains() -> None:
    curve = BatchingCurve(single_s=9.0, exponent=0.93, max_batch_size=4)
    assert curve.execution_s(1) == pytest.approx(9.0)
    assert curve.execution_s(4) == pytest.approx(9.0 * 4**0.93)
    gain = curve.max_throughput() / (1 / 9.0)
    assert 1.05 < gain < 1.15
