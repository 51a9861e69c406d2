"""Load: hundreds of DiffusionServices created, edited, deleted and re-created at once.

Expectation: no lost update (every surviving service's Deployment carries its *last* edit and its
status observed its last generation), every deleted service's children are gone, and the operator's
memory stays bounded. Services run at ``replicas: 0`` so the test bed's three fake GPUs are not the
limit: what is measured is the operator and the API server, not the scheduler. All 1,000 share one
engine key, the hardest case for the shared build: its owners are capped (``MAX_BUILD_OWNERS``) and
the rest follow it. ``FAULTS_CHURN_SERVICES`` sets the count: 400 in ``make test`` (6 minutes at
1,000 on 2 cores was a tenth of its budget), 1,000 in ``make faults``, whose figures are the ones
reported; ``FAULTS_CHURN_ENGINE_KEYS`` the number of keys they spread over (default 1).
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from diffusion_operator.reconcile.owners import MAX_BUILD_OWNERS

from testbed.kube import KubeClient
from tests.e2e.faults.support import Figures
from tests.e2e.support import API, service, start_operator

COUNT = int(os.environ.get("FAULTS_CHURN_SERVICES", "400"))
ENGINE_KEYS = int(os.environ.get("FAULTS_CHURN_ENGINE_KEYS", "1"))
#: Peak resident memory the operator may reach at 1,000 services (measured ~170 MB at 1000 Ready services).
RSS_LIMIT_MB = 400


def steps_of(deployment) -> int | None:
    env = deployment.spec.template.spec.containers[0].env or []
    return next((int(e.value) for e in env if e.name == "SDXL_DEFAULT_STEPS"), None)


class PeakRss:
    """Samples a process's resident memory twice a second in a thread; ``peak_mb`` is the maximum."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.cpu_start = sum(self.process.cpu_times()[:2])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20

    def cpu_seconds(self) -> float:
        return sum(self.process.cpu_times()[:2]) - self.cpu_start

    def stop(self) -> None:
        self._stop.set()


class Churn:
    """The user side: what each service's steps should end as (None: deleted)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace
        self.rng = random.Random(8)
        self.want: dict[str, int | None] = {}
        self.resource = kube.resource(API, "DiffusionService")

    def create(self, name: str, steps: int) -> None:
        width = 512 + 48 * (int(name.rsplit("-", 1)[1]) % ENGINE_KEYS)  # the engine key this service shares
        self.kube.create(service(name, self.namespace, replicas=0, pipeline={"steps": steps},
                                 engine={"resolutions": [{"width": width, "height": 1024}]}))
        self.want[name] = steps

    def edit(self, name: str) -> None:
        for _ in range(3):  # three edits in a row: only the last may survive
            steps = self.rng.randint(1, 150)
            self.resource.patch(name=name, namespace=self.namespace, content_type="application/merge-patch+json",
                                body={"spec": {"pipeline": {"steps": steps}}})
            self.want[name] = steps

    def delete(self, name: str) -> None:
        self.kube.delete(API, "DiffusionService", name, self.namespace)
        self.want[name] = None

    def recreate(self, name: str) -> None:
        """Same name, new object: once the operator's finalizer has let the old one go."""
        self.kube.wait_gone(API, "DiffusionService", name, self.namespace, timeout=600)
        self.create(name, 77)

    def problems(self) -> list[str]:
        objects = {o.metadata.name: o for o in self.kube.items(API, "DiffusionService", self.namespace)}
        deployments = {d.metadata.name: d for d in self.kube.items("apps/v1", "Deployment", self.namespace)}
        found = []
        for name, steps in self.want.items():
            obj, deployment = objects.get(name), deployments.get(name)
            if steps is None:
                if obj is not None or deployment is not None:
                    found.append(f"{name}: deleted but still present")
            elif obj is None or deployment is None:
                found.append(f"{name}: missing object or Deployment")
            elif (obj.to_dict().get("status") or {}).get("observedGeneration") != obj.metadata.generation:
                found.append(f"{name}: generation {obj.metadata.generation} not observed")
            elif steps_of(deployment) != steps:
                found.append(f"{name}: steps {steps_of(deployment)} != {steps} (lost update)")
        return found


def test_hundreds_of_services_with_churn_converge_with_no_lost_update_and_bounded_memory(
        cluster, kube: KubeClient, namespace: str, crds: None, figures: Figures):
    operator = start_operator(cluster, namespace, DIFFUSION_RESYNC_INTERVAL_SECONDS="300")
    pid = operator.process.pid()
    assert pid is not None
    memory = PeakRss(pid)
    churn = Churn(kube, namespace)
    names = [f"svc-{i:04d}" for i in range(COUNT)]
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: churn.create(n, 30), names))
            edited = churn.rng.sample(names, COUNT // 2)
            deleted = churn.rng.sample(sorted(set(names) - set(edited)), COUNT // 5)
            list(pool.map(churn.edit, edited))
            list(pool.map(churn.delete, deleted))
            recreated = deleted[: len(deleted) // 2]
            list(pool.map(churn.recreate, recreated))
        churned_s = time.monotonic() - started
        deadline = time.monotonic() + 600
        while (problems := churn.problems()) and time.monotonic() < deadline:
            time.sleep(2)
        converged_s = time.monotonic() - started
        assert not problems, f"{len(problems)} services did not converge, e.g. {problems[:5]}"
        assert sum(steps is not None for steps in churn.want.values()) == COUNT - len(deleted) + len(recreated)
        assert operator.process.alive()
        build_owners = [len(job.metadata.ownerReferences or []) for job in kube.items("batch/v1", "Job", namespace)]
        assert build_owners and max(build_owners) <= MAX_BUILD_OWNERS, build_owners
        assert memory.peak_mb < RSS_LIMIT_MB, f"operator peak RSS {memory.peak_mb:.0f} MB"
        summary = {"services": COUNT, "engine_keys": ENGINE_KEYS, "max_build_owners": max(build_owners),
                   "edits": 3 * len(edited), "deletes": len(deleted),
                   "recreates": len(recreated), "churn_applied_s": round(churned_s, 1),
                   "converged_s": round(converged_s, 1), "operator_peak_rss_mb": round(memory.peak_mb, 1),
                   "operator_cpu_s": round(memory.cpu_seconds(), 1)}
        figures.record("churn", **summary)
        print(summary)
    finally:
        memory.stop()
        operator.stop()
