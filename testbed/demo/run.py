"""The demo from start to summary, and its cleanup (also on errors and Ctrl-C, unless ``--keep``)."""

from __future__ import annotations

import time

from diffusion_operator.render.names import selector_string
from rich.console import Console

from testbed.demo.context import Demo
from testbed.demo.footprint import stop_demo
from testbed.demo.options import SERVICE, DemoOptions
from testbed.demo.report import DemoReport
from testbed.demo.stages import gallery, service, stack, traffic
from testbed.demo.stages.service import base_request
from testbed.demo.watch import PodTracker


def run_demo(options: DemoOptions, console: Console) -> DemoReport:
    demo = Demo(options, console)
    started = time.monotonic()
    reused = demo.cluster.healthy()
    # A previous --keep (or killed) run must not answer for this one.
    leftovers = stop_demo(demo.cluster, remove_from_cluster=reused)
    try:
        stack.test_bed(demo, reused, leftovers)
        stack.monitoring(demo)
        stack.operator(demo)
        with PodTracker(demo.kube, demo.ns, selector_string(SERVICE), base_request()) as tracker:
            service.apply_and_build(demo)
            service.serve(demo, tracker)
            gallery.gallery(demo)
            traffic.load_and_scale(demo, tracker)
    finally:
        demo.report.wall_s = round(time.monotonic() - started, 1)
        if not options.keep:
            teardown(demo, reused)
    return demo.report


def teardown(demo: Demo, reused: bool) -> None:
    """A reused test bed stays up with only what the demo added removed; one the demo started goes."""
    with demo.console.status("removing what the demo added ..."):
        started = time.monotonic()
        removed: list[str] = []
        try:
            removed = stop_demo(demo.cluster, remove_from_cluster=reused)
        except Exception as err:  # a cleanup error must not hide the demo's own result: say it, go on
            demo.console.print(f"[yellow]cleanup:[/yellow] {type(err).__name__}: {err}", highlight=False)
        if not reused:
            demo.cluster.down()
            removed.append("the test bed")
    demo.console.print(f"[dim]cleanup ({time.monotonic() - started:.1f}s): {', '.join(removed) or 'nothing'}[/dim]",
                       highlight=False)
