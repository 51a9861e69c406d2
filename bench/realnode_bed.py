"""The test bed with its real node for the real-node benchmarks, and how their runs are written down."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testbed.cluster import Cluster
from testbed.kube import KubeClient


@contextmanager
def real_node_bed() -> Iterator[tuple[Cluster, KubeClient]]:
    """The default test bed with its real node: reused when running, else started and stopped here."""
    cluster = Cluster()
    started_here = not cluster.healthy()
    state = cluster.up(real_node=True)
    if not state.real_node:
        raise SystemExit(f"no real node: {state.real_node_error}")
    try:
        yield cluster, KubeClient(cluster.kubeconfig)
    finally:
        if started_here:
            cluster.down()


def write_runs(runs: list[dict[str, Any]], out: Path, width: int) -> None:
    """Every run and their median per figure, to ``out`` (JSON) and stdout."""
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs, "median": median}, indent=2) + "\n")
    for key, value in median.items():
        print(f"{key:{width}s} {value:7.2f}")
