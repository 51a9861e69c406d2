"""The learned cold start: each pod counted once, a robust upper estimate, kept in status."""

from __future__ import annotations

import math

import pytest
from diffusion_operator.api.status import ColdStartStatus
from diffusion_operator.autoscaling.cold_start import MAX_SAMPLES, ColdStart, PodStart
from diffusion_operator.autoscaling.fleet import parse_fleet


def starts(*seconds: float) -> list[PodStart]:
    return [PodStart(f"pod-{i}", s) for i, s in enumerate(seconds)]


def test_nothing_measured_means_no_estimate() -> None:
    assert ColdStart().seconds is None


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ((90.0,), 90.0),
        ((80.0, 100.0), 100.0),
        ((80.0, 85.0, 90.0, 400.0), 90.0),  # one pod that waited for a node does not move it
        ((60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0), 110.0),
    ],
)
def test_the_estimate_is_the_75th_percentile(seconds: tuple[float, ...], expected: float) -> None:
    assert ColdStart().with_pods(starts(*seconds)).seconds == expected


def test_a_pod_is_counted_once_and_only_the_latest_are_kept() -> None:
    cold = ColdStart().with_pods(starts(90.0))
    assert cold.with_pods(starts(90.0)) == cold
    many = cold.with_pods(PodStart(f"new-{i}", 50.0 + i) for i in range(20))
    assert len(many.samples) == MAX_SAMPLES
    assert many.samples[-1].pod == "new-19"


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan, 7200.0])
def test_implausible_samples_are_dropped(bad: float) -> None:
    assert ColdStart().with_pods([PodStart("p", bad)]).samples == ()


def test_it_round_trips_through_the_status_schema() -> None:
    cold = ColdStart().with_pods(starts(84.2, 97.0))
    stored = ColdStartStatus.model_validate(cold.to_dict())
    assert ColdStart.from_dict(stored.model_dump()) == cold
    assert stored.seconds == 97.0


def pod(name: str, created: str, ready: str | None, *, deleting: bool = False) -> dict:
    conditions = [] if ready is None else [{"type": "Ready", "status": "True", "lastTransitionTime": ready}]
    meta = {"name": name, "creationTimestamp": created, **({"deletionTimestamp": created} if deleting else {})}
    return {"metadata": meta, "status": {"conditions": conditions}}


def test_pods_are_read_from_created_to_ready() -> None:
    pods = [pod("a", "2026-12-03T10:00:00Z", "2026-12-03T10:01:30Z"),
            pod("starting", "2026-12-03T10:00:00Z", None),
            pod("leaving", "2026-12-03T10:00:00Z", "2026-12-03T10:00:10Z", deleting=True)]
    assert parse_fleet({}, pods).starts == (PodStart("a", 90.0),)
