"""``python -m bench.sim_to_real [--scalers ours hpa]``: real fleet vs simulator on one compressed trace."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.autoscaler.traces import poisson_arrivals
from bench.realnode_bed import real_node_bed
from bench.sim_to_real import predict, real_fleet, report, settings

RESULTS = Path(__file__).resolve().parent.parent / "results"


def arrivals() -> np.ndarray:
    """The warm-up at the trace's base rate, then the trace (its own seed: the same requests every run)."""
    rng = np.random.default_rng(settings.SEED)
    warmup = poisson_arrivals(np.full(int(settings.WARMUP_S), settings.intensity()[0]), rng)
    return np.concatenate([warmup, settings.WARMUP_S + settings.trace().arrivals])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scalers", nargs="+", choices=["ours", "hpa"], default=["ours", "hpa"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    install_hpa: real_fleet.HpaInstaller | None = None
    if "hpa" in args.scalers:
        from bench.sim_to_real import hpa_side  # noqa: PLC0415 - only the HPA side needs the adapter
        install_hpa = hpa_side.install_hpa
    runs = []
    with real_node_bed() as (cluster, kube):
        for scaler in args.scalers:
            run = real_fleet.run(kube, cluster, scaler, arrivals(), install_hpa)
            starts = run.timeline.cold_starts()
            print(f"{scaler}: {run.load.failed} failed of {len(run.load.waits)}; cold starts {starts}")
            runs.append((run, [predict.predict(run, "random"), predict.predict(run, "least_request")]))
    print(report.write(runs, args.out))


if __name__ == "__main__":
    main()
