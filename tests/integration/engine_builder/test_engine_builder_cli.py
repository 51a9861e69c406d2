"""The real `engine-builder build` process: summary, manifest, cache hits and killed builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine_builder.parity import ATOL
from engine_builder.plan import BuildPlan
from engine_builder.publish import MANIFEST, PARTIAL_PREFIX, is_complete, sha256_file, sweep_partials


def test_the_build_prints_a_one_line_json_summary_and_progress_in_the_logs(built_tiny):
    summary = built_tiny.summary
    assert summary["status"] in {"built", "cached"}
    assert summary["cache_key"] == BuildPlan.model_validate(json.loads(built_tiny.plan_path.read_text())).cache_key()
    assert Path(summary["path"]) == built_tiny.out / summary["cache_key"]
    assert len(built_tiny.first_run.stdout.strip().splitlines()) == 1
    if summary["status"] == "built":
        for stage in ("source", "export", "parity", "repository", "publish"):
            assert f"progress stage={stage} pct=" in built_tiny.first_run.stderr
        assert "pct=100" in built_tiny.first_run.stderr
    termination = json.loads((built_tiny.out.parent / "termination-log").read_text())
    assert termination["cache_key"] == summary["cache_key"]


def test_the_manifest_records_plan_versions_hashes_timings_and_parity(built_tiny):
    manifest = json.loads((built_tiny.path / MANIFEST).read_text())
    assert manifest["cache_key"] == built_tiny.summary["cache_key"]
    assert manifest["plan"]["source"] == "builtin://tiny-sdxl"
    assert {"torch", "onnx", "onnxruntime", "diffusers"} <= set(manifest["versions"])
    assert {"source", "export", "parity", "repository"} <= set(manifest["timings"])
    assert all(error < ATOL["float32"] for error in manifest["parity_max_error"].values())
    unet = "model_repository/unetxl/1/model.onnx"
    assert manifest["files"][unet]["sha256"] == sha256_file(built_tiny.path / unet)
    assert {"model_repository/sdxl/config.pbtxt", "model_repository/upscale/1/model.py"} <= set(manifest["files"])
    assert is_complete(built_tiny.path, manifest["cache_key"])


def test_a_second_build_with_the_same_key_is_a_cache_hit_in_under_a_second(built_tiny, run_cli):
    before = {path: path.stat().st_mtime_ns for path in built_tiny.path.rglob("*") if path.is_file()}
    started = time.monotonic()
    result = run_cli(built_tiny.plan_path, built_tiny.out)
    wall = time.monotonic() - started
    summary = json.loads(result.stdout)
    assert result.returncode == 0
    assert summary["status"] == "cached"
    assert summary["seconds"] < 1.0
    assert wall < 3.0, f"the whole process took {wall:.2f}s (interpreter start included)"
    assert before == {path: path.stat().st_mtime_ns for path in built_tiny.path.rglob("*") if path.is_file()}


def test_a_cache_hit_under_other_gate_settings_reports_a_gate_scored_under_them(built_tiny, run_cli, tmp_path: Path):
    """The gate's settings are not in the cache key: a hit gated under others is scored again, under its own."""
    first = json.loads((built_tiny.path / MANIFEST).read_text())["quality_summary"]
    before = {path: path.stat().st_mtime_ns for path in built_tiny.path.rglob("*") if path.is_file()}
    plan = json.loads(built_tiny.plan_path.read_text())
    other = tmp_path / "plan.json"
    other.write_text(json.dumps({**plan, "quality_gate": {**plan.get("quality_gate", {}), "steps": 6}}))
    result = run_cli(other, built_tiny.out)
    summary = json.loads(result.stdout)
    assert result.returncode == 0 and summary["status"] == "cached", result.stderr[-3000:]
    assert summary["quality"]["steps"] == 6, f"the report is the first build's, at {summary['quality']['steps']} steps"
    assert summary["quality"]["verdict"] == "Passed" and "run again" in summary["message"]
    assert json.loads((built_tiny.out.parent / "termination-log").read_text())["quality"]["steps"] == 6
    after = {path: path.stat().st_mtime_ns for path in built_tiny.path.rglob("*") if path.is_file()}
    assert after == before, "the shared published build is left as it was"
    assert json.loads((built_tiny.path / MANIFEST).read_text())["quality_summary"] == first


def test_a_cache_hit_whose_gate_cannot_pass_under_this_plan_is_refused_and_the_published_build_stays(
        built_tiny, run_cli, tmp_path: Path):
    plan = json.loads(built_tiny.plan_path.read_text())
    other = tmp_path / "plan.json"
    other.write_text(json.dumps({**plan, "quality_gate": {**plan.get("quality_gate", {}), "prompts": [],
                                                          "on_unavailable": "Block"}}))
    result = run_cli(other, built_tiny.out)
    assert result.returncode == 7, result.stdout + result.stderr[-3000:]
    termination = json.loads((built_tiny.out.parent / "termination-log").read_text())
    assert termination["error"] == "QualityGateUnavailable" and "prompt" in termination["message"]
    assert is_complete(built_tiny.path, built_tiny.summary["cache_key"]), "the other services' build is kept"
    again = run_cli(built_tiny.plan_path, built_tiny.out)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "cached"


def test_a_killed_build_never_leaves_a_directory_that_looks_complete(tmp_path: Path, built_tiny):
    plan = tmp_path / "plan.json"
    # its own cache key (max_batch_size differs), so it is never a cache hit
    plan.write_text(json.dumps({**json.loads(built_tiny.plan_path.read_text()), "max_batch_size": 3}))
    out = tmp_path / "cache"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(plan), "--out", str(out),
         "--termination-log", str(tmp_path / "termination-log")],
        cwd=Path(__file__).resolve().parents[3], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    for line in process.stderr:
        if ("stage=export" in line and "component=unetxl" in line) or time.monotonic() > deadline:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    key = BuildPlan.model_validate(json.loads(plan.read_text())).cache_key()
    assert not (out / key).exists()
    partials = list(out.glob(f"{PARTIAL_PREFIX}{key}-*"))
    assert len(partials) == 1 and not (partials[0] / MANIFEST).exists()
    assert not is_complete(partials[0], key)
    assert sweep_partials(out, key) == partials
    assert list(out.iterdir()) == []
    work = scratch / f".work-{key}-{process.pid}"  # torch leaves its own caches in TMPDIR too
    assert work.is_dir()
    assert sweep_partials(scratch, key) == [work], "the next build sweeps the dead build's scratch too"
