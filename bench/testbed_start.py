"""Benchmark: how long the test bed takes to start with its binaries cached.

Starts a fresh cluster (new etcd, new apiserver, controllers, kwok, node pools) ``--runs`` times in
throw-away state directories and reports each start and the median. The goal from the foundation
issue is under 30 s; the cold build time of the binaries is printed by tools/build-binaries.sh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from testbed.cluster import Cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/testbed_start.json"))
    args = parser.parse_args()
    seconds = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="testbed-bench-") as tmp:
            cluster = Cluster(Path(tmp))
            started = time.monotonic()
            cluster.up()
            seconds.append(round(time.monotonic() - started, 2))
            cluster.down()
        print(f"run {run + 1}: test bed ready in {seconds[-1]:.2f} s")
    result = {"runs": seconds, "median_s": statistics.median(seconds), "max_s": max(seconds)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_s']:.2f} s, max {result['max_s']:.2f} s (goal < 30 s)")


if __name__ == "__main__":
    main()
