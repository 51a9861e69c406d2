"""Usage mistakes end in one ``error:`` line and exit 2, before any network or cluster is touched."""

from __future__ import annotations

import pytest
from diffusion_operator.client.cli import app, parse_seconds
from diffusion_operator.client.errors import EXIT_USAGE, UsageError
from typer.testing import CliRunner


@pytest.mark.parametrize("args", [
    ["generate", "x"],  # neither --url nor --service
    ["generate", "x", "--url", "127.0.0.1:1", "--service", "tiny"],  # both
    ["generate", "x", "--url", "127.0.0.1:1", "--size", "1024x1000x3"],
    ["generate", "x", "--service", "tiny", "--resolve", "nonsense", "--kubeconfig", "/nonexistent"],
    ["loadtest", "--url", "127.0.0.1:1", "--rate", "1", "--duration", "soon"],
    ["loadtest", "--url", "127.0.0.1:1", "--rate", "1", "--duration", "5", "--trace", "sawtooth"],
    ["plan", "--rate", "1", "--sla", "-2s"],
])
def test_a_usage_mistake_is_one_line_and_exit_2(args: list[str]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "error:" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("1m30s", 90.0), ("0.25", 0.25)])
def test_durations_are_go_durations_or_plain_seconds(text: str, seconds: float):
    assert parse_seconds(text, "sla") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "-1s", "soon", "nan"])
def test_a_duration_must_be_positive_and_finite(text: str):
    with pytest.raises(UsageError):
        parse_seconds(text, "sla")
