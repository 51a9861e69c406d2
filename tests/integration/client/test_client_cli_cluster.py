"""``diffusion status`` and ``generate --service`` against the test bed's API server.

No operator runs here: each test writes a DiffusionService and its status the way the operator
does, so what is under test is only how the CLI reads and uses them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from diffusion_operator.client.errors import EXIT_NOT_FOUND, EXIT_UNREACHABLE
from diffusion_operator.client.png import read_png_metadata

from testbed.cluster import Cluster
from testbed.kube import KubeClient
from testbed.triton import TritonServer

API = "diffusion.dev/v1alpha1"


def service(kube: KubeClient, namespace: str, name: str, status: dict | None = None) -> None:
    kube.create({"apiVersion": API, "kind": "DiffusionService", "metadata": {"name": name, "namespace": namespace},
                 "spec": {"model": {"source": "builtin://tiny-sdxl"},
                          "autoscaling": {"enabled": True, "maxReplicas": 3, "queueLatencyTarget": "500ms"}}})
    if status is not None:
        kube.resource(API, "DiffusionService").status.patch(
            body={"status": status}, name=name, namespace=namespace, content_type="application/merge-patch+json")


def ready_status(namespace: str, name: str) -> dict:
    host = f"{name}.{namespace}.svc"
    return {"phase": "Ready", "readyReplicas": 1, "desiredReplicas": 2, "queue": "120ms/500ms",
            "engine": {"state": "Succeeded", "cacheKey": "sdxl-0123456789abcdef"},
            "endpoints": {"http": f"http://{host}:8000", "grpc": f"{host}:8001"}}


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a rich table as stripped cells."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in text.splitlines() if line.startswith("│")]


@pytest.fixture
def env(cluster: Cluster) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig)}


def test_status_lists_services_with_phase_engine_replicas_and_queue(
        kube: KubeClient, namespace: str, diffusion_crd: None, diffusion, env):
    service(kube, namespace, "ready", ready_status(namespace, "ready"))
    service(kube, namespace, "fresh")
    result = diffusion("status", "-n", namespace, env=env)
    assert result.returncode == 0, result.stderr
    lines = {cells[1]: " ".join(cells) for cells in table_rows(result.stdout) if cells[0] == namespace}
    assert set(lines) == {"ready", "fresh"}
    for text in ("Ready", "Succeeded sdxl-0123456789abcdef", "1/2", "120ms/500ms"):
        assert text in lines["ready"]
    assert "Pending" in lines["fresh"] and "-/500ms" in lines["fresh"]
    one = diffusion("status", "ready", "-n", namespace, env=env)
    assert one.returncode == 0 and f"endpoint http: http://ready.{namespace}.svc:8000" in one.stdout
    everywhere = diffusion("status", "-A", env=env)
    assert everywhere.returncode == 0 and namespace in everywhere.stdout


def test_status_of_an_unknown_service_is_exit_4(namespace: str, diffusion_crd: None, diffusion, env):
    result = diffusion("status", "nope", "-n", namespace, env=env)
    assert result.returncode == EXIT_NOT_FOUND
    assert f"diffusionservice {namespace}/nope not found" in result.stderr and "Traceback" not in result.stderr


def test_generate_resolves_the_services_endpoint_from_its_status(
        kube: KubeClient, namespace: str, diffusion_crd: None, tiny_triton: TritonServer, diffusion, env,
        tmp_path: Path):
    service(kube, namespace, "tiny", ready_status(namespace, "tiny"))
    for protocol, port, real in (("http", 8000, tiny_triton.http_url), ("grpc", 8001, tiny_triton.grpc_url)):
        out = tmp_path / f"{protocol}.png"
        result = diffusion("generate", "a harbour", "--service", "tiny", "-n", namespace, "--protocol", protocol,
                           "--resolve", f"tiny.{namespace}.svc:{port}={real}", "--size", "64x64", "--steps", "2",
                           "--seed", "3", "-o", str(out), env=env)
        assert result.returncode == 0, result.stderr
        assert read_png_metadata(out)["seed"] == "3"


def test_generate_names_what_is_missing_when_the_service_cannot_serve(
        kube: KubeClient, namespace: str, diffusion_crd: None, diffusion, env):
    unknown = diffusion("generate", "x", "--service", "ghost", "-n", namespace, env=env)
    assert unknown.returncode == EXIT_NOT_FOUND and f"{namespace}/ghost not found" in unknown.stderr
    service(kube, namespace, "building", {"phase": "Building"})
    building = diffusion("generate", "x", "--service", "building", "-n", namespace, env=env)
    assert building.returncode == EXIT_NOT_FOUND
    assert "publishes no http endpoint yet (phase Building)" in building.stderr
    service(kube, namespace, "incluster", ready_status(namespace, "incluster"))
    outside = diffusion("generate", "x", "--service", "incluster", "-n", namespace, "--size", "64x64", env=env)
    assert outside.returncode == EXIT_UNREACHABLE  # an in-cluster DNS name does not resolve out here
    assert f"incluster.{namespace}.svc:8000" in outside.stderr and "Traceback" not in outside.stderr


def test_a_cluster_that_is_not_there_is_exit_3(tmp_path: Path, diffusion):
    missing = diffusion("status", env={"KUBECONFIG": str(tmp_path / "nope")})
    assert missing.returncode == EXIT_UNREACHABLE and "kubeconfig" in missing.stderr
    config = tmp_path / "down.kubeconfig"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                      "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                      "current-context: x\n")
    down = diffusion("status", "-n", "default", env={"KUBECONFIG": str(config)})
    assert down.returncode == EXIT_UNREACHABLE and "cannot reach the API server at https://127.0.0.1:1" in down.stderr
