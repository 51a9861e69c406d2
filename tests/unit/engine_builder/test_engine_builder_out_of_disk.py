"""A volume that fills up mid-build: named as OutOfDisk (exit 8) with what is left, nothing published.

The build itself is replaced by one that writes into its staging directory and then hits ENOSPC the
way torch's exporter reports it (wrapped in an ExportError), so the real publish path around it runs.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine_builder.build
from engine_builder.build import build
from engine_builder.cli import app
from engine_builder.disk import no_space_left
from engine_builder.errors import ExportError, OutOfDiskError
from engine_builder.plan import BuildPlan

PLAN = BuildPlan(source="builtin://tiny-sdxl", backend="onnxruntime")


def enospc(filename: str) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", filename)


def fill_up(plan: BuildPlan, staging: Path, *args: object) -> dict:
    (staging / "model_repository").mkdir()
    (staging / "model_repository" / "half-written.onnx.data").write_bytes(b"\0" * 1024)
    try:
        raise enospc("/cache/.partial/unetxl/1/model.onnx.data")
    except OSError as err:
        raise ExportError(f"unetxl: torch.onnx.export failed: {err}") from err


def test_the_enospc_behind_a_wrapped_error_is_found_and_other_errors_are_not():
    try:
        fill_up(PLAN, Path("/nonexistent"))
    except (ExportError, OSError) as err:
        wrapped = err
    assert no_space_left(wrapped) is None  # the staging directory does not exist: a plain ENOENT
    export_error = ExportError("export failed")
    export_error.__cause__ = enospc("/cache/x")
    assert no_space_left(export_error).filename == "/cache/x"
    assert no_space_left(OSError(errno.EACCES, "Permission denied")) is None


def test_a_full_volume_is_reported_as_out_of_disk_and_nothing_is_published(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine_builder.build, "_build_into", fill_up)
    out = tmp_path / "cache"
    with pytest.raises(OutOfDiskError) as raised:
        build(PLAN, out, engine_builder.build.BuildOptions(scratch=tmp_path))
    message = str(raised.value)
    assert "no space left on device writing /cache/.partial/unetxl/1/model.onnx.data" in message
    assert f"on the engine cache ({out})" in message and "Nothing was published" in message
    assert list(out.iterdir()) == []  # neither the key nor the half-written partial directory


def test_the_cli_summary_names_out_of_disk_with_exit_8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(engine_builder.build, "_build_into", fill_up)
    plan = tmp_path / "plan.json"
    plan.write_text(PLAN.model_dump_json())
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    result = CliRunner().invoke(app, ["build", "--plan", str(plan), "--out", str(tmp_path / "out"),
                                      "--termination-log", str(tmp_path / "t")])
    assert result.exit_code == 8
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and summary["error"] == "OutOfDisk"
    assert summary["message"].startswith("no space left on device writing ")
