"""What the demo saw: the report behind the summary table and ``out/demo-summary.json``, and the stage timer."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from testbed.demo.options import DemoOptions


@dataclass
class PodStartup:
    """One Triton pod from scheduled to serving (seconds; the API's timestamps have 1 s resolution)."""

    pod: str
    node: str
    #: PodScheduled -> the container's startedAt: sandbox, network, volume mounts, container start.
    container_start_s: float | None = None
    #: Triton's own log: its first line -> "Started HTTPService" (the model repository loaded).
    model_load_s: float | None = None
    #: startedAt -> the Ready condition (model load plus the readiness probe's period).
    ready_s: float | None = None
    #: The first request sent straight to the pod once Ready (cold ONNX Runtime sessions).
    first_inference_s: float | None = None


@dataclass
class BuildFigures:
    """The engine build Job, run as a pod on the real node."""

    job: str = ""
    node: str = ""
    #: Job startTime -> completionTime.
    job_s: float | None = None
    #: PodScheduled -> the builder container's startedAt.
    pod_start_s: float | None = None
    #: The builder container's startedAt -> finishedAt.
    builder_s: float | None = None
    #: The builder's own stages from its log (``progress stage=export ... done in 6.2s``).
    builder_stages: dict[str, float] = field(default_factory=dict)
    #: The JSON the builder wrote to its termination log, as the operator put it in status.engine.
    termination_message: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoReport:
    """Everything the summary prints; ``out/demo-summary.json`` is ``to_json()`` (tests/e2e/demo reads it)."""

    stages: list[tuple[str, float, str]] = field(default_factory=list)
    phase: str | None = None
    cache_key: str | None = None
    build_status: str | None = None
    build: BuildFigures = field(default_factory=BuildFigures)
    engine: dict[str, Any] = field(default_factory=dict)
    operator_pod: dict[str, Any] = field(default_factory=dict)
    image: str | None = None
    seed: int | None = None
    image_seconds: float | None = None
    #: The prompt grid's checker verdicts (prompt -> PASS / objects ok / FAIL) and the photoshoot's
    #: prompt and the background the checker read (stages/gallery.py).
    grid: dict[str, str] = field(default_factory=dict)
    photoshoot: dict[str, Any] = field(default_factory=dict)
    #: Load over all phases (requests/errors summed), and each phase's own summary.
    load: dict[str, Any] = field(default_factory=dict)
    load_phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Successful ``sdxl`` requests per pod during the load after the scale-up (Triton's statistics),
    #: and the per-pod totals Prometheus had scraped through the ServiceMonitor by then.
    requests_per_pod: dict[str, int] = field(default_factory=dict)
    prometheus_per_pod: dict[str, float] = field(default_factory=dict)
    #: The Triton targets Prometheus discovered, with their labels (from ``up``).
    targets: list[dict[str, str]] = field(default_factory=list)
    pod_startups: list[PodStartup] = field(default_factory=list)
    replicas_timeline: list[tuple[float, int]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    last_decision: str | None = None
    scaling_conditions: list[str] = field(default_factory=list)
    scaled_up: bool = False
    scaled_down: bool = False
    kubeconfig: str | None = None
    prometheus_url: str | None = None
    #: What the demo started or created, so a test can check that it is gone afterwards.
    started: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "demo-summary.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path


class Stages:
    """Times each step and prints it as it finishes, so a slow step is visible while it runs."""

    def __init__(self, console: Console, report: DemoReport) -> None:
        self.console = console
        self.report = report

    @contextlib.contextmanager
    def step(self, name: str, note: str = "") -> Iterator[list[str]]:
        notes = [note] if note else []
        started = time.monotonic()
        with self.console.status(f"{name} ..."):
            yield notes
        elapsed = time.monotonic() - started
        text = "; ".join(n for n in notes if n)
        self.report.stages.append((name, round(elapsed, 2), text))
        self.console.print(f"[green]✓[/green] {name} [dim]({elapsed:.1f}s)[/dim] {text}", highlight=False)

    def say(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_summary(report: DemoReport, options: DemoOptions, console: Console) -> None:
    stages = Table("stage", "seconds", "what happened", title="make demo", title_justify="left")
    for stage, elapsed, note in report.stages:
        stages.add_row(stage, f"{elapsed:.1f}", note)
    stages.add_row("[bold]total[/bold]", f"{report.wall_s:.1f}", f"phase {report.phase}, engine {report.cache_key}")
    console.print(stages)

    build = report.build
    console.print(f"engine build Job {build.job} on {build.node}: {_s(build.job_s)}s "
                  f"(pod start {_s(build.pod_start_s)}s, builder {_s(build.builder_s)}s: "
                  + ", ".join(f"{k} {v:.1f}s" for k, v in build.builder_stages.items()) + ")", highlight=False)
    pods = Table("Triton pod", "node", "container start", "model load (log)", "Ready", "first inference",
                 "requests after scale-up (Prometheus: total)", title="pod scheduled -> serving (s)",
                 title_justify="left")
    for p in report.pod_startups:
        served = report.requests_per_pod.get(p.pod)
        seen = report.prometheus_per_pod.get(p.pod)
        pods.add_row(p.pod, p.node, _s(p.container_start_s), _s(p.model_load_s), _s(p.ready_s),
                     _s(p.first_inference_s),
                     "-" if served is None else f"{served}" + ("" if seen is None else f" ({seen:.0f} total)"))
    console.print(pods)
    load = report.load
    if load:
        console.print(f"load: {load['requests']} requests at up to {load['rate']}/s, p50 {load['p50_s'] or 0:.2f}s, "
                      f"p95 {load['p95_s'] or 0:.2f}s, errors {load['errors']}", highlight=False)
    timeline = ", ".join(f"{r} @ {t:.0f}s" for t, r in report.replicas_timeline)
    console.print(f"replicas (load start = 0s): {timeline or '-'}", highlight=False)
    decisions = Table("scale decisions (Events written by the operator pod)", title_justify="left")
    for line in report.decisions or ["(none)"]:
        decisions.add_row(line)
    console.print(decisions)
    console.print(f"last decision: {report.last_decision or '-'}", highlight=False)
    if report.grid:
        verdicts = Table("prompt (held out, 64 px, 30 steps)", "scene checker",
                         title="what the model draws (out/demo-grid.png)", title_justify="left")
        for prompt, mark in report.grid.items():
            verdicts.add_row(prompt, mark)
        console.print(verdicts)
    if report.photoshoot:
        shot = report.photoshoot
        console.print(f"photoshoot: {shot['product']} asked onto a {shot['background_asked']} background, the "
                      f"checker reads {shot['background_seen']} (out/demo-photoshoot.png)", highlight=False)
    if not report.scaled_up:  # say what the autoscaler saw instead
        for line in report.scaling_conditions:
            console.print(f"  {line}", highlight=False)
    console.print("where to look next:")
    if options.keep:
        console.print(f"  export KUBECONFIG={report.kubeconfig}\n"
                      f"  .venv/bin/diffusion status -n {options.namespace}\n"
                      f"  kubectl get diffusionservices,deploy,pods,jobs,servicemonitors -n {options.namespace}\n"
                      f"  Prometheus: {report.prometheus_url}  (nv_inference_queue_duration_us{{model=\"sdxl\"}})\n"
                      "  make demo-down   (or .venv/bin/testbed demo --down) stops everything", highlight=False)
    else:
        console.print(f"  the image: {report.image}; the grid and the photoshoot: "
                      f"{options.out_dir / 'demo-grid.png'}, {options.out_dir / 'demo-photoshoot.png'}\n"
                      "  make demo DEMO_ARGS=--keep   keeps the stack up to explore (then make demo-down)\n"
                      "  docs/cli.md: diffusion generate / loadtest / plan / status", highlight=False)
