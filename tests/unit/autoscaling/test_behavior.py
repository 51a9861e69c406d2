"""Stabilization windows and rate limits follow the HPA's documented behaviour."""

from __future__ import annotations

import pytest
from diffusion_operator.autoscaling.behavior import scale_down_limit, scale_up_limit, stabilize
from diffusion_operator.autoscaling.history import History, Recommendation, ScaleEvent
from diffusion_operator.autoscaling.policy import DirectionRules, RateLimit

NOW = 10_000.0
UP = DirectionRules(0.0, (RateLimit(15.0, pods=4), RateLimit(15.0, percent=100.0)))
DOWN = DirectionRules(300.0, (RateLimit(15.0, percent=100.0),))


def recs(*pairs: tuple[float, int]) -> History:
    return History(recommendations=tuple(Recommendation(NOW - age, replicas) for age, replicas in pairs))


@pytest.mark.parametrize(
    ("history", "raw", "current", "expected"),
    [
        (recs((0, 3)), 3, 3, 3),  # nothing to stabilize
        (recs((200, 10), (0, 3)), 3, 10, 10),  # a higher recommendation 200 s ago holds a scale-down
        (recs((400, 10), (0, 3)), 3, 10, 3),  # ... but not once it leaves the 300 s window
        (recs((100, 8), (50, 6), (0, 3)), 3, 10, 8),  # down to the highest in the window
        (recs((0, 12)), 12, 5, 12),  # scale-up has no window by default
    ],
)
def test_stabilize_scales_down_only_to_the_highest_recent_recommendation(
    history: History, raw: int, current: int, expected: int
) -> None:
    assert stabilize(raw, current, history, NOW, up=UP, down=DOWN) == expected


def test_an_up_window_scales_up_only_to_the_lowest_recent_recommendation() -> None:
    slow_up = DirectionRules(60.0)
    history = recs((30, 6), (0, 12))
    assert stabilize(12, 5, history, NOW, up=slow_up, down=DOWN) == 6


@pytest.mark.parametrize(
    ("current", "events", "expected"),
    [
        (1, (), 5),  # 4 pods beats 100 % of 1
        (10, (), 20),  # 100 % beats 4 pods
        (20, ((5, 10),), 20),  # 10 already added this period: start was 10, so 20 is the cap
        (20, ((20, 10),), 40),  # an addition 20 s ago is outside the 15 s period
    ],
)
def test_scale_up_limit_takes_the_most_permissive_policy_since_the_period_start(
    current: int, events: tuple[tuple[float, int], ...], expected: int
) -> None:
    history = History(scale_events=tuple(ScaleEvent(NOW - age, change) for age, change in events))
    assert scale_up_limit(current, history, NOW, UP) == expected


def test_scale_down_limit_counts_removals_in_the_period() -> None:
    rules = DirectionRules(0.0, (RateLimit(60.0, percent=50.0), RateLimit(60.0, pods=1)))
    assert scale_down_limit(10, History(), NOW, rules) == 5
    removed = History(scale_events=(ScaleEvent(NOW - 30, -5),))
    assert scale_down_limit(5, removed, NOW, rules) == 5  # the period started at 10: half is 5
    assert scale_down_limit(1, History(), NOW, rules) == 0


def test_no_limits_means_no_limit() -> None:
    assert scale_up_limit(3, History(), NOW, DirectionRules(0.0)) is None
    assert scale_down_limit(3, History(), NOW, DirectionRules(0.0)) is None


def test_limits_never_reverse_the_direction_when_history_disagrees_with_current() -> None:
    # 10 pods "added" this period but only 1 exists (someone scaled by hand): hold, do not shrink.
    added = History(scale_events=(ScaleEvent(NOW, 10),))
    assert scale_up_limit(1, added, NOW, UP) == 1
    removed = History(scale_events=(ScaleEvent(NOW, -10),))
    one_pod = DirectionRules(0.0, (RateLimit(60.0, pods=1),))
    assert scale_down_limit(2, removed, NOW, one_pod) == 2  # the period started at 12: floor 11, capped at 2
