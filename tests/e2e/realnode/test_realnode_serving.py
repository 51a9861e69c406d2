"""A DiffusionService on the real node: the build Job and Triton run as containers from the product's
own images, in a namespace enforcing Pod Security ``restricted``, and an image comes back through
the Service.

One service is built once for the module (a real build takes tens of seconds on 2 cores); each test
then checks one thing a user relies on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton_http
from diffusion_operator.client.evaluate import Thresholds, evaluate_service
from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import Endpoint, TritonClient
from diffusion_operator.render.names import engine_job_name, selector_string
from diffusion_operator.render.storage import TRITON_MODEL_REPOSITORY

from engine_builder.quality.metrics import psnr, ssim
from engine_builder.quality.references import read_references
from engine_builder.scenes import checker
from testbed.kube import KubeClient, WaitTimeoutError, condition
from testbed.operator_process import OperatorProcess
from testbed.realnode import RealNode
from testbed.realnode.product import API, IMAGES, tiny_service
from tests.e2e.realnode.support import kube_exec, status_of

SERVICE = "tiny"
#: Build (export + parity + publish) plus Triton's start, on 2 shared cores.
READY_TIMEOUT = 420
#: The service's size (tiny_service) and the pipeline's default guidance. The semantic checks ask for
#: 6 steps, not the service's 2: with 2 steps the pipelines spend most of their time outside the UNet
#: and its batcher merged nothing (16 executions for 16 calls, measured).
SIZE, STEPS, GUIDANCE = 256, 6, 5.0


@pytest.fixture(scope="module")
def ready_service(kube: KubeClient, restricted_namespace: str, realnode_operator: OperatorProcess) -> Iterator[Any]:
    kube.create(tiny_service(SERVICE, restricted_namespace))
    try:
        yield kube.wait_for(API, "DiffusionService", SERVICE, restricted_namespace,
                            lambda o: status_of(o).get("phase") == "Ready", timeout=READY_TIMEOUT, what="Ready")
    except WaitTimeoutError as err:
        raise WaitTimeoutError(f"{err}\n{kube.dump_pods(restricted_namespace)}") from None
    finally:
        kube.delete(API, "DiffusionService", SERVICE, restricted_namespace)  # its GPU goes back to the suite


def pods(kube: KubeClient, namespace: str, selector: str) -> list[Any]:
    return kube.core.list_namespaced_pod(namespace, label_selector=selector).items


def test_the_build_job_ran_as_a_container_on_the_real_node_and_its_summary_reached_status(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, real_node: RealNode):
    engine = status_of(ready_service)["engine"]
    job = engine_job_name(engine["cacheKey"])
    pods = kube.core.list_namespaced_pod(restricted_namespace, label_selector=f"batch.kubernetes.io/job-name={job}")
    [build] = [pod for pod in pods.items if pod.status.phase == "Succeeded"]
    assert build.spec.node_name == real_node.name
    assert build.spec.containers[0].image == IMAGES["engine-builder"]
    terminated = build.status.container_statuses[0].state.terminated
    assert terminated is not None and terminated.exit_code == 0
    summary = json.loads(terminated.message)  # the builder's one-line JSON summary, as the kubelet kept it
    assert summary["cache_key"] == engine["cacheKey"] == engine["servingCacheKey"]
    assert engine["state"] == "Succeeded"
    assert engine["tensorrtVersion"] == summary["tensorrt_version"] == "none"  # the CPU backend builds no engines
    assert engine["computeCapability"] == str(summary["compute_capability"]) == "8.9"  # the L4's, from the plan
    assert engine["message"] == summary["message"]
    assert condition(ready_service, "EngineReady") == "True"


def test_triton_serves_from_the_serving_image_with_the_rendered_mounts_and_probes(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, real_node: RealNode):
    [pod] = pods(kube, restricted_namespace, selector_string(SERVICE))
    assert pod.spec.node_name == real_node.name
    container = pod.status.container_statuses[0]
    assert container.ready and container.image == IMAGES["triton-sdxl"]
    assert container.restart_count == 0  # the startup probe held liveness off while the models loaded
    mounts = kube_exec(kube, restricted_namespace, pod.metadata.name, ["cat", "/proc/self/mounts"])
    shm = next(line for line in mounts.splitlines() if " /dev/shm " in line)
    assert shm.startswith("tmpfs ")  # the Memory-backed emptyDir, not the runtime's 64 MiB default
    repository = next(line for line in mounts.splitlines() if f" {TRITON_MODEL_REPOSITORY} " in line)
    assert repository.split()[3].split(",")[0] == "ro"  # the engine-cache subPath, mounted read-only


def test_an_image_comes_back_through_the_service(kube: KubeClient, restricted_namespace: str, ready_service: Any):
    service = kube.core.read_namespaced_service(SERVICE, restricted_namespace)
    client = TritonClient(Endpoint.parse(f"{service.spec.cluster_ip}:8000"), timeout_s=120)
    try:
        client.check_ready()
        generated = client.generate(ImageRequest(prompt="a lighthouse at dawn", seed=7, width=256, height=256))
    finally:
        client.close()
    assert generated.image.shape == (256, 256, 3)
    assert generated.image.std() > 0  # a real decode of real latents, not a blank canvas
    assert generated.seed == 7


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's prompts rendered by the fp32 diffusers reference at the service's size and steps, with
    each prompt's seed fixing the initial latents (``engine-builder references``, in its own process)."""
    out = tmp_path_factory.mktemp("references")
    subprocess.run([sys.executable, "-m", "engine_builder.cli", "references", "--out", str(out), "--steps", str(STEPS),
                    "--size", str(SIZE), "--guidance", str(GUIDANCE), "--log-level", "WARNING"],
                   check=True, capture_output=True, timeout=300)
    return out


def endpoint_of(kube: KubeClient, namespace: str) -> Endpoint:
    return Endpoint.parse(f"{kube.core.read_namespaced_service(SERVICE, namespace).spec.cluster_ip}:8000")


def test_diffusion_evaluate_finds_the_service_serving_its_fp32_reference(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, references: Path):
    report = evaluate_service(endpoint_of(kube, restricted_namespace), references, Thresholds(), timeout_s=120)
    assert report["verdict"] == "Passed", report
    assert report["scores"]["finite"] and len(report["images"]) == 4


def generate_case(endpoint: Endpoint, case: Any, steps: int, size: int) -> np.ndarray:
    """One prompt-set case (prompt and seed) through the Service, square, at the pipeline's guidance."""
    client = TritonClient(endpoint, timeout_s=120)
    try:
        return client.generate(ImageRequest(prompt=case.prompt, seed=case.seed, steps=steps, width=size,
                                            height=size, guidance_scale=GUIDANCE)).image
    finally:
        client.close()


def unet_counts(endpoint: Endpoint) -> tuple[int, int]:
    """(requests, executions) of the UNet: fewer executions than requests means batched steps."""
    client = triton_http.InferenceServerClient(endpoint.address)
    try:
        [stats] = client.get_inference_statistics("unetxl")["model_stats"]
    finally:
        client.close()
    return int(stats["inference_stats"]["success"]["count"]), int(stats["execution_count"])


def test_concurrent_requests_through_the_batcher_each_get_their_own_seeds_image(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, references: Path):
    """Every prompt twice, all eight at once: the UNet's dynamic batcher merges steps of different
    requests, and each answer must still be its own prompt and seed's reference image (a batching bug
    that swapped latents or embeddings, or an ignored seed, fails here), and a repeated seed must give
    the same image."""
    endpoint = endpoint_of(kube, restricted_namespace)
    _, cases = read_references(references)
    sent = [*cases, *cases]

    def generate(case: Any) -> np.ndarray:
        return generate_case(endpoint, case, STEPS, SIZE)

    def burst() -> tuple[list[np.ndarray], int, int]:
        """All eight at once: the answers, and the UNet's (requests, executions) they caused."""
        before = unet_counts(endpoint)
        with ThreadPoolExecutor(len(sent)) as pool:
            answers = list(pool.map(generate, [case for case, _ in sent]))
        expected = len(sent) * STEPS
        deadline = time.monotonic() + 10  # Triton counts a request just after answering it
        while (counts := unet_counts(endpoint))[0] - before[0] < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        requests, executions = (after - earlier for after, earlier in zip(counts, before, strict=True))
        assert requests == expected  # one guided UNet call per step and image
        return answers, requests, executions

    # The shipped UNet batcher waits 2 ms for company (engine_builder/repository/text2image.py). On a
    # machine whose cores are shared with another test session, eight pipelines can drift further apart
    # than that for a whole burst; whether steps merge is a matter of timing, so up to three bursts may
    # show it. Every burst's answers are checked below.
    bursts = []
    for _ in range(3):
        bursts.append(burst())
        if bursts[-1][2] < bursts[-1][1]:
            break
    print(f"\nUNet (requests, executions) per burst: {[(r, e) for _, r, e in bursts]}")
    assert bursts[-1][2] < bursts[-1][1], "no two images' steps were batched in 3 bursts: the batcher was not exercised"
    for index, answer in ((i, a) for answers, _, _ in bursts for i, a in enumerate(answers)):
        own = sent[index][1]
        assert psnr(answer, own) >= 30.0 and ssim(answer, own) >= 0.95, f"answer {index} is not its reference"
        others = [ref for case, ref in cases if case != sent[index][0]]
        assert all(psnr(answer, ref) < 20.0 for ref in others), f"answer {index} also matches another prompt"
    for answers, _, _ in bursts:
        for first, again in zip(answers[:len(cases)], answers[len(cases):], strict=True):
            assert np.array_equal(first, again)


#: Held-out scenes (combinations training never rendered), two of each kind, at the size and steps the
#: built-in model was trained and scored at (docs/tiny-model.md).
SCENES = ("a large red circle on a white background", "a small blue square on a yellow background",
          "a green triangle left of a red circle on a black background",
          "a yellow circle above a blue square on a purple background")
SCENE_SIZE, SCENE_STEPS, SCENE_SEEDS = 64, 30, range(8)


@pytest.fixture(scope="module")
def drawn_scenes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, np.ndarray]]:
    """For each scene, the first seed whose fp32 reference image the scene checker passes, with that image.

    The model draws its prompt on most seeds, not all (manifest.json: ``evaluation``); choosing seeds by
    the reference keeps the served check exact: the service must give the very image that passed.
    """
    rendered = []
    for seeds in (SCENE_SEEDS[:4], SCENE_SEEDS[4:]):  # the prompt set holds at most 16 (MAX_PROMPTS)
        work = tmp_path_factory.mktemp("scene-references")
        (work / "prompts.json").write_text(json.dumps([{"prompt": p, "seed": s} for p in SCENES for s in seeds]))
        subprocess.run([sys.executable, "-m", "engine_builder.cli", "references", "--out", str(work / "out"),
                        "--prompts", str(work / "prompts.json"), "--steps", str(SCENE_STEPS), "--size",
                        str(SCENE_SIZE), "--guidance", str(GUIDANCE), "--log-level", "WARNING"],
                       check=True, capture_output=True, timeout=300)
        rendered += read_references(work / "out")[1]
    chosen = {}
    for case, image in rendered:
        if case.prompt not in chosen and checker.verdict(case.prompt, image).passed:
            chosen[case.prompt] = (case, image)
    assert set(chosen) == set(SCENES), f"no seed in {SCENE_SEEDS} draws {set(SCENES) - set(chosen)} (reference)"
    return [chosen[prompt] for prompt in SCENES]


def test_concurrent_scene_prompts_each_come_back_drawing_their_own_scene(
        kube: KubeClient, restricted_namespace: str, ready_service: Any, drawn_scenes: list[tuple[Any, np.ndarray]]):
    """Four held-out scenes twice, all at once through the batcher: every answer passes the scene checker
    for its own prompt (a swap between requests would draw another prompt's colours) and is its own
    seed's reference image."""
    endpoint = endpoint_of(kube, restricted_namespace)
    sent = [*drawn_scenes, *drawn_scenes]
    with ThreadPoolExecutor(len(sent)) as pool:
        answers = list(pool.map(lambda case: generate_case(endpoint, case, SCENE_STEPS, SCENE_SIZE),
                                [case for case, _ in sent]))
    for (case, reference), answer in zip(sent, answers, strict=True):
        verdict = checker.verdict(case.prompt, answer)
        assert verdict.passed, (case.prompt, verdict.checks)
        assert psnr(answer, reference) >= 30.0, case.prompt
