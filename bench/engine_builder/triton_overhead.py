"""Triton pipeline overhead on CPU, per execution mode, against the same ONNX sessions called in-process.

Three sides run the identical pipeline code (engine_builder/pipeline.py) over identical ONNX files of a
tiny-SDXL build (two builds that differ only in ``execution_mode``):

- local: the pipeline in this process, components = ONNX Runtime sessions (the components' own time);
- bls: the ``sdxl`` model calling ``clip``/``clip2``/``unetxl``/``vae`` through Triton once per step;
- in_process: ``sdxl`` forwarding each request once to ``sdxl_inprocess``, which runs the components
  itself (engine_builder/repository/execution.py).

Requests are interleaved side by side so load from other processes hits all alike. Overhead per request:
bls = (Triton total - component models' compute_infer) - (local total - time inside session.run);
in_process = Triton total - ``sdxl_inprocess`` compute_infer (everything outside the pipeline model:
client, ``sdxl``, the one BLS hop, queueing), and, as a cross-check, Triton total - local total.
Goal: <= 5 ms per request beyond the components' own time.

    .venv/bin/python bench/engine_builder/triton_overhead.py [--requests 20] [--steps 1 4 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine_builder.build import build  # noqa: E402
from engine_builder.layout import MODEL_REPOSITORY_DIR, TEXT2IMAGE_MODEL  # noqa: E402
from engine_builder.pipeline import Defaults, Limits, SDXLPipeline, resolve_request  # noqa: E402
from engine_builder.plan import BuildPlan  # noqa: E402
from engine_builder.triton_models.local_components import load_components  # noqa: E402
from testbed.paths import cache_root  # noqa: E402
from testbed.triton import TritonServer, stub_python_env  # noqa: E402

BASE_PLAN = {
    "source": "builtin://tiny-sdxl",
    "backend": "onnxruntime",
    "resolutions": [{"width": 256, "height": 256}],
    "max_batch_size": 2,
}
MODES = ("bls", "in_process")
SIZE = 64
#: Warm-up requests per side: Triton spreads requests over the sdxl instances (2 here).
WARMUP = 4
COMPONENTS = ("clip", "clip2", "unetxl", "vae")
#: Milliseconds spent inside session.run by the local pipeline (the components' own time).
COMPONENT_MS: list[float] = []


def local_pipeline(repository: Path, threads: int) -> SDXLPipeline:
    """The in-process repository's pipeline, loaded as ``sdxl_inprocess`` loads it, with timed components."""
    directory = repository / "sdxl_inprocess" / "1"
    loaded = load_components(directory, threads)

    def timed(component: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def call(feeds: dict[str, Any]) -> dict[str, Any]:
            start = time.perf_counter()
            result = component(feeds)
            COMPONENT_MS.append((time.perf_counter() - start) * 1000)
            return result

        return call

    return SDXLPipeline(directory, {name: timed(loaded[name]) for name in COMPONENTS})


def compute_ms(client: Any, models: tuple[str, ...], stat: str = "compute_infer") -> float:
    """Cumulative ``stat`` time (execute() by default, or ``queue``) of ``models`` inside Triton."""
    total_ns = 0
    for name in models:
        stats = client.get_inference_statistics(name, as_json=True)["model_stats"][0]
        total_ns += int(stats["inference_stats"][stat].get("ns", 0))
    return total_ns / 1e6


def triton_request(client: Any, steps: int, seed: int) -> np.ndarray:
    inputs = []
    for name, value, kind, dtype in (
        ("prompt", b"a bench", "BYTES", object),
        ("seed", seed, "INT64", np.int64),
        ("steps", steps, "INT32", np.int32),
        ("width", SIZE, "INT32", np.int32),
        ("height", SIZE, "INT32", np.int32),
    ):
        tensor = grpcclient.InferInput(name, [1], kind)
        tensor.set_data_from_numpy(np.array([value], dtype=dtype))
        inputs.append(tensor)
    image: np.ndarray = client.infer(TEXT2IMAGE_MODEL, inputs).as_numpy("image")
    return image


def timed_sides(sides: list[Callable[[int], Any]], requests: int) -> list[list[float]]:
    """Alternate the sides request by request so load from other processes hits them alike."""
    samples: list[list[float]] = [[] for _ in sides]
    for seed in range(requests):
        for fn, into in zip(sides, samples, strict=True):
            start = time.perf_counter()
            fn(seed)
            into.append((time.perf_counter() - start) * 1000)
    return samples


def build_repositories() -> dict[str, Path]:
    out = cache_root() / "bench-engine-builder"
    repositories = {}
    for mode in MODES:
        summary = build(BuildPlan.model_validate({**BASE_PLAN, "execution_mode": mode}), out)
        repositories[mode] = Path(summary["path"]) / MODEL_REPOSITORY_DIR
        print(f"{mode}: {repositories[mode]} ({summary['status']} in {summary['seconds']:.1f}s)")
    return repositories


def measure(clients: dict[str, Any], local: SDXLPipeline, steps: int, requests: int) -> dict[str, float]:
    def run_local(seed: int) -> Any:
        request = resolve_request(
            {"prompt": "a bench", "seed": seed, "steps": steps, "width": SIZE, "height": SIZE},
            Defaults(),
            Limits(),
            lambda: 0,
        )
        return local(request)

    def remote(mode: str) -> Callable[[int], Any]:
        return lambda seed: triton_request(clients[mode], steps, seed)

    reference = run_local(7)
    for mode in MODES:  # same computation on every side, bit for bit (one request at a time)
        np.testing.assert_array_equal(reference, remote(mode)(7))
    for seed in range(WARMUP):  # every Python-backend instance imports lazily on its first request
        run_local(seed)
        for mode in MODES:
            remote(mode)(seed)
    COMPONENT_MS.clear()
    bls_models, in_process_models = COMPONENTS, ("sdxl_inprocess",)
    before = (compute_ms(clients["bls"], bls_models), compute_ms(clients["in_process"], in_process_models))
    queue_before = compute_ms(clients["in_process"], in_process_models, "queue")
    local_ms, bls_ms, in_process_ms = timed_sides([run_local, remote("bls"), remote("in_process")], requests)
    bls_compute = (compute_ms(clients["bls"], bls_models) - before[0]) / requests
    pipeline_compute = (compute_ms(clients["in_process"], in_process_models) - before[1]) / requests
    pipeline_queue = (compute_ms(clients["in_process"], in_process_models, "queue") - queue_before) / requests
    local_total, local_components = statistics.mean(local_ms), sum(COMPONENT_MS) / requests
    bls_total, in_process_total = statistics.mean(bls_ms), statistics.mean(in_process_ms)
    return {
        "steps": steps,
        "calls": 2 + steps + 1,
        "local": local_total,
        "local comp": local_components,
        "bls": bls_total,
        "bls comp": bls_compute,
        "bls over": (bls_total - bls_compute) - (local_total - local_components),
        "inproc": in_process_total,
        "inproc model": pipeline_compute,
        "inproc over": in_process_total - pipeline_compute,
        "of which queue": pipeline_queue,
        "inproc-local": in_process_total - local_total,
    }


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 4, 30])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="ONNX Runtime intra-op threads on every side (ORT_THREADS in Triton); "
        "1 keeps spinning thread pools from fighting on a small shared machine",
    )
    args = parser.parse_args()

    from polygraphy.logger import G_LOGGER

    G_LOGGER.module_severity = G_LOGGER.WARNING
    repositories = build_repositories()
    local = local_pipeline(repositories["in_process"], args.threads)


    with tempfile.TemporaryDirectory() as state:
        servers = {mode: TritonServer(Path(state) / mode, repositories[mode], name=f"bench-{mode}") for mode in MODES}
        try:
            for server in servers.values():
                server.start(env={**stub_python_env(), "ORT_THREADS": str(args.threads)}, timeout=180)
            clients = {mode: grpcclient.InferenceServerClient(server.grpc_url) for mode, server in servers.items()}
            rows = [measure(clients, local, steps, args.requests) for steps in args.steps]
        finally:
            for server in servers.values():
                server.stop()

    print(
        f"\nCPU, tiny-SDXL {SIZE}x{SIZE}, guidance 5.0, {args.requests} interleaved requests per row (mean ms), "
        f"ORT threads {args.threads}."
    )
    print(
        "bls over = (bls - component compute) - (local - local component time); "
        "inproc over = inproc - sdxl_inprocess compute"
    )
    print(" ".join(f"{key:>12}" for key in rows[0]))
    for row in rows:
        print(" ".join(f"{v:>12}" if isinstance(v, int) else f"{v:>12.1f}" for v in row.values()))


if __name__ == "__main__":
    main()
