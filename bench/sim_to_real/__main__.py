"""``python -m bench.sim_to_real [--scalers ours hpa]``: real fleet vs simulator on one compressed trace."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from bench.autoscaler.traces import poisson_arrivals
from bench.realnode.bed import real_node_bed
from bench.sim_to_real import predict, real_fleet, report, settings
from testbed.cluster import HPA_SYNC_PERIOD_ENV, Cluster

RESULTS = Path(__file__).resolve().parent.parent / "results"
RUNS_FILE = "sim_to_real_runs.json"


def arrivals() -> np.ndarray:
    """The warm-up at the trace's base rate, then the trace (its own seed: the same requests every run)."""
    rng = np.random.default_rng(settings.SEED)
    warmup = poisson_arrivals(np.full(int(settings.WARMUP_S), settings.intensity()[0]), rng)
    return np.concatenate([warmup, settings.WARMUP_S + settings.trace().arrivals])


def hpa_sync_period_of(cluster: Cluster) -> str | None:
    """The ``--horizontal-pod-autoscaler-sync-period`` the running kube-controller-manager was given."""
    pid = cluster.process("kube-controller-manager").pid()
    if pid is None:
        return None
    flag = "--horizontal-pod-autoscaler-sync-period="
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return next((a.removeprefix(flag) for a in args if a.startswith(flag)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scalers", nargs="+", choices=["ours", "hpa"], default=["ours", "hpa"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replay", type=Path, help="re-analyse the runs saved in this file (no test bed)")
    args = parser.parse_args()
    if args.replay:
        saved = [real_fleet.RealRun.from_dict(d) for d in json.loads(args.replay.read_text())]
        print(report.write([(run, predict.predictions(run)) for run in saved], args.out))
        return
    install_hpa: real_fleet.HpaInstaller | None = None
    want_sync = f"{settings.HPA_SYNC_S:g}s"
    os.environ[HPA_SYNC_PERIOD_ENV] = want_sync  # read when this run starts the test bed
    if "hpa" in args.scalers:
        from bench.sim_to_real import hpa_side  # noqa: PLC0415 - only the HPA side needs the adapter
        install_hpa = hpa_side.install_hpa
    runs = []
    with real_node_bed() as (cluster, kube):
        running = hpa_sync_period_of(cluster)
        if "hpa" in args.scalers and running != want_sync:
            raise SystemExit(f"the running test bed's HPA syncs every {running}, the simulator's every {want_sync}: "
                             "stop it (`testbed down`) and run again")
        for scaler in args.scalers:
            run = real_fleet.run(kube, cluster, scaler, arrivals(), install_hpa)
            starts = run.timeline.cold_starts()
            print(f"{scaler}: {run.load.failed} failed of {len(run.load.waits)}; cold starts {starts}")
            runs.append((run, predict.predictions(run)))
            # Saved as soon as each run ends: a later failure does not lose it, and --replay re-analyses it.
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / RUNS_FILE).write_text(json.dumps([r.to_dict() for r, _ in runs]) + "\n")
    print(report.write(runs, args.out))


if __name__ == "__main__":
    main()
