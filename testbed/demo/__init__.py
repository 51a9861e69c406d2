"""``testbed demo`` (``make demo``): one DiffusionService from sample to autoscaled load, all of it in pods.

Nothing runs outside the cluster but what a cluster has around it: the test bed with its real node
(containerd, kubelet), and a Prometheus that follows ServiceMonitors through Kubernetes service
discovery as the Prometheus Operator would make it (testbed/servicemonitors.py). The operator is
installed by its Helm chart and runs as a pod on the real node; it renders the engine build Job, which
runs as a pod from the builder image and writes the repository to the namespace's engine-cache claim;
Triton pods serve it from the serving image; ``diffusion generate`` reaches them through the
Service's ClusterIP; an open-loop load makes the autoscaler add pods, and they take traffic.

Modules, in the order the demo uses them: options (names and paces), manifests (CRDs, chart values,
the sample), helm, monitoring, stages/stack -> stages/service -> stages/traffic, watch and timings
(figures), report (summary), footprint (what to take away: ``--down``, ``testbed down``), run.
"""

from testbed.demo.footprint import stop_demo
from testbed.demo.options import DemoOptions
from testbed.demo.report import DemoReport, print_summary
from testbed.demo.run import run_demo

__all__ = ["DemoOptions", "DemoReport", "print_summary", "run_demo", "stop_demo"]
