"""One step of an image build as a subprocess; a failure is an ``ImageBuildError`` with the log's tail.

Every job of the package shells out (pip, mmdebstrap, go, buildah, ctr): one runner gives them the
same error, naming the step and holding the last 40 lines of its output, so a failed ``make images``
says what failed without opening a log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class ImageBuildError(RuntimeError):
    """A build or import step failed; the message names the step and holds its log tail."""


def run_step(argv: list[str], *, step: str, log: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 3600) -> str:
    """Run one step and return its stdout (or append all output to ``log``); on failure raise with the tail."""
    full_env = {**os.environ, **(env or {})}
    if log is None:
        done = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
        output = done.stdout + done.stderr
    else:
        with log.open("a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=full_env,
                                  timeout=timeout, check=False)
        output = log.read_text(errors="replace")
    if done.returncode != 0:
        tail = "\n".join(output.splitlines()[-40:])
        raise ImageBuildError(f"{step} failed (exit {done.returncode}):\n{tail}")
    return done.stdout if log is None else ""
