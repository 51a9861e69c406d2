"""`make pytest`: the suite as two pytest sessions side by side, the real-node tests and the rest.

Why two sessions and not pytest-xdist: the real kubelet node is one per machine (its containerd,
CNI bridge and kube-proxy rules are the host's), and a session brings it up only when one of *its*
collected tests uses it (``tests/conftest.py``). An xdist worker cannot know in advance whether it
will be handed a real-node test, so each would bring up its own node, or none. Split by the
``realnode`` marker, each session owns its own test bed (ports, state dir and temp dir are per
session): the real-node one with the node, the other with kwok nodes only.

Why it pays on 2 cores: the real-node session spends most of its time waiting (image pulls, pod
starts, rollouts, scale-to-zero windows), while the other session's integration tests are CPU-bound
(Triton on CPU, ONNX exports). Run one after the other, `make test` took 65 min of pytest in CI.

The other session prints as it goes; the real-node session writes to a log that is printed when
both have ended, followed by both sessions' summaries, so the end of the output says what failed.
Extra arguments go to both sessions.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_DIR = REPO / ".state" / "pytest"


@dataclass(frozen=True)
class Stream:
    name: str
    marker: str


REAL_NODE = Stream("real-node", "realnode")
THE_REST = Stream("the rest", "not realnode")


def command(stream: Stream, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", stream.marker, *extra]


def last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def failures(log: Path) -> list[str]:
    """The short summary's FAILED and ERROR lines, so the end of the output names every failure."""
    return [line for line in log.read_text(errors="replace").splitlines() if line.startswith(("FAILED ", "ERROR "))]


def main(extra: list[str]) -> int:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    real_log = LOG_DIR / "realnode.log"
    rest_log = LOG_DIR / "rest.log"
    started = time.monotonic()
    with real_log.open("w") as real_out:
        real = subprocess.Popen(command(REAL_NODE, extra), cwd=REPO, stdout=real_out, stderr=subprocess.STDOUT)
        try:
            with rest_log.open("w") as rest_out:
                rest = subprocess.Popen(command(THE_REST, extra), cwd=REPO, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                assert rest.stdout is not None
                for line in rest.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    rest_out.write(line)
                rest_code = rest.wait()
            real_code = real.wait()
        finally:
            if real.poll() is None:
                real.terminate()
                real.wait()
    print(f"\n{'=' * 30} the real-node session ({real_log.relative_to(REPO)}) {'=' * 30}")
    sys.stdout.write(real_log.read_text(errors="replace"))
    # Each session's own time is in its pytest summary; the wall time is both, side by side.
    print(f"\n{'=' * 30} both sessions, {(time.monotonic() - started) / 60:.1f} min wall {'=' * 30}")
    print(f"{REAL_NODE.name}: exit {real_code}: {last_line(real_log)}")
    print(f"{THE_REST.name}: exit {rest_code}: {last_line(rest_log)}")
    for line in failures(real_log) + failures(rest_log):
        print(line)
    # pytest's 5 means "no tests collected" (e.g. extra arguments that select only one kind).
    codes = [code for code in (real_code, rest_code) if code != 5]
    return max(codes, default=5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
