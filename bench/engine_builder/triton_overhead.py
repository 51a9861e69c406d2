"""Triton pipeline overhead on CPU: the `sdxl` BLS model vs the same ONNX sessions called in-process.

Both sides run the identical pipeline code (engine_builder/pipeline.py) over the identical ONNX files
of a tiny-SDXL build; only the transport differs (BLS requests between Python-backend processes and
a tritonclient round trip vs direct ``session.run``). Overhead per request = Triton latency -
in-process latency; per component call = that / (2 text encoders + steps + 1 VAE). Goal: <= 5 ms
per request beyond the components' own time.

    .venv/bin/python bench/engine_builder/triton_overhead.py [--requests 20] [--steps 1 4 10]
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine_builder.build import build  # noqa: E402
from engine_builder.parity import ort_session  # noqa: E402
from engine_builder.pipeline import Defaults, Limits, SDXLPipeline, resolve_request  # noqa: E402
from engine_builder.plan import BuildPlan  # noqa: E402
from testbed.paths import cache_root  # noqa: E402
from testbed.triton import TritonServer, stub_python_env  # noqa: E402

PLAN = BuildPlan.model_validate({
    "source": "builtin://tiny-sdxl", "backend": "onnxruntime",
    "resolutions": [{"width": 256, "height": 256}], "max_batch_size": 2,
})
SIZE = 64
#: Warm-up requests per side: Triton spreads requests over the BLS instances (2 here).
WARMUP = 4


COMPONENTS = ("clip", "clip2", "unetxl", "vae")
#: Milliseconds spent inside session.run by the in-process pipeline (the components' own time).
COMPONENT_MS: list[float] = []


def in_process_pipeline(repository: Path) -> SDXLPipeline:
    def component(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        session = ort_session(repository / name / "1" / "model.onnx")
        outputs = [o.name for o in session.get_outputs()]

        def call(feeds: dict[str, Any]) -> dict[str, Any]:
            start = time.perf_counter()
            result = dict(zip(outputs, session.run(outputs, feeds), strict=True))
            COMPONENT_MS.append((time.perf_counter() - start) * 1000)
            return result

        return call

    return SDXLPipeline(repository / "sdxl" / "1", {n: component(n) for n in COMPONENTS})


def component_compute_ms(client: Any) -> float:
    """Cumulative execute() time of the component models inside Triton (their own time)."""
    total_ns = 0
    for name in COMPONENTS:
        stats = client.get_inference_statistics(name, as_json=True)["model_stats"][0]
        total_ns += int(stats["inference_stats"]["compute_infer"].get("ns", 0))
    return total_ns / 1e6


def triton_request(client: Any, steps: int, seed: int) -> np.ndarray:
    import tritonclient.grpc as grpcclient

    inputs = []
    for name, value, kind, dtype in (
        ("prompt", b"a bench", "BYTES", object), ("seed", seed, "INT64", np.int64),
        ("steps", steps, "INT32", np.int32), ("width", SIZE, "INT32", np.int32), ("height", SIZE, "INT32", np.int32),
    ):
        tensor = grpcclient.InferInput(name, [1], kind)
        tensor.set_data_from_numpy(np.array([value], dtype=dtype))
        inputs.append(tensor)
    image: np.ndarray = client.infer("sdxl", inputs).as_numpy("image")
    return image


def timed_pair(first: Callable[[int], Any], second: Callable[[int], Any],
               requests: int) -> tuple[list[float], list[float]]:
    """Alternate the two sides request by request so load from other processes hits both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for seed in range(requests):
        for fn, into in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            fn(seed)
            into.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 4, 10])
    args = parser.parse_args()

    from polygraphy.logger import G_LOGGER

    G_LOGGER.module_severity = G_LOGGER.WARNING
    out = cache_root() / "bench-engine-builder"
    summary = build(PLAN, out)
    repository = Path(summary["path"]) / "model_repository"
    print(f"repository: {repository} ({summary['status']} in {summary['seconds']:.1f}s)")
    local = in_process_pipeline(repository)

    import tritonclient.grpc as grpcclient

    with tempfile.TemporaryDirectory() as state:
        server = TritonServer(Path(state), repository, name="bench-triton")
        server.start(env=stub_python_env(), timeout=180)
        try:
            client = grpcclient.InferenceServerClient(server.grpc_url)
            rows = []
            for steps in args.steps:
                def run_local(seed: int, steps: int = steps) -> Any:
                    request = resolve_request({"prompt": "a bench", "seed": seed, "steps": steps, "width": SIZE,
                                               "height": SIZE}, Defaults(), Limits(), lambda: 0)
                    return local(request)

                def run_triton(seed: int, steps: int = steps) -> Any:
                    return triton_request(client, steps, seed)

                np.testing.assert_array_equal(run_local(7), run_triton(7))  # same computation on both sides
                for seed in range(WARMUP):  # every BLS instance imports lazily on its first request
                    run_local(seed)
                    run_triton(seed)
                COMPONENT_MS.clear()
                compute_before = component_compute_ms(client)
                in_proc, served = timed_pair(run_local, run_triton, args.requests)
                local_components = sum(COMPONENT_MS) / args.requests
                served_components = (component_compute_ms(client) - compute_before) / args.requests
                calls = 2 + steps + 1
                local_rest = statistics.mean(in_proc) - local_components
                served_rest = statistics.mean(served) - served_components
                overhead = served_rest - local_rest
                rows.append((steps, calls, statistics.mean(in_proc), local_components, statistics.mean(served),
                             served_components, overhead, overhead / calls))
        finally:
            server.stop()

    print(f"\nCPU, tiny-SDXL {SIZE}x{SIZE}, guidance 5.0, {args.requests} interleaved requests per row (mean ms).")
    print("overhead = (triton total - triton component compute) - (in-process total - in-process component time)")
    header = ("steps", "calls", "local", "local comp", "triton", "triton comp", "overhead", "per call")
    print(" ".join(f"{h:>11}" for h in header))
    for row in rows:
        print(" ".join(f"{v:>11}" if isinstance(v, int) else f"{v:>11.1f}" for v in row))


if __name__ == "__main__":
    main()
