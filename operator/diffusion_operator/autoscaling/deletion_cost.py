"""Which Triton pods a scale-down removes: the idle ones, through ``controller.kubernetes.io/pod-deletion-cost``.

The ReplicaSet controller removes pods that are not Ready first, then the lowest deletion cost. The
autoscaler is the one writer of the annotation (its own field manager, ``render.replicas``), just
before it lowers the count: each pod's cost is its work now, so the pods left with nothing to drain
go first and the drain (``render.drain``) has the least to finish. Queued requests weigh most (they
wait for the whole drain); requests completed within the window stand for one that is executing,
which Triton's pending gauge does not count. Pure: the metrics and the pod list come in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
#: One queued request outweighs any number of recently completed ones.
PENDING_WEIGHT = 1000
#: The annotation is an int32.
MAX_COST = 2**31 - 1


def deletion_costs(pods: Iterable[str], pending: Mapping[str, float],
                   completed: Mapping[str, float]) -> dict[str, int]:
    """Each pod's cost; a pod without metrics (starting, or just scraped for the first time) costs 0."""
    costs = {}
    for pod in pods:
        work = PENDING_WEIGHT * max(pending.get(pod, 0.0), 0.0) + max(completed.get(pod, 0.0), 0.0)
        costs[pod] = min(MAX_COST, round(work))
    return costs
