"""Atomic publishing: complete or absent, never half; stale partials are swept; races are hits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine_builder.publish import (
    MANIFEST,
    is_complete,
    partial_dir,
    publish,
    read_manifest,
    sha256_file,
    sweep_partials,
    work_dir,
)

KEY = "sdxl-0123456789abcdef"


def staged(out: Path, pid: int = 1, payload: str = "engine") -> Path:
    staging = partial_dir(out, KEY, pid)
    (staging / "model_repository" / "unetxl" / "1").mkdir(parents=True)
    (staging / "model_repository" / "unetxl" / "1" / "model.onnx").write_text(payload)
    return staging


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_publish_renames_the_staging_dir_and_writes_the_manifest_last(tmp_path: Path):
    staging = staged(tmp_path)
    target = publish(staging, tmp_path, KEY, {"plan": {"source": "builtin://tiny-sdxl"}, "timings": {"export": 1.0}})
    assert target == tmp_path / KEY
    assert not staging.exists()
    manifest = read_manifest(target)
    assert manifest is not None
    assert manifest["cache_key"] == KEY and manifest["timings"] == {"export": 1.0}
    record = manifest["files"]["model_repository/unetxl/1/model.onnx"]
    assert record == {"sha256": sha256_file(target / "model_repository/unetxl/1/model.onnx"), "bytes": 6}
    assert is_complete(target, KEY)


def test_a_directory_is_incomplete_without_manifest_with_another_key_or_with_a_truncated_file(tmp_path: Path):
    target = publish(staged(tmp_path), tmp_path, KEY, {})
    assert not is_complete(target, "sdxl-ffffffffffffffff")
    (target / "model_repository/unetxl/1/model.onnx").write_text("eng")
    assert not is_complete(target, KEY)
    (target / MANIFEST).unlink()
    assert not is_complete(target, KEY)
    assert not is_complete(tmp_path / "absent", KEY)


def test_losing_a_publish_race_to_an_identical_build_is_a_hit(tmp_path: Path):
    publish(staged(tmp_path, pid=1), tmp_path, KEY, {})
    second = staged(tmp_path, pid=2)
    assert publish(second, tmp_path, KEY, {}) == tmp_path / KEY
    assert not second.exists()
    assert is_complete(tmp_path / KEY, KEY)


def test_sweeping_removes_dirs_of_dead_builders_and_keeps_live_ones(tmp_path: Path):
    dead = staged(tmp_path, pid=dead_pid())
    dead_work = work_dir(tmp_path, KEY, dead_pid())
    dead_work.mkdir()
    live = staged(tmp_path, pid=os.getpid())
    other_key = tmp_path / f".partial-sdxl-aaaaaaaaaaaaaaaa-{dead_pid()}"
    other_key.mkdir()
    removed = sweep_partials(tmp_path, KEY)
    assert set(removed) == {dead, dead_work}
    assert live.exists() and other_key.exists()


def test_a_manifest_is_deterministic_json(tmp_path: Path):
    target = publish(staged(tmp_path), tmp_path, KEY, {"b": 1, "a": 2})
    text = (target / MANIFEST).read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True)
