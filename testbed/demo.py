"""``testbed demo`` (``make demo``): one DiffusionService from sample to autoscaled load, on this machine.

The test bed's GPU nodes are kwok's: pods there are scheduled and marked Running, but no container
runs. Two real processes stand in for what a GPU node would run, and the demo says so as it goes:

- the engine build Job: ``engine-builder build`` runs here, on CPU, with the exact plan the operator
  rendered into the Job's plan ConfigMap (same cache key);
- the Triton pod: a real CPU ``tritonserver`` serves the built repository, and Prometheus scrapes it
  with the labels of the service's first pod, so the operator's autoscaler reads it as that pod.

Then an image is generated with the ``diffusion`` CLI's own code, an open-loop load makes the
autoscaler scale up, and once the load stops it scales back down. Every process the demo starts is a
``ManagedProcess`` in the test bed's state dir (``demo-*``), so ``testbed demo --down`` finds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from diffusion_operator.client.endpoints import endpoint_from_status
from diffusion_operator.client.generate import generate_png
from diffusion_operator.client.loadtest import measure_capacity, run_load
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.traces import arrival_schedule
from diffusion_operator.render.names import SERVICE_METRIC_LABEL
from google.protobuf import text_format
from rich.console import Console
from rich.table import Table
from tritonclient.grpc import model_config_pb2

from engine_builder.layout import MODEL_REPOSITORY_DIR, PLAN_FILE, TEXT2IMAGE_MODEL
from testbed.cluster import Cluster
from testbed.kube import KubeClient, condition
from testbed.operator_process import OperatorProcess
from testbed.paths import REPO_ROOT, cache_root
from testbed.processes import ManagedProcess, ProcessStartError
from testbed.prometheus import write_targets
from testbed.triton import TritonServer

API = "diffusion.dev/v1alpha1"
SAMPLE = REPO_ROOT / "manifests" / "samples" / "builtin-tiny.yaml"
CRD_DIR = REPO_ROOT / "manifests" / "crds"
FIELD_MANAGER = "testbed-demo"
#: Every process the demo starts is named with this prefix in the state dir's pids/ folder.
PROCESS_PREFIX = "demo-"
PROCESSES = ("demo-triton", "demo-operator")
#: The file_sd targets file that makes the test bed's Prometheus scrape the demo's Triton.
TARGETS_NAME = "demo-triton"
#: Engine builds for the demo, keyed by cache key (a second run with the same plan is a cache hit).
ENGINE_CACHE = "demo-engines"
#: Small images keep a request ~0.1-0.3 s on 2 shared CPU cores; the pipeline is the real one.
IMAGE_SIZE = 128
IMAGE_STEPS = 2
#: Offered load relative to the measured capacity: over 1 so a queue builds, low enough to drain fast.
OVERLOAD = 1.25
MAX_RATE = 30.0


@dataclass(frozen=True)
class DemoOptions:
    keep: bool = False
    ci: bool = False
    namespace: str = "demo"
    out_dir: Path = Path("out")
    state_dir: Path | None = None

    @property
    def load_seconds(self) -> float:
        return 12.0 if self.ci else 24.0

    @property
    def scale_down_window_s(self) -> int:
        return 6 if self.ci else 15

    @property
    def scale_timeout_s(self) -> float:
        return 90.0 if self.ci else 150.0


@dataclass
class DemoReport:
    """What happened, for the summary table and ``out/demo-summary.json`` (the e2e test reads it)."""

    stages: list[tuple[str, float, str]] = field(default_factory=list)
    phase: str | None = None
    cache_key: str | None = None
    build_status: str | None = None
    image: str | None = None
    image_seconds: float | None = None
    load: dict[str, Any] = field(default_factory=dict)
    replicas_timeline: list[tuple[float, int]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    #: ``status.autoscaling.lastDecisionReason`` and the scaling conditions at the end (why it did what it did).
    last_decision: str | None = None
    scaling_conditions: list[str] = field(default_factory=list)
    scaled_up: bool = False
    scaled_down: bool = False
    operator_restarts: int = 0
    kubeconfig: str | None = None
    prometheus_url: str | None = None
    #: Process ids the demo started (so a test can check that they are gone afterwards).
    pids: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
        seconds = time.monotonic() - started
        text = "; ".join(n for n in notes if n)
        self.report.stages.append((name, round(seconds, 2), text))
        self.console.print(f"[green]✓[/green] {name} [dim]({seconds:.1f}s)[/dim] {text}", highlight=False)


def stop_demo_processes(state_dir: Path) -> list[str]:
    """Stop every ``demo-*`` process recorded in ``state_dir`` (what ``--keep`` left running).

    The test bed's Prometheus is the cluster's, not the demo's: only the demo's scrape target goes.
    """
    (state_dir / "scrape-targets" / f"{TARGETS_NAME}.json").unlink(missing_ok=True)
    stopped = []
    pids = state_dir / "pids"
    names = sorted(p.stem for p in pids.glob(f"{PROCESS_PREFIX}*.pid")) if pids.is_dir() else []
    for name in [n for n in PROCESSES if n in names] + [n for n in names if n not in PROCESSES]:
        process = ManagedProcess(name, state_dir)
        if process.alive():
            stopped.append(name)
        process.stop(grace=15)
    return stopped


def apply_crds(kube: KubeClient) -> None:
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            kube.apply(crd, field_manager=FIELD_MANAGER)
            kube.wait_for("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd["metadata"]["name"], None,
                          lambda c: condition(c, "Established") == "True", what="Established")
    kube.dynamic.resources.invalidate_cache()


def demo_service(namespace: str, prometheus_url: str, scale_down_window_s: int) -> dict[str, Any]:
    """The builtin tiny sample, with this Prometheus and a short scale-down window (minutes, not hours)."""
    manifest: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    manifest["metadata"]["namespace"] = namespace
    autoscaling = manifest["spec"]["autoscaling"]
    autoscaling["prometheus"] = {"url": prometheus_url}
    autoscaling["scaleDown"] = {"stabilizationWindowSeconds": scale_down_window_s,
                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 5}]}
    return manifest


def fresh_namespace(kube: KubeClient, namespace: str) -> None:
    if kube.get("v1", "Namespace", namespace) is not None:
        kube.delete("v1", "Namespace", namespace)
        kube.wait_gone("v1", "Namespace", namespace, None, timeout=90)
    kube.create_namespace(namespace, {"app.kubernetes.io/part-of": "testbed-demo"})


def build_locally(plan_text: str, work: Path, on_progress: Callable[[str], None]) -> dict[str, Any]:
    """``engine-builder build`` on this machine with the Job's plan; returns its JSON summary."""
    work.mkdir(parents=True, exist_ok=True)
    plan_path = work / PLAN_FILE
    plan_path.write_text(plan_text)
    out = cache_root() / ENGINE_CACHE
    command = [sys.executable, "-m", "engine_builder.cli", "build", "--plan", str(plan_path), "--out", str(out),
               "--termination-log", str(work / "termination-log")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                          env={"OMP_NUM_THREADS": "2", **_env()}) as proc:
        assert proc.stderr is not None and proc.stdout is not None
        log = []
        for line in proc.stderr:
            log.append(line)
            if "progress stage=" in line:
                on_progress(line.split("progress ", 1)[1].strip())
        stdout = proc.stdout.read()
        proc.wait()
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"engine-builder exited {proc.returncode}:\n{''.join(log[-30:])}{stdout[-2000:]}")
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def _env() -> dict[str, str]:
    return dict(os.environ)


class ReplicaWatch:
    """Polls the Deployment's ``spec.replicas`` (what the autoscaler writes) in the background."""

    def __init__(self, kube: KubeClient, name: str, namespace: str, started: float) -> None:
        self.kube, self.name, self.namespace, self.started = kube, name, namespace, started
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="replica-watch")

    def __enter__(self) -> ReplicaWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def current(self) -> int | None:
        return self.timeline[-1][1] if self.timeline else None

    @property
    def peak(self) -> int:
        return max((r for _, r in self.timeline), default=0)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                deployment = self.kube.get("apps/v1", "Deployment", self.name, self.namespace)
                replicas = int(deployment.spec.replicas) if deployment is not None else None
                if replicas is not None and replicas != self.current:
                    self.timeline.append((round(time.monotonic() - self.started, 1), replicas))
            self._stop.wait(0.5)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def sdxl_instances(repository: Path) -> int:
    """Instances of the ``sdxl`` BLS model (= pipelines that run at once) from its config.pbtxt."""
    text = (repository / TEXT2IMAGE_MODEL / "config.pbtxt").read_text()
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    return max(1, sum(group.count for group in config.instance_group))


def scale_events(kube: KubeClient, namespace: str, name: str) -> list[str]:
    return [line for line in kube.events_for(namespace, name) if " ScaledUp " in line or " ScaledDown " in line]


class Demo:
    """The demo's steps, in order; each is timed and leaves what the next needs on ``self``."""

    name = "tiny"

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options, self.console = options, console
        self.report = DemoReport()
        self.stages = Stages(console, self.report)
        self.cluster = Cluster(options.state_dir)
        self.ns = options.namespace
        self.kube: KubeClient | None = None
        self.service: dict[str, Any] = {}
        self.triton: TritonServer | None = None
        self.repository: Path | None = None
        self.pod = ""
        self.started_prometheus = False
        self.operator: OperatorProcess | None = None

    def _kube(self) -> KubeClient:
        assert self.kube is not None, "the test bed is not up yet"
        return self.kube

    def _get(self, api_version: str, kind: str, name: str) -> Any:
        obj = self._kube().get(api_version, kind, name, self.ns)
        if obj is None:
            raise RuntimeError(f"{kind} {self.ns}/{name} disappeared")
        return obj

    def start_stack(self, reused: bool) -> None:
        with self.stages.step("test bed", "reused the running cluster" if reused else "") as notes:
            try:
                state = self.cluster.up()
            except ProcessStartError as err:  # free_port() races other test beds on a busy box: retry once
                notes.append(f"retried after: {str(err).splitlines()[0]}")
                self.cluster.down()
                state = self.cluster.up()
            self.kube = kube = KubeClient(self.cluster.kubeconfig)
            apply_crds(kube)
            l4 = [n for n in kube.items("v1", "Node")
                  if (n.metadata.labels or {}).get("cloud.google.com/gke-accelerator") == "nvidia-l4"]
            notes.append(f"apiserver {state.server}, {len(l4)} kwok L4 nodes")
            self.report.kubeconfig = str(self.cluster.kubeconfig)
        with self.stages.step("prometheus + operator") as notes:
            self.started_prometheus = not self.cluster.prometheus().process.alive()
            url = self.report.prometheus_url = self.cluster.start_prometheus()
            self.operator = operator = OperatorProcess(
                self.cluster.state_dir, self.cluster.kubeconfig, name="demo-operator",
                env={"DIFFUSION_BUILD_BACKEND": "onnxruntime", "DIFFUSION_PROMETHEUS_URL": url,
                     "DIFFUSION_AUTOSCALE_INTERVAL_SECONDS": "2", "DIFFUSION_METRICS_WINDOW_SECONDS": "10",
                     "DIFFUSION_QUEUE_MODEL": TEXT2IMAGE_MODEL, "DIFFUSION_RESYNC_INTERVAL_SECONDS": "30"},
                extra_args=[f"--namespace={self.ns}"])
            fresh_namespace(kube, self.ns)
            operator.start()
            self._remember(operator.process)
            notes.append(f"test bed's prometheus {url}; operator (a process) watches namespace {self.ns}, "
                         "autoscales every 2s")

    def apply_sample(self) -> tuple[str, str]:
        """Apply the sample; return the Job's plan (plan.json text) and its ConfigMap's name."""
        kube = self._kube()
        assert self.report.prometheus_url is not None
        with self.stages.step("apply builtin-tiny sample") as notes:
            kube.apply(demo_service(self.ns, self.report.prometheus_url, self.options.scale_down_window_s),
                       field_manager=FIELD_MANAGER)
            obj = kube.wait_for(API, "DiffusionService", self.name, self.ns,
                                lambda o: bool(((o.to_dict().get("status") or {}).get("engine") or {}).get("jobName")),
                                timeout=60, what="an engine build Job")
            engine = obj.to_dict()["status"]["engine"]
            self.report.cache_key = engine["cacheKey"]
            job = self._get("batch/v1", "Job", engine["jobName"]).to_dict()
            plan_map = next(v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"]
                            if v["name"] == "plan")
            plan_text = str(self._get("v1", "ConfigMap", plan_map).data[PLAN_FILE])
            notes.append(f"Job {engine['jobName']} for engine {self.report.cache_key}")
        node = self._job_node(engine["jobName"])
        self.console.print(f"  [yellow]note:[/yellow] the build Job's pod is on {node}, a kwok fake node: no "
                           "container runs there (kwok only marks it Succeeded). The same plan (ConfigMap "
                           f"{plan_map}) is built here instead, on CPU, by `engine-builder build`.", highlight=False)
        return plan_text, plan_map

    def operator_alive(self) -> bool:
        """True while the operator runs; if it has died, restart it once and say so.

        On a busy 2-core box with 32768 pids, a stale pid file elsewhere has been seen to SIGTERM it.
        A restart is safe by design: the autoscaler's history lives in the object's status.
        """
        if self.operator is None or self.operator.process.alive():
            return True
        self.console.print("  [yellow]note:[/yellow] the operator process exited "
                           f"(see {self.operator.process.log_path}); restarting it", highlight=False)
        self.operator.start()
        self._remember(self.operator.process)
        self.report.operator_restarts += 1
        return self.operator.process.alive()

    def _remember(self, process: ManagedProcess) -> None:
        pid = process.pid()
        if pid is not None:
            self.report.pids[process.name] = pid

    def _job_node(self, job: str, timeout: float = 15) -> str:
        """The node the build Job's pod was scheduled to (the scheduler needs a moment)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pod in self._kube().items("v1", "Pod", self.ns, label_selector=f"job-name={job}"):
                if pod.spec.nodeName:  # the dynamic client keeps the API's camelCase keys
                    return str(pod.spec.nodeName)
            time.sleep(0.3)
        return "a kwok L4 node"

    def build_engine(self, plan_text: str) -> None:
        with self.stages.step("engine build (local, CPU)") as notes:
            summary = build_locally(plan_text, self.cluster.state_dir / "demo-build",
                                    self._progress)
            self.report.build_status = summary.get("status")
            if summary.get("cache_key") != self.report.cache_key:
                raise RuntimeError(f"local build key {summary.get('cache_key')} != the Job's {self.report.cache_key}")
            self.repository = Path(summary["path"]) / MODEL_REPOSITORY_DIR
            notes.append(f"{summary['status']} {summary['cache_key']} in {summary.get('seconds', 0):.1f}s")

    def _progress(self, line: str) -> None:
        """``stage=export pct=55 done in 6.2s`` -> one short line per finished builder stage."""
        if " done in " in line:
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            self.console.print(f"    engine-builder {fields.get('stage', '?')}: {line.split(' done in ', 1)[1]}",
                               highlight=False)

    def serve(self) -> None:
        """Wait for Ready, then start the real Triton and have Prometheus scrape it as the service's pod."""
        kube = self._kube()
        with self.stages.step("service Ready") as notes:
            obj = kube.wait_for(API, "DiffusionService", self.name, self.ns,
                                lambda o: (o.to_dict().get("status") or {}).get("phase") == "Ready",
                                timeout=120, what="phase Ready")
            self.service = obj.to_dict()
            self.report.phase = "Ready"
            pod = sorted(p.metadata.name for p in kube.items(
                "v1", "Pod", self.ns, label_selector=f"app.kubernetes.io/instance={self.name}"))[0]
            notes.append(f"Deployment {self.name} at 1 replica; its pod {pod} is kwok's")
        with self.stages.step("triton (real, CPU) as that pod") as notes:
            assert self.repository is not None
            self.triton = triton = TritonServer(self.cluster.state_dir, self.repository, name="demo-triton")
            triton.start(timeout=180)
            self._remember(triton.process)
            self.pod = pod
            notes.append(f"http {triton.http_url}, grpc {triton.grpc_url}")

    def scrape_as_pod(self) -> None:
        """From now on Prometheus scrapes the real Triton with the kwok pod's labels (as a ServiceMonitor would)."""
        assert self.triton is not None
        write_targets(self.cluster.targets_dir, TARGETS_NAME,
                      [self.triton.metrics_url.removeprefix("http://").removesuffix("/metrics")],
                      {"namespace": self.ns, "pod": self.pod, SERVICE_METRIC_LABEL: self.name})

    def teardown(self, cluster_was_running: bool) -> None:
        with self.console.status("stopping what the demo started ..."):
            stop_demo_processes(self.cluster.state_dir)
            if cluster_was_running:  # someone else's cluster: remove only what the demo added
                with contextlib.suppress(Exception):
                    KubeClient(self.cluster.kubeconfig).delete("v1", "Namespace", self.ns)
                if self.started_prometheus:
                    self.cluster.prometheus().stop()
            else:
                self.cluster.down()


def run_demo(options: DemoOptions, console: Console) -> DemoReport:
    """The whole demo; tears down what it started unless ``options.keep`` (also on errors and Ctrl-C)."""
    demo = Demo(options, console)
    started = time.monotonic()
    cluster_was_running = demo.cluster.healthy()
    stop_demo_processes(demo.cluster.state_dir)  # a previous --keep run must not answer for this one
    try:
        demo.start_stack(cluster_was_running)
        plan_text, _ = demo.apply_sample()
        demo.build_engine(plan_text)
        demo.serve()
        generate_and_load(demo)
    finally:
        demo.report.wall_s = round(time.monotonic() - started, 1)
        if not options.keep:
            demo.teardown(cluster_was_running)
    return demo.report


def generate_and_load(demo: Demo) -> None:
    """Image through the CLI's code, calibrated open-loop load, then watch replicas go up and down."""
    options, report, stages, kube = demo.options, demo.report, demo.stages, demo._kube()
    assert demo.triton is not None and demo.repository is not None
    status = demo.service["status"]
    in_cluster = status["endpoints"]["http"].removeprefix("http://")
    endpoint = endpoint_from_status(status, "http", demo.name, {in_cluster: demo.triton.http_url})
    base = ImageRequest(prompt="a lighthouse at dusk, oil painting", seed=42, steps=IMAGE_STEPS,
                        width=IMAGE_SIZE, height=IMAGE_SIZE)
    with stages.step("warm up + calibrate (not scraped yet)") as notes:
        instances = sdxl_instances(demo.repository)
        capacity = measure_capacity(endpoint, base, 2 * instances, rounds=2)
        rate = round(min(MAX_RATE, max(2.0, OVERLOAD * capacity)), 1)
        notes.append(f"{capacity:.1f} images/s with {instances} sdxl instances -> step load up to {rate}/s")
    demo.scrape_as_pod()
    with stages.step("generate an image (diffusion CLI code)") as notes:
        image = generate_png(endpoint, base, options.out_dir / "demo-tiny.png")
        report.image, report.image_seconds = str(image.path), round(image.seconds, 3)
        notes.append(f"{image.path} {image.width}x{image.height} seed {image.seed}, via status.endpoints")
    demo.console.print(
        f"  the same by hand: KUBECONFIG={report.kubeconfig} .venv/bin/diffusion generate \"a lighthouse\" "
        f"--service {demo.name} -n {demo.ns} --resolve {in_cluster}={demo.triton.http_url} "
        f"--size {IMAGE_SIZE}x{IMAGE_SIZE} --steps {IMAGE_STEPS} -o out/lighthouse.png", highlight=False)
    with ReplicaWatch(kube, demo.name, demo.ns, time.monotonic()) as watch:
        load_until_scaled(demo, endpoint, base, rate, watch)
        with stages.step("scale up") as notes:
            report.scaled_up = wait_until(lambda: demo.operator_alive() and watch.peak > 1, 30)
            notes.append(f"peak {watch.peak} replicas" if report.scaled_up else "[red]no scale-up seen[/red]")
        with stages.step("scale back down (load stopped)") as notes:
            report.scaled_down = report.scaled_up and wait_until(
                lambda: demo.operator_alive() and watch.current == 1, options.scale_timeout_s)
            notes.append("back at 1 replica" if report.scaled_down else f"still {watch.current} replicas")
        report.replicas_timeline = list(watch.timeline)
    report.decisions = scale_events(kube, demo.ns, demo.name)
    status = demo._get(API, "DiffusionService", demo.name).to_dict().get("status") or {}
    report.phase = status.get("phase")
    report.last_decision = (status.get("autoscaling") or {}).get("lastDecisionReason")
    report.scaling_conditions = [f"{c['type']}={c['status']} {c.get('reason', '')}: {c.get('message', '')}"
                                 for c in status.get("conditions") or []
                                 if c.get("type") in ("ScalingActive", "ScalingLimited", "Fallback")]


def load_until_scaled(demo: Demo, endpoint: Any, base: Any, rate: float, watch: ReplicaWatch) -> None:
    """The step trace at ``rate``; in CI mode it stops 3 s after the first scale-up is seen."""
    options = demo.options
    with demo.stages.step("open-loop load (step trace)") as notes:
        stop = threading.Event()
        arrivals = arrival_schedule("step", rate, options.load_seconds)

        def stop_after_scale_up() -> None:
            if wait_until(lambda: watch.peak > 1 or stop.is_set(), options.load_seconds):
                stop.wait(3)
                stop.set()

        if options.ci:
            threading.Thread(target=stop_after_scale_up, daemon=True).start()
        result = run_load(endpoint, base, arrivals, concurrency=32, sla_s=2.0, stop=stop)
        stop.set()
        s = result.summary
        demo.report.load = {**s.to_json(), "rate": rate, "trace": "step", "scheduled": len(arrivals)}
        notes.append(f"{s.requests} requests, p50 {s.p50_s or 0:.2f}s p95 {s.p95_s or 0:.2f}s, "
                     f"queue share {100 * (s.queue_share or 0):.0f}%, errors {s.errors}")


def print_summary(report: DemoReport, options: DemoOptions, console: Console) -> None:
    stages = Table("stage", "seconds", "what happened", title="make demo", title_justify="left")
    for stage, seconds, note in report.stages:
        stages.add_row(stage, f"{seconds:.1f}", note)
    stages.add_row("[bold]total[/bold]", f"{report.wall_s:.1f}", f"phase {report.phase}, engine {report.cache_key}")
    console.print(stages)
    load = report.load
    if load:
        console.print(f"load: {load['requests']} requests at up to {load['rate']}/s, p50 {load['p50_s'] or 0:.2f}s, "
                      f"p95 {load['p95_s'] or 0:.2f}s, p99 {load['p99_s'] or 0:.2f}s, "
                      f"{load['images_per_s']:.1f} images/s, errors {load['errors']}", highlight=False)
    timeline = ", ".join(f"{r} @ {t:.0f}s" for t, r in report.replicas_timeline)
    console.print(f"replicas (load start = 0s): {timeline or '-'}", highlight=False)
    decisions = Table("scale decisions (Events written by the operator)", title_justify="left")
    for line in report.decisions or ["(none)"]:
        decisions.add_row(line)
    console.print(decisions)
    console.print(f"last decision: {report.last_decision or '-'}", highlight=False)
    if not report.scaled_up:  # say what the autoscaler saw instead
        for line in report.scaling_conditions:
            console.print(f"  {line}", highlight=False)
    console.print("where to look next:")
    if options.keep:
        console.print(f"  export KUBECONFIG={report.kubeconfig}\n"
                      f"  .venv/bin/diffusion status -n {options.namespace}\n"
                      f"  kubectl get diffusionservices,deploy,pods,jobs -n {options.namespace}\n"
                      f"  Prometheus: {report.prometheus_url}  (nv_inference_queue_duration_us{{model=\"sdxl\"}})\n"
                      "  make demo-down   (or .venv/bin/testbed demo --down) stops everything", highlight=False)
    else:
        console.print(f"  the image: {report.image}\n"
                      "  make demo DEMO_ARGS=--keep   keeps the stack up to explore (then make demo-down)\n"
                      "  docs/cli.md: diffusion generate / loadtest / plan / status", highlight=False)
