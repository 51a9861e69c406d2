"""The CLI's edges: plan validation messages, exit codes, the JSON summary, the termination log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine_builder.build
from engine_builder.cli import app, load_plan
from engine_builder.errors import PlanError
from engine_builder.plan import BuildPlan
from engine_builder.publish import publish

runner = CliRunner()


def write(tmp_path: Path, plan: object) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan) if not isinstance(plan, str) else plan)
    return path


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"source": "ftp://x"}, "plan.source"),
        ({"source": "builtin://tiny-sdxl", "max_batch_size": 0}, "plan.max_batch_size"),
        ({"source": "builtin://tiny-sdxl", "resolutions": [{"width": 1001, "height": 1024}]},
         "plan.resolutions.0.width"),
        ({"source": "builtin://tiny-sdxl", "precision": "fp8", "compute_capability": 8.6}, "precision"),
        ({"source": "builtin://tiny-sdxl", "steps": 30}, "plan.steps"),
        ({}, "plan.source"),
    ],
)
def test_a_bad_plan_names_the_field(tmp_path: Path, plan: dict, field: str):
    with pytest.raises(PlanError, match=field.replace(".", r"\.")):
        load_plan(write(tmp_path, plan))


def test_a_plan_that_is_not_json_says_so(tmp_path: Path):
    with pytest.raises(PlanError, match="not valid JSON"):
        load_plan(write(tmp_path, "{nope"))


def test_the_cli_exits_2_and_prints_a_failed_summary_for_a_bad_plan(tmp_path: Path):
    termination = tmp_path / "termination-log"
    termination.write_text("")  # the kubelet creates it in a pod; absent files are never created
    result = runner.invoke(app, ["build", "--plan", str(write(tmp_path, {"source": "builtin://tiny-sdxl",
                                                                          "max_batch_size": 99})),
                                 "--out", str(tmp_path / "out"), "--termination-log", str(termination)])
    assert result.exit_code == 2
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert summary["error"] == "InvalidPlan"
    assert "plan.max_batch_size" in summary["message"]
    assert json.loads(termination.read_text()) == summary


def test_a_tensorrt_plan_without_tensorrt_fails_fast_with_exit_5_naming_what_is_missing(tmp_path: Path):
    plan = write(tmp_path, {"source": "builtin://tiny-sdxl", "backend": "tensorrt", "tensorrt_version": "10.8"})
    result = runner.invoke(app, ["build", "--plan", str(plan), "--out", str(tmp_path / "out"),
                                 "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 5
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["error"] == "TensorRTUnavailable"
    assert "tensorrt Python package is not installed" in summary["message"]
    assert "no CUDA device" in summary["message"]
    assert not (tmp_path / "out").exists(), "nothing is written before the requirements are met"


def test_a_published_key_is_a_cache_hit_without_touching_the_source(tmp_path: Path):
    raw = {"source": "pvc://models/does-not-exist", "backend": "onnxruntime"}
    key = BuildPlan.model_validate(raw).cache_key()
    staging = tmp_path / "out" / "staging"
    staging.mkdir(parents=True)
    (staging / "model_repository").mkdir()
    (staging / "model_repository" / "x").write_text("x")
    publish(staging, tmp_path / "out", key, {"plan": BuildPlan.model_validate(raw).model_dump(mode="json")})
    result = runner.invoke(app, ["build", "--plan", str(write(tmp_path, raw)), "--out", str(tmp_path / "out"),
                                 "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 0, result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "cached"
    assert summary["seconds"] < 1.0


def test_a_published_key_gated_under_other_settings_is_gated_again_from_the_source(tmp_path: Path):
    """Not the stored report: the gate runs again, so it needs the source (missing here: exit 3, named)."""
    raw = {"source": "pvc://models/does-not-exist", "backend": "onnxruntime"}
    key = BuildPlan.model_validate(raw).cache_key()
    staging = tmp_path / "out" / "staging"
    (staging / "model_repository").mkdir(parents=True)
    stored = BuildPlan.model_validate({**raw, "quality_gate": {"steps": 6}}).model_dump(mode="json")
    publish(staging, tmp_path / "out", key, {"plan": stored, "quality_summary": {"verdict": "Passed", "steps": 6}})
    result = runner.invoke(app, ["build", "--plan", str(write(tmp_path, raw)), "--out", str(tmp_path / "out"),
                                 "--pvc-root", str(tmp_path / "mnt"), "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 3, result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["error"] == "SourceUnavailable"
    assert (tmp_path / "out" / key).is_dir(), "the published build stays for the services it passed for"


def test_a_published_tensorrt_key_gated_under_other_settings_needs_tensorrt_to_gate_it_again(tmp_path: Path):
    """The same settings: a hit without TensorRT (nothing to load). Other settings: the engines must be
    loaded to score them, so the hit fails fast like a build would (exit 5, naming what is missing)."""
    raw = {"source": "builtin://tiny-sdxl", "backend": "tensorrt", "tensorrt_version": "10.8"}
    key = BuildPlan.model_validate(raw).cache_key()
    staging = tmp_path / "out" / "staging"
    (staging / "model_repository").mkdir(parents=True)
    stored = BuildPlan.model_validate(raw).model_dump(mode="json")
    publish(staging, tmp_path / "out", key, {"plan": stored, "quality_summary": {"verdict": "Passed", "steps": 30}})
    same = runner.invoke(app, ["build", "--plan", str(write(tmp_path, raw)), "--out", str(tmp_path / "out"),
                               "--termination-log", str(tmp_path / "t")])
    assert same.exit_code == 0, same.stdout
    assert json.loads(same.stdout.strip().splitlines()[-1])["quality"] == {"verdict": "Passed", "steps": 30}
    other = runner.invoke(app, ["build", "--plan", str(write(tmp_path, {**raw, "quality_gate": {"steps": 8}})),
                                "--out", str(tmp_path / "out"), "--termination-log", str(tmp_path / "t")])
    assert other.exit_code == 5, other.stdout
    assert json.loads(other.stdout.strip().splitlines()[-1])["error"] == "TensorRTUnavailable"


def test_a_missing_source_exits_3_naming_the_mount(tmp_path: Path):
    plan = write(tmp_path, {"source": "pvc://models/sdxl", "backend": "onnxruntime"})
    result = runner.invoke(app, ["build", "--plan", str(plan), "--out", str(tmp_path / "out"),
                                 "--pvc-root", str(tmp_path / "mnt"), "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 3
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["error"] == "SourceUnavailable"
    assert str(tmp_path / "mnt" / "models" / "sdxl") in summary["message"]


def test_no_termination_log_is_created_where_none_exists(tmp_path: Path):
    termination = tmp_path / "termination-log"
    result = runner.invoke(app, ["build", "--plan", str(write(tmp_path, {})), "--out", str(tmp_path / "out"),
                                 "--termination-log", str(termination)])
    assert result.exit_code == 2
    assert not termination.exists()


def test_an_unexpected_failure_still_prints_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def explode(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(engine_builder.build, "build", explode)
    result = runner.invoke(app, ["build", "--plan", str(write(tmp_path, {"source": "builtin://tiny-sdxl"})),
                                 "--out", str(tmp_path / "out"), "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {**summary, "status": "failed", "error": "BuildFailed", "message": "ZeroDivisionError: boom"}
