"""``testbed up|down|status|env``: the local cluster a person (or ``make demo``) can poke at."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from diffusion_operator.api.gpus import GPU_RESOURCE
from rich.console import Console
from rich.table import Table

from testbed import paths
from testbed.cluster import Cluster
from testbed.demo import DemoOptions, print_summary, run_demo, stop_demo
from testbed.kube import KubeClient
from testbed.pools import DEFAULT_POOLS, EXTRA_POOLS
from testbed.processes import ProcessStartError
from testbed.prometheus import PrometheusMissingError

app = typer.Typer(help="Local Kubernetes test bed: upstream control plane + kwok GPU node pools.",
                  no_args_is_help=True)
console = Console()


@app.command()
def up(
    pool: Annotated[list[str] | None, typer.Option(help=f"extra pool to add: {', '.join(EXTRA_POOLS)}")] = None,
    real_node: Annotated[bool, typer.Option(help="also start the real kubelet node (containerd, runc, CNI)")] = True,
) -> None:
    """Start the cluster (idempotent) and print where it is."""
    pools = list(DEFAULT_POOLS)
    for name in pool or []:
        if name not in EXTRA_POOLS:
            raise typer.BadParameter(f"unknown pool {name!r}; known: {', '.join(EXTRA_POOLS)}", param_hint="--pool")
        pools.append(EXTRA_POOLS[name])
    started = time.monotonic()
    cluster = Cluster()
    try:
        state = cluster.up(pools, real_node=real_node)
        prometheus_url = cluster.start_prometheus()
    except (ProcessStartError, paths.BinaryMissingError, PrometheusMissingError) as err:
        console.print(f"[red]test bed failed to start:[/red] {err}")
        raise typer.Exit(1) from err
    console.print(f"test bed ready in {time.monotonic() - started:.1f}s: {state.server}")
    if state.real_node:
        console.print(f"real node {cluster.real_node().name} Ready (containerd {cluster.real_node().layout.socket})")
    elif real_node:
        console.print(f"[yellow]no real node:[/yellow] {state.real_node_error}", highlight=False)
    console.print(f"export KUBECONFIG={state.kubeconfig}")
    console.print(f"export PROMETHEUS_URL={prometheus_url}   # scrapes {cluster.targets_dir}/*.json")


@app.command()
def down() -> None:
    """Stop every component (and what `demo --keep` left running) and forget the cluster's data."""
    cluster = Cluster()
    stop_demo(cluster, remove_from_cluster=False)  # its pods and objects go with the cluster
    cluster.down()
    console.print("test bed stopped")


@app.command()
def status() -> None:
    """Which components run, and the nodes kwok keeps Ready."""
    cluster = Cluster()
    table = Table("component", "running", "pid")
    for name, alive in cluster.running().items():
        table.add_row(name, "yes" if alive else "no", str(cluster.process(name).pid() or "-"))
    prometheus = cluster.prometheus()
    table.add_row("prometheus", "yes" if prometheus.process.alive() else "no",
                  str(prometheus.process.pid() or "-"))
    console.print(table)
    if not cluster.healthy():
        console.print("cluster: [yellow]not running[/yellow] (testbed up)")
        raise typer.Exit(1)

    kube = KubeClient(cluster.kubeconfig)
    nodes = Table("node", "pool", "gpu", "ready")
    for node in kube.items("v1", "Node"):
        ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "?")
        nodes.add_row(
            node.metadata.name,
            (node.metadata.labels or {}).get("cloud.google.com/gke-nodepool", "-"),
            (node.status.capacity or {}).get(GPU_RESOURCE, "0"),
            ready,
        )
    console.print(nodes)


@app.command()
def env(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Shell exports for this test bed (eval "$(testbed env)")."""
    cluster = Cluster()
    if cluster.state is None:
        console.print("test bed is not running (testbed up)", style="red")
        raise typer.Exit(1)
    values = {"KUBECONFIG": str(cluster.kubeconfig), "TESTBED_SERVER": cluster.state.server}
    prom = cluster.state_dir / "prometheus.url"
    if prom.exists():
        values["PROMETHEUS_URL"] = prom.read_text().strip()
    if as_json:
        print(json.dumps(values))
    else:
        for key, value in values.items():
            print(f"export {key}={value}")


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="leave everything running (make demo-down stops it)")] = False,
    ci: Annotated[bool, typer.Option("--ci", envvar="CI", help="shorter load and windows, same path (CI=1)")] = False,
    down_only: Annotated[bool, typer.Option("--down", help="stop what `demo --keep` left running, and the cluster")]
    = False,
    out: Annotated[Path, typer.Option(help="where the image and demo-summary.json go")] = Path("out"),
) -> None:
    """The main job, in pods on the real node: chart -> sample -> build Job -> Triton -> image -> load ->
    scale up and down; see testbed/demo/."""
    if down_only:
        cluster = Cluster()
        stopped = stop_demo(cluster, remove_from_cluster=False)
        cluster.down()
        console.print(f"stopped {', '.join(stopped) or 'no demo processes'} and the test bed")
        return
    options = DemoOptions(keep=keep, ci=ci, out_dir=out)
    try:
        report = run_demo(options, console)
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted[/yellow] (what it started has been stopped unless --keep)")
        raise typer.Exit(130) from None
    except Exception as err:  # a demo is a show, not a debugger: one line, and where the details are
        details = out / "demo-error.log"
        out.mkdir(parents=True, exist_ok=True)
        details.write_text(f"{type(err).__name__}: {err}\n")
        console.print(f"[red]demo failed:[/red] {type(err).__name__}: {str(err).splitlines()[0][:500]}",
                      highlight=False)
        console.print(f"details (pods, events, log tails): {details}; logs: {Cluster().state_dir / 'logs'}",
                      highlight=False)
        raise typer.Exit(1) from None
    print_summary(report, options, console)
    report.write(out)
    problems = [what for what, ok in (("no image", report.image), ("no scale-up seen", report.scaled_up),
                                      ("no scale-down seen", report.scaled_down),
                                      ("failed requests", not report.load.get("errors"))) if not ok]
    if problems:
        console.print("[red]demo incomplete:[/red] " + ", ".join(problems))
        raise typer.Exit(1)
