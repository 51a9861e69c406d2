"""What the demo runs with: names it owns, image size, and the CI and full paces (one place)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diffusion_operator.render.defaults import RenderSettings

from testbed.servicemonitors import seconds

NAMESPACE = "demo"
#: The chart's release and namespace: the operator runs there as a pod, with the chart's RBAC.
RELEASE = "demo"
OPERATOR_NAMESPACE = "diffusion-system"
SERVICE = "tiny"
FIELD_MANAGER = "testbed-demo"
#: Every process the demo starts is a ManagedProcess named with this prefix (``testbed down`` finds them).
PROCESS_PREFIX = "demo-"
PROMETHEUS = "demo-prometheus"
TRANSLATOR = "demo-servicemonitors"
#: Small images keep a request ~0.1-0.3 s on 2 shared CPU cores; the pipeline is the real one.
IMAGE_SIZE = 128
IMAGE_STEPS = 2
#: Where the built-in model draws its scenes: its training size and the serving defaults its held-out
#: scores are measured at (the showcase image and the gallery's grid and photoshoot).
SCENE_SIZE, SCENE_STEPS, SCENE_GUIDANCE = 64, 30, 5.0
SEED = 42
#: Offered load relative to one pod's measured capacity: over 1 so a queue builds, low enough to drain.
OVERLOAD = 1.25
MAX_RATE = 30.0
#: Open connections of the load generator. Each keeps to the pod kube-proxy picked when it opened,
#: so the load after a scale-up is a fresh run (new connections, spread over the Ready pods).
CONCURRENCY = 32
#: The operator decides every 2 s (the chart's 15 s is a production cadence; the demo compresses time).
AUTOSCALE_INTERVAL_S = 2
#: The scrape interval of the ServiceMonitor the operator renders (15 s), which Prometheus follows.
SCRAPE_INTERVAL_S = seconds(RenderSettings().metrics_interval)
#: Rate windows must hold two of those scrapes: 30 s.
METRICS_WINDOW_S = int(2 * SCRAPE_INTERVAL_S)


@dataclass(frozen=True)
class DemoOptions:
    keep: bool = False
    ci: bool = False
    namespace: str = NAMESPACE
    out_dir: Path = Path("out")
    state_dir: Path | None = None

    @property
    def load_seconds(self) -> float:
        """The step trace's length; CI stops it once the new pods are Ready."""
        return 120.0 if self.ci else 150.0

    @property
    def spread_seconds(self) -> float:
        """The load after the scale-up, on fresh connections, whose requests per pod are counted."""
        return 15.0 if self.ci else 30.0

    @property
    def scale_down_window_s(self) -> int:
        """At least the metrics window: shorter, and the noise of 15 s scrapes flaps the replicas."""
        return METRICS_WINDOW_S if self.ci else 2 * METRICS_WINDOW_S

    @property
    def scale_timeout_s(self) -> float:
        return 150.0 if self.ci else 240.0

    #: Export + parity + publish of the tiny model in a pod on 2 shared cores, and Triton's first start.
    build_timeout_s: float = 600.0
    ready_timeout_s: float = 300.0
