"""Arrival schedules are open-loop: fixed before the test starts, from the trace and the rate alone."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from diffusion_operator.client.errors import UsageError
from diffusion_operator.client.traces import STEP_LOW_FRACTION, arrival_schedule


def test_a_constant_trace_sends_evenly_spaced_requests_centred_in_their_slots():
    arrivals = arrival_schedule("constant", rate=4, duration_s=2)
    assert len(arrivals) == 8
    assert arrivals[0] == pytest.approx(0.125, abs=1e-3)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(gap == pytest.approx(0.25, abs=1e-3) for gap in gaps)


def test_a_step_trace_runs_a_quarter_of_the_rate_for_a_third_then_the_full_rate():
    arrivals = arrival_schedule("step", rate=12, duration_s=30)
    quiet = [t for t in arrivals if t < 10]
    busy = [t for t in arrivals if t >= 10]
    assert len(quiet) == pytest.approx(12 * STEP_LOW_FRACTION * 10, abs=1)
    assert len(busy) == pytest.approx(12 * 20, abs=1)


def test_a_diurnal_trace_peaks_mid_way_and_is_quiet_at_both_ends():
    arrivals = arrival_schedule("diurnal", rate=10, duration_s=100)
    def count(low: float, high: float) -> int:
        return sum(1 for t in arrivals if low <= t < high)
    assert count(45, 55) > 5 * count(0, 10)
    assert count(45, 55) > 5 * count(90, 100)
    assert count(45, 55) == pytest.approx(100, abs=3)  # ~ the peak rate over those 10 s


def test_a_poisson_trace_is_reproducible_from_its_seed_and_has_the_right_mean_rate():
    first = arrival_schedule("poisson", rate=20, duration_s=200, seed=7)
    assert first == arrival_schedule("poisson", rate=20, duration_s=200, seed=7)
    assert first != arrival_schedule("poisson", rate=20, duration_s=200, seed=8)
    assert len(first) == pytest.approx(4000, rel=0.05)
    assert all(0 <= t < 200 for t in first) and first == sorted(first)


def test_a_trace_file_is_replayed_within_the_duration_in_time_order(tmp_path: Path):
    trace = tmp_path / "trace.txt"
    trace.write_text("# offsets from a log\n0.5\n0.1\n\n2.0  # after the end\n1.25\n")
    assert arrival_schedule(f"file:{trace}", rate=0, duration_s=1.5) == [0.1, 0.5, 1.25]


@pytest.mark.parametrize(("trace", "rate", "duration", "message"), [
    ("sawtooth", 1, 10, "expected one of"),
    ("constant", 0, 10, "rate"),
    ("constant", 1, 0, "duration"),
    ("constant", 10_000, 100, "at most"),
    ("file:/nonexistent/trace.txt", 1, 10, "trace file"),
])
def test_bad_trace_arguments_are_usage_errors(trace: str, rate: float, duration: float, message: str):
    with pytest.raises(UsageError, match=message):
        arrival_schedule(trace, rate, duration)


def test_a_trace_file_with_garbage_names_the_line(tmp_path: Path):
    trace = tmp_path / "bad.txt"
    trace.write_text("0.1\nsoon\n")
    with pytest.raises(UsageError, match=r"bad.txt:2: 'soon'"):
        arrival_schedule(f"file:{trace}", rate=1, duration_s=10)
