"""Conditions move their transition time only on a flip; the phase summarises them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from diffusion_operator.api.conditions import Condition, ConditionType, Reason, find_condition, set_condition
from diffusion_operator.api.status import Phase, derive_phase, queue_text, ready_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def _set(conditions: list[Condition], type_: str, status: str, reason: str, now: datetime = T0,
         generation: int = 1) -> list[Condition]:
    return set_condition(conditions, type=type_, status=status, reason=reason,  # type: ignore[arg-type]
                         message="", observed_generation=generation, now=now)


def test_a_new_condition_is_appended_with_now_as_transition_time() -> None:
    conditions = _set([], ConditionType.READY, "False", Reason.WAITING_FOR_ENGINE)
    assert conditions == [Condition(type="Ready", status="False", reason="WaitingForEngine",
                                    last_transition_time=T0, observed_generation=1)]


def test_same_status_keeps_the_transition_time_but_takes_reason_and_generation() -> None:
    before = _set([], ConditionType.ENGINE_READY, "False", Reason.BUILD_PENDING)
    after = _set(before, ConditionType.ENGINE_READY, "False", Reason.BUILDING, now=T1, generation=2)
    (condition,) = after
    assert condition.last_transition_time == T0
    assert (condition.reason, condition.observed_generation) == (Reason.BUILDING, 2)


def test_a_flip_moves_the_transition_time() -> None:
    before = _set([], ConditionType.ENGINE_READY, "False", Reason.BUILDING)
    (condition,) = _set(before, ConditionType.ENGINE_READY, "True", Reason.ENGINE_BUILT, now=T1)
    assert condition.last_transition_time == T1


def test_unchanged_input_gives_an_equal_list_so_the_write_can_be_skipped() -> None:
    conditions = _set(_set([], "Ready", "True", Reason.SERVING), "Available", "True", Reason.MINIMUM_REPLICAS_AVAILABLE)
    assert _set(conditions, "Ready", "True", Reason.SERVING, now=T1) == conditions


def test_other_conditions_keep_their_order() -> None:
    conditions = _set(_set([], "Ready", "False", "A"), "Available", "False", "B")
    updated = _set(conditions, "Ready", "True", "C", now=T1)
    assert [c.type for c in updated] == ["Ready", "Available"]
    assert find_condition(updated, "Available") == conditions[1]


def _conditions(**statuses: tuple[str, str]) -> list[Condition]:
    result: list[Condition] = []
    for type_, (status, reason) in statuses.items():
        result = _set(result, type_, status, reason)
    return result


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ({}, "Pending"),
        ({"EngineReady": ("False", Reason.BUILD_PENDING)}, "Building"),
        ({"EngineReady": ("False", Reason.BUILDING)}, "Building"),
        ({"EngineReady": ("False", Reason.BUILD_RETRIED)}, "Building"),  # an OOMKilled build, deleted to build again
        ({"EngineReady": ("False", Reason.BUILD_FAILED)}, "Failed"),
        ({"EngineReady": ("False", Reason.BUILD_OOM_KILLED)}, "Failed"),
        ({"EngineReady": ("False", Reason.SECRET_NOT_FOUND)}, "Failed"),
        ({"EngineReady": ("True", Reason.ENGINE_BUILT), "Ready": ("False", Reason.REPLICAS_UNAVAILABLE)},
         "Deploying"),
        ({"EngineReady": ("True", Reason.ENGINE_BUILT), "Ready": ("True", Reason.SERVING)}, "Ready"),
        # A new key builds while the old engines serve: still Ready.
        ({"EngineReady": ("False", Reason.BUILDING), "Ready": ("True", Reason.SERVING)}, "Ready"),
        # The new build failed but the old engines still serve.
        ({"EngineReady": ("False", Reason.BUILD_FAILED), "Available": ("True", Reason.MINIMUM_REPLICAS_AVAILABLE),
          "Ready": ("False", Reason.BUILD_FAILED)}, "Degraded"),
        ({"Ready": ("True", Reason.SERVING), "Degraded": ("True", Reason.IMAGE_PULL_FAILED)}, "Degraded"),
    ],
)
def test_phase_is_derived_from_conditions(conditions: dict[str, tuple[str, str]], phase: Phase) -> None:
    assert derive_phase(_conditions(**conditions)) == phase


def test_printer_texts() -> None:
    assert ready_text(1, 3) == "1/3"
    assert queue_text(timedelta(milliseconds=120), timedelta(milliseconds=500)) == "120ms/500ms"
    assert queue_text(None, timedelta(seconds=2)) == "-/2s"
    assert queue_text(timedelta(seconds=1), None) is None
