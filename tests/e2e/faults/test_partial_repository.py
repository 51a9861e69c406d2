"""Fault: the engine builder is SIGKILLed while it writes the Triton model repository.

Expectation: nothing under ``<cache>/<key>/`` (the only path a Triton pod mounts) ever exists in
a partial state: the half-written repository stays in ``.partial-<key>-<pid>/``, which no server
reads, the build's Job fails rather than completes (so the operator never rolls out the key), and
the next build of the same key sweeps the leftovers and publishes a complete, servable repository.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine_builder.plan import BuildPlan
from engine_builder.publish import MANIFEST, PARTIAL_PREFIX, is_complete
from tests.e2e.faults.support import Figures

ROOT = Path(__file__).resolve().parents[3]
#: A tiny CPU build of its own key (never a cache hit of another test's build).
PLAN = {"source": "builtin://tiny-sdxl", "backend": "onnxruntime", "precision": "fp16",
        "resolutions": [{"width": 320, "height": 320}], "max_batch_size": 1}


def builder(plan: Path, out: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(plan), "--out", str(out),
         "--termination-log", str(log)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(out.parent)},
    )


def test_a_builder_killed_while_writing_the_repository_never_publishes_a_partial_one(
        tmp_path: Path, figures: Figures):
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(PLAN))
    key = BuildPlan.model_validate(PLAN).cache_key()
    out = tmp_path / "cache"
    (tmp_path / "termination-log").write_text("")

    process = builder(plan_path, out, tmp_path / "termination-log")
    assert process.stderr is not None
    deadline = time.monotonic() + 300
    for line in process.stderr:
        if "stage=repository" in line or time.monotonic() > deadline:
            break
    staging = out / f"{PARTIAL_PREFIX}{key}-{process.pid}"
    # Kill as soon as the repository has begun to appear in the staging directory.
    while not list(staging.glob("model_repository/*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL  # a pod's container would exit 137: the Job fails

    assert list(staging.glob("model_repository/*")), "killed too early: nothing partial was written"
    assert not (staging / MANIFEST).exists()
    assert not (out / key).exists(), "a partial repository is visible at the served path"

    started = time.monotonic()
    rebuilt = builder(plan_path, out, tmp_path / "termination-log")
    stdout, stderr = rebuilt.communicate(timeout=600)
    assert rebuilt.returncode == 0, stderr[-3000:]
    assert json.loads(stdout.strip().splitlines()[-1])["status"] == "built"
    assert is_complete(out / key, key)
    assert not staging.exists(), "the dead build's partial directory was not swept"
    assert (out / key / "model_repository" / "sdxl" / "config.pbtxt").is_file()
    figures.record("partial_repository", rebuild_after_kill_s=round(time.monotonic() - started, 2))
