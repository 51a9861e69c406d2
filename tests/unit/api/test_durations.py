from __future__ import annotations

from datetime import timedelta

import pytest
from diffusion_operator.api.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2h", 7200), ("500ms", 0.5), ("1m30s", 90), ("1.5s", 1.5), ("1h2m3s", 3723),
     ("250us", 0.00025), ("0s", 0)],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "30", "-1s", "1 h", "1d", "s", "1.s", "µs"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.12, "120ms"), (0.5, "500ms"), (1.25, "1.25s"), (42, "42s"), (90, "1m30s"), (3600, "1h"), (7325, "2h2m5s")],
)
def test_durations_format_short(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
