"""``--plot``: latency of every request against its send time, with the SLA line.

A scatter, not a histogram, because the question a load test answers is *when* latency grew (the
step, the diurnal peak) and whether it came back after the autoscaler acted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from diffusion_operator.client.errors import UsageError
from diffusion_operator.client.stats import Sample


def plot_latency(samples: Sequence[Sample], path: Path, *, sla_s: float | None, title: str) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from err
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    ok = [s for s in samples if s.ok]
    failed = [s for s in samples if not s.ok]
    axes.scatter([s.scheduled_s for s in ok], [s.latency_s for s in ok], s=8, label="latency")
    if failed:
        axes.scatter([s.scheduled_s for s in failed], [s.latency_s for s in failed], s=12, marker="x",
                     color="red", label="error")
    if sla_s is not None:
        axes.axhline(sla_s, color="orange", linestyle="--", label=f"SLA {sla_s:g}s")
    axes.set_xlabel("scheduled send time (s)")
    axes.set_ylabel("latency (s)")
    axes.set_title(title)
    axes.legend(loc="upper left")
    figure.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        plt.close(figure)
    return path
