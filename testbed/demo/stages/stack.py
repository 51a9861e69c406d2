"""Stages 1-3: the test bed with its real node, Prometheus following ServiceMonitors, the operator by Helm."""

from __future__ import annotations

import shutil

from testbed.demo.context import Demo
from testbed.demo.helm import Helm, HelmError
from testbed.demo.manifests import CHART, apply_product_crds, chart_values, fresh_namespace, values_yaml
from testbed.demo.monitoring import install_service_monitor_crd
from testbed.demo.options import OPERATOR_NAMESPACE, RELEASE
from testbed.demo.watch import wait_until
from testbed.images import RECIPES, ImageBuildError, cached_images, import_images
from testbed.processes import ProcessStartError
from testbed.servicemonitors import CRD as SERVICE_MONITOR_CRD

#: The images the demo's pods run, and the sandbox ("pause") image every pod needs.
PRODUCT_IMAGES = tuple(r.name for r in RECIPES if r.name != "pause")
NODE_IMAGES = tuple(r.name for r in RECIPES)


class DemoSetupError(RuntimeError):
    """The demo cannot run here; the message says what to do."""


def test_bed(demo: Demo, reused: bool, leftovers: list[str]) -> None:
    """The cluster with its real node (started, or reused as it is) and the product's images on it.

    ``leftovers``: what a previous ``--keep`` (or killed) run had left and was just removed.
    """
    missing = [name for name in PRODUCT_IMAGES if name not in cached_images()]
    if missing:
        raise DemoSetupError(f"the product's images are not built ({', '.join(missing)}): run `make images`")
    with demo.stages.step("test bed + real node", "reused the running test bed" if reused else "") as notes:
        if reused and demo.cluster.state is not None and not demo.cluster.state.real_node:
            # Restarting someone's running test bed to add the node would pull it from under them.
            raise DemoSetupError("the running test bed has no real node "
                                 f"({demo.cluster.state.real_node_error or 'started without it'}); "
                                 "`testbed down`, then `testbed up`")
        try:
            state = demo.cluster.up(real_node=True)
        except ProcessStartError as err:  # free_port() races other test beds on a busy box: once more
            if reused:
                raise
            notes.append(f"retried after: {str(err).splitlines()[0]}")
            demo.cluster.down()
            state = demo.cluster.up(real_node=True)
        if not state.real_node:
            raise DemoSetupError(f"no real node on this machine: {state.real_node_error}")
        node = demo.cluster.real_node()
        _wait_without_pressure(demo, node.name)
        # A reused node may hold older builds, and its kubelet's image GC under disk pressure deletes
        # images no container uses (the sandbox image included): bring in what is missing or changed.
        try:
            imported = import_images("ctr", node.layout.socket, names=NODE_IMAGES)
        except ImageBuildError as err:
            raise DemoSetupError(str(err)) from err
        apply_product_crds(demo.kube)
        demo.report.kubeconfig = str(demo.cluster.kubeconfig)
        notes.append(f"apiserver {state.server}; node {node.name} runs containerd + kubelet")
        if leftovers:
            notes.append(f"removed what an earlier run left: {', '.join(leftovers)}")
        notes.append(f"imported {', '.join(imported)}" if imported else "images already on the node")


#: The kubelet keeps a pressure condition (and its NoSchedule taint) for evictionPressureTransitionPeriod
#: (5 min by default) after the pressure ends: wait that out rather than fail on a busy machine.
PRESSURE_WAIT_S = 330


def _pressures(demo: Demo, node: str) -> list[str]:
    found = demo.kube.get("v1", "Node", node)
    conditions = (found.status.conditions or []) if found is not None else []
    return [c.type for c in conditions if c.type.endswith("Pressure") and c.status == "True"]


def _wait_without_pressure(demo: Demo, node: str) -> None:
    """A node under DiskPressure (or memory/PID pressure) is tainted NoSchedule: the demo's pods would
    wait Pending. Say so, wait for it to clear, or fail with the reason."""
    pressures = _pressures(demo, node)
    if not pressures:
        return
    free = shutil.disk_usage(demo.cluster.state_dir)
    demo.stages.say(f"[yellow]node {node} reports {', '.join(pressures)}[/yellow] (disk: {free.free / 2**30:.0f} GiB "
                    f"free); waiting up to {PRESSURE_WAIT_S}s for the kubelet to lift its NoSchedule taint")
    if not wait_until(lambda: not _pressures(demo, node), PRESSURE_WAIT_S, interval=5):
        raise DemoSetupError(f"node {node} still reports {', '.join(_pressures(demo, node))}: its pods cannot "
                             f"be scheduled (free disk {free.free / 2**30:.0f} GiB; the kubelet's eviction "
                             "thresholds are in testbed/realnode/kubelet.py)")


def monitoring(demo: Demo) -> None:
    """The ServiceMonitor CRD (before the operator starts: it renders monitors only where the kind is
    served), then the demo's Prometheus and the translator that follows the monitors."""
    with demo.stages.step("prometheus (kubernetes SD via ServiceMonitors)") as notes:
        if install_service_monitor_crd(demo.kube):
            demo.remember(crd=SERVICE_MONITOR_CRD["metadata"]["name"])
            notes.append("ServiceMonitor CRD installed")
        url = demo.report.prometheus_url = demo.monitoring.start([demo.ns, OPERATOR_NAMESPACE])
        for process in (demo.monitoring.prometheus.process, demo.monitoring.translator):
            demo.remember_process(process.name, process.pid())
        notes.append(f"{url}, following the ServiceMonitors in {demo.ns} and {OPERATOR_NAMESPACE} "
                     f"(endpointslice SD at {demo.cluster.state.server if demo.cluster.state else '?'})")


def operator(demo: Demo) -> None:
    """``helm install`` the chart: the operator runs as a pod on the real node with the chart's RBAC."""
    kube = demo.kube
    with demo.stages.step("operator (helm install, a pod on the real node)") as notes:
        fresh_namespace(kube, demo.ns)  # its Role comes with the release: the namespace must exist first
        demo.remember(namespace=demo.ns)
        if kube.get("v1", "Namespace", OPERATOR_NAMESPACE) is None:
            demo.remember(namespace=OPERATOR_NAMESPACE)
        assert demo.report.prometheus_url is not None
        values = demo.cluster.state_dir / "demo" / "values.yaml"
        values.parent.mkdir(parents=True, exist_ok=True)
        values.write_text(values_yaml(chart_values(demo.report.prometheus_url, demo.ns)))
        helm = Helm(demo.cluster.kubeconfig, demo.cluster.state_dir / "demo" / "helm")
        demo.remember(release=(OPERATOR_NAMESPACE, RELEASE))
        try:
            helm.install(RELEASE, CHART, OPERATOR_NAMESPACE, values, wait_s=180)
        except HelmError as err:
            raise HelmError(f"{err}\n{demo.diagnostics()}") from None
        [pod] = demo.pods(OPERATOR_NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")
        image = pod.status.container_statuses[0].image if pod.status.container_statuses else "?"
        demo.report.operator_pod = {"pod": pod.metadata.name, "node": pod.spec.node_name, "image": image,
                                    "service_account": pod.spec.service_account_name}
        notes.append(f"release {OPERATOR_NAMESPACE}/{RELEASE}: pod {pod.metadata.name} on {pod.spec.node_name} "
                     f"({image}) as ServiceAccount {pod.spec.service_account_name}, watching {demo.ns}")
        demo.stages.say(f"values: {values} (helm install {RELEASE} charts/diffusion-operator "
                        f"-n {OPERATOR_NAMESPACE} -f {values})")
