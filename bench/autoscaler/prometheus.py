"""What Prometheus would hold: counters scraped every interval, moving only when requests complete.

Scalers in the benchmark see the fleet only through this store, so their signals lag exactly as the
real ones do (FACTS.md: counters update on completion; a rate window keeps its value after load stops).
Range functions follow Prometheus closely enough for scaling: ``increase`` extrapolates the first-to-last
sample difference to the window, ``deriv`` is the least-squares slope.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FLEET_FIELDS = ("queue_us", "success", "service_us", "inference_count", "exec_count", "pending", "steps")


@dataclass
class ScrapeStore:
    times: list[float] = field(default_factory=list)
    fleet: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in FLEET_FIELDS})
    pods: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)
    outages: tuple[tuple[float, float], ...] = ()

    def record(self, now: float, totals: dict[str, float], per_pod: dict[int, tuple[float, float]]) -> None:
        if any(start <= now < end for start, end in self.outages):
            return  # Prometheus (or the scrape path) is down: no samples land
        self.times.append(now)
        for name in FLEET_FIELDS:
            self.fleet[name].append(totals.get(name, 0.0))
        for pod, (queue_us, success) in per_pod.items():
            samples = self.pods.setdefault(pod, [])
            samples.append((now, queue_us, success))
            if len(samples) > 8:
                del samples[:-8]

    def reachable(self, now: float) -> bool:
        return not any(start <= now < end for start, end in self.outages)

    def _window(self, now: float, window_s: float) -> tuple[int, int]:
        """Index range of samples in (now - window, now]; scanned from the end (windows are short)."""
        end = len(self.times)
        start = end
        while start > 0 and self.times[start - 1] > now - window_s:
            start -= 1
        return start, end

    def increase(self, name: str, now: float, window_s: float) -> float | None:
        start, end = self._window(now, window_s)
        if end - start < 2:
            return None
        span = self.times[end - 1] - self.times[start]
        values = self.fleet[name]
        return (values[end - 1] - values[start]) * window_s / span

    def latest(self, name: str, now: float, staleness_s: float = 300.0) -> float | None:
        if not self.times or self.times[-1] < now - staleness_s:
            return None
        return self.fleet[name][-1]

    def deriv(self, name: str, now: float, window_s: float) -> float | None:
        start, end = self._window(now, window_s)
        if end - start < 2:
            return None
        t = np.asarray(self.times[start:end])
        v = np.asarray(self.fleet[name][start:end])
        t = t - t.mean()
        return float((t * (v - v.mean())).sum() / (t * t).sum())

    def triton_chart_pod_values(self, now: float, live_pods: set[int], window_s: float = 30.0) -> dict[int, float]:
        """``delta(queue_us[30s]) / (1 + delta(success[30s]))`` per pod, as Triton's k8s-onprem chart reads."""
        values: dict[int, float] = {}
        for pod in live_pods:
            samples = [s for s in self.pods.get(pod, ()) if s[0] > now - window_s]
            if len(samples) < 2:
                continue
            scale = window_s / (samples[-1][0] - samples[0][0])
            queue_delta = (samples[-1][1] - samples[0][1]) * scale
            success_delta = (samples[-1][2] - samples[0][2]) * scale
            values[pod] = queue_delta / (1 + success_delta)
        return values
