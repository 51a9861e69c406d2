"""History survives a round trip through the status dict and forgets what no window can see."""

from __future__ import annotations

import json

from diffusion_operator.autoscaling.history import History, Recommendation, ScaleEvent


def test_history_round_trips_through_json() -> None:
    history = History(
        recommendations=(Recommendation(100.0, 3), Recommendation(115.0, 5)),
        scale_events=(ScaleEvent(115.0, 2),),
        last_scale_time=115.0,
        consecutive_failures=2,
        idle_since=None,
    )
    assert History.from_dict(json.loads(json.dumps(history.to_dict()))) == history


def test_missing_or_partial_status_reads_as_empty_history() -> None:
    assert History.from_dict(None) == History()
    assert History.from_dict({}) == History()
    assert History.from_dict({"consecutiveFailures": 4}).consecutive_failures == 4


def test_pruning_drops_entries_older_than_the_horizon() -> None:
    history = History(
        recommendations=(Recommendation(0.0, 9), Recommendation(250.0, 4)),
        scale_events=(ScaleEvent(10.0, 5), ScaleEvent(290.0, -1)),
    )
    pruned = history.pruned(now=300.0, horizon_s=120.0)
    assert pruned.recommendations == (Recommendation(250.0, 4),)
    assert pruned.scale_events == (ScaleEvent(290.0, -1),)


def test_a_scale_records_an_event_and_the_time_but_no_change_records_nothing() -> None:
    assert History().with_scale(50.0, 0) == History()
    scaled = History().with_scale(50.0, -2)
    assert scaled.scale_events == (ScaleEvent(50.0, -2),)
    assert scaled.last_scale_time == 50.0


def test_pruning_thins_old_recommendations_to_the_highest_per_minute_for_the_burst_memory() -> None:
    history = History(
        recommendations=(
            Recommendation(10.0, 3),
            Recommendation(65.0, 9),
            Recommendation(80.0, 4),
            Recommendation(95.0, 6),
            Recommendation(250.0, 4),
            Recommendation(280.0, 5),
        ),
        scale_events=(ScaleEvent(65.0, 5),),
    )
    pruned = history.pruned(now=300.0, horizon_s=120.0, memory_s=250.0, bucket_s=60.0)
    # 10 s is beyond the memory; 65-95 s is one minute (its highest kept); the window stays in full.
    assert pruned.recommendations == (Recommendation(65.0, 9), Recommendation(250.0, 4), Recommendation(280.0, 5))
    assert pruned.scale_events == ()  # rate limits need no memory beyond their periods
    assert pruned.pruned(now=300.0, horizon_s=120.0, memory_s=250.0) == pruned  # thinning is idempotent
