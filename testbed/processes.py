"""Start, watch and stop the test bed's server processes.

Each server runs in its own session (``start_new_session``) so that ``testbed up`` can return while
the servers keep running, and ``testbed down`` (or a pytest fixture) can find them again by pid file.
Logs go to one file per process; on a failed start the log tail is put in the exception, because a
bare "timed out" is useless when a control plane does not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessStartError(RuntimeError):
    """A server exited or never became ready; the message holds its log tail."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_time(pid: int) -> str:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. With the pid
    it identifies one process for good, so a stop never signals an unrelated process that reused it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[19]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class ManagedProcess:
    """One server process, identified by a name inside a state directory."""

    name: str
    state_dir: Path

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / "pids" / f"{self.name}.pid"

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{proc.pid} {_start_time(proc.pid)}")
        return proc.pid

    def pid(self) -> int | None:
        """The recorded pid, only if that pid is still the process we started (pids get reused)."""
        try:
            recorded = self.pid_path.read_text().split()
            pid = int(recorded[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        if len(recorded) > 1 and _start_time(pid) != recorded[1]:
            return None
        return pid

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie still answers kill(0); /proc tells the truth.
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except FileNotFoundError:
            return False

    def wait_ready(self, probe: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessStartError(f"{self.name} exited during start:\n{log_tail(self.log_path)}")
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(interval)
        raise ProcessStartError(
            f"{self.name} not ready after {timeout:.0f}s:\n{log_tail(self.log_path)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while self.alive() and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL at once: the fault-injection tests' idea of a crash."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
