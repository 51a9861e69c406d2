"""Burst memory: while load bursts keep recurring, keep the capacity the last bursts needed.

Why. A burst is served by pods that exist when it starts. New SDXL replicas serve ~90 s after they
are ordered (plus node provisioning where GPUs are provisioned on demand), and requests queued on the
old pods stay there, so every request arriving in that window beyond the old fleet's capacity misses a
10 s queue SLA whatever the scaler does next. On the benchmark even a scaler that knows the load
*now* exactly and orders 64 replicas at once loses ~300-390 requests per 4x spike and 439 on a 10x
step (docs/autoscaling.md). When bursts recur, the only protection is capacity that is already there.

What. The recommendations (the raw demand before stabilization) are kept, thinned to one per minute
(its maximum), for ``policy.burst_memory_s``. A minute whose peak is at least ``1 + burst_growth``
times the lower of the two minutes before it, and ``BURST_MIN_PODS`` more, is a burst onset. With two
or more onsets in memory the bursts are recurring: scale-down stops at the latest burst's sustained
peak (the highest demand it held two consecutive minutes, so one noisy minute does not count) until
``burst_hold_gaps`` mean gaps between onsets have passed without a new one. Under Poisson bursts the
next one starts within k mean gaps with probability 1 - e^-k (95 % for the default 3). The hold only
stops a scale-down; it never orders pods, and scale-to-zero after a long idle still applies.

The recommendations are the signal, not the scale events: while the fleet is held, a new burst needs
no scale-up but its demand still jumps, so the memory keeps seeing the pattern it protects against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from diffusion_operator.autoscaling.history import Recommendation

# The granularity of the thinned memory and of onset detection: four 15 s evaluations. Coarse enough
# that a burst's first minutes of ramping (the arrival estimate needs its rate window) read as one step.
BUCKET_S = 60.0
# A jump of fewer pods is not a burst, whatever its ratio: on the benchmark a minute's peak moves by up to
# 4 pods on Poisson noise alone in fleets under ~10 (quiet hours of the diurnal trace, the step's base).
BURST_MIN_PODS = 5
# A burst's demand settles within 3 minutes of its onset: the operator's 60 s rate window, then a minute
# of evaluations over it. Until then the burst before it says more about what the fleet needs.
SETTLE_BUCKETS = 3
# One burst is an event; two are a pattern worth paying idle GPUs for.
RECURRING_AFTER = 2


@dataclass(frozen=True)
class BurstMemory:
    """What the recommendations in memory say about bursts."""

    onsets: tuple[float, ...]  # start of each minute where demand jumped (oldest first)
    sustained_peak: int  # what the latest (settled) burst asked for two consecutive minutes

    @property
    def mean_gap_s(self) -> float | None:
        if len(self.onsets) < RECURRING_AFTER:
            return None
        return (self.onsets[-1] - self.onsets[0]) / (len(self.onsets) - 1)


def minute_peaks(recommendations: Iterable[Recommendation], bucket_s: float = BUCKET_S) -> list[tuple[int, int]]:
    """``(bucket index, highest recommendation in it)`` for every bucket that has one, oldest first."""
    peaks: dict[int, int] = {}
    for rec in recommendations:
        bucket = int(rec.at // bucket_s)
        peaks[bucket] = max(peaks.get(bucket, rec.replicas), rec.replicas)
    return sorted(peaks.items())


def read_memory(recommendations: Iterable[Recommendation], growth: float) -> BurstMemory:
    """Onsets, and the sustained peak of the latest burst; a minute without evaluations breaks both.

    The latest burst's, not the whole memory's: a burst that met a fleet sized for the base load also
    asked for replicas to work off its backlog, while one that met a held fleet asked only for what
    its arrival rate needs, and holding that is what protects the next burst. While the latest burst
    is still settling (``SETTLE_BUCKETS``) its ramp reads low, so the larger of it and the burst before
    counts: a hold must not drop under a fleet that is about to need it.
    """
    peaks = minute_peaks(recommendations)
    onsets: list[int] = []
    previous_jumped = False
    for i, (bucket, peak) in enumerate(peaks):
        before = [p for b, p in peaks[max(0, i - 2) : i] if bucket - b <= 2]
        base = min(before, default=peak)
        jumped = peak >= base * (1 + growth) and peak - base >= BURST_MIN_PODS
        if jumped and not previous_jumped:  # a ramp over several minutes is one burst
            onsets.append(bucket)
        previous_jumped = jumped
    held = [
        max(_sustained([(b, p) for b, p in peaks if start <= b and (end is None or b < end)]), default=0)
        for start, end in zip(onsets, [*onsets[1:], None], strict=False)
    ]
    sustained = held[-1] if held else 0
    if len(held) > 1 and peaks[-1][0] - onsets[-1] < SETTLE_BUCKETS:
        sustained = max(held[-2:])
    return BurstMemory(tuple(b * BUCKET_S for b in onsets), sustained)


def _sustained(peaks: list[tuple[int, int]]) -> list[int]:
    """The demand each pair of consecutive minutes held throughout (the lower of the two peaks)."""
    return [min(p, q) for (a, p), (b, q) in pairwise(peaks) if b == a + 1]


def burst_floor(
    recommendations: Iterable[Recommendation], now: float, *, growth: float, hold_gaps: float
) -> int | None:
    """The replicas to keep while bursts recur, or None when they do not (or the hold has run out)."""
    memory = read_memory(recommendations, growth)
    gap = memory.mean_gap_s
    if gap is None or now - memory.onsets[-1] > hold_gaps * gap or memory.sustained_peak == 0:
        return None
    return memory.sustained_peak
