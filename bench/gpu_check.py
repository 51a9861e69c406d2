"""`make gpu-check`: full-size SDXL on one CUDA GPU in under 8 minutes, beside the public TensorRT figures.

On a machine with a CUDA GPU it measures, at SDXL base's real size (``builtin://sdxl-architecture``:
published configs, seeded random weights, no download), 1024x1024, 30 steps, guidance on:

1. PyTorch fp16 eager (diffusers' ``StableDiffusionXLPipeline``): latency at batch 1 and batch 4;
2. the ONNX Runtime CUDA path inside Triton's Python backend (the ``tritonserver`` of the pinned
   nvidia-pytriton wheel, the product's own BLS pipeline and component models over fp16 ONNX):
   latency at concurrency 1 and throughput at concurrency 4 with dynamic batching;
3. GPU memory (torch's peak allocation; Triton's ``nv_gpu_memory_used_bytes``) and Triton's GPU
   metrics as scraped.

It writes bench/results/gpu_check.json and prints a table next to the public TensorRT figures. The
weights are random, so the images are noise: the architecture sets the cost, not the checkpoint.
Without a CUDA GPU it says so and exits 0 with no numbers; nothing is ever estimated from CPU
timings. Each part checks the remaining time and is skipped, saying so, rather than overrun.

    .venv/bin/python bench/gpu_check.py [--steps 30] [--size 1024] [--budget-s 480]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "operator")]

from diffusion_operator.client.request import ImageRequest  # noqa: E402
from diffusion_operator.client.triton import Endpoint, TritonClient  # noqa: E402

from engine_builder import sdxl_architecture  # noqa: E402
from engine_builder.components import COMPONENTS, trace_latent_size  # noqa: E402
from engine_builder.export import export_component, load_pipeline, read_dims  # noqa: E402
from engine_builder.plan import BuildPlan, Resolution  # noqa: E402
from engine_builder.repository.write import write_repository  # noqa: E402
from testbed.triton import TritonServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "gpu_check.json"
#: Public SDXL base figures at 1024x1024, 30 steps, batch 1 (NVIDIA's TensorRT SDXL demo; diffusers on H100).
PUBLIC_SECONDS = {"TensorRT, H100": 1.47, "TensorRT, A100": 2.74, "TensorRT, A10": 8.16, "PyTorch, H100": 2.50}
PROMPT = "a ceramic teapot on a linen cloth, studio light"


def cuda_device() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None


def torch_eager(source: Path, size: int, steps: int, batches: tuple[int, ...]) -> dict[str, Any]:
    """diffusers fp16 on the GPU: one warm-up, then one timed call per batch size."""
    import diffusers
    import torch

    models: Any = diffusers
    pipe = models.StableDiffusionXLPipeline.from_pretrained(source, torch_dtype=torch.float16).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    pipe(prompt=PROMPT, num_inference_steps=2, height=size, width=size, output_type="np")
    figures: dict[str, Any] = {}
    for batch in batches:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        pipe(prompt=[PROMPT] * batch, num_inference_steps=steps, guidance_scale=5.0, height=size, width=size,
             output_type="np")
        torch.cuda.synchronize()
        figures[f"batch_{batch}"] = {"seconds": round(time.monotonic() - started, 3),
                                     "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    del pipe
    torch.cuda.empty_cache()
    return figures


def ort_repository(source: Path, work: Path, size: int, max_batch: int) -> Path:
    """Export every component in fp16 on the GPU and write the product's CPU-layout repository over it."""
    import torch

    dims = read_dims(source)
    plan = BuildPlan(source="builtin://sdxl-architecture", backend="onnxruntime", max_batch_size=max_batch,
                     resolutions=(Resolution(width=size, height=size),))
    artefacts: dict[Any, Path] = {}
    for name in COMPONENTS:
        loaded = load_pipeline(source, "float16", "cuda", (name,))
        side = trace_latent_size(size // 8, dims.unet_up_factor)
        artefacts[name] = work / "onnx" / name / "model.onnx"
        export_component(loaded, name, artefacts[name], (side, side), "float16")
        del loaded
        torch.cuda.empty_cache()
    root = work / "model_repository"
    write_repository(root, plan, source, dims, "float16", artefacts)
    return root


def ort_in_triton(repository: Path, work: Path, size: int, steps: int) -> dict[str, Any]:
    """Latency (one at a time) and throughput (four at once) of the ``sdxl`` model, plus GPU metrics."""

    server = TritonServer(work / "triton", repository)
    server.start(env={"ORT_EXECUTION_PROVIDER": "cuda", "OMP_NUM_THREADS": "4"}, timeout=300)
    try:
        request = ImageRequest(prompt=PROMPT, steps=steps, width=size, height=size, guidance_scale=5.0, seed=1)

        def one(_: int) -> float:
            client = TritonClient(Endpoint.parse(server.http_url), timeout_s=600)
            try:
                return client.generate(request).seconds
            finally:
                client.close()

        one(0)  # warm-up: ORT's CUDA provider picks its kernels on the first run
        latencies = [one(i) for i in range(3)]
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(8)))
        throughput = 8 / (time.monotonic() - started)
        with urllib.request.urlopen(f"http://{server.metrics_url}/metrics", timeout=10) as response:
            metrics = [line for line in response.read().decode().splitlines() if line.startswith("nv_gpu_")]
    finally:
        server.stop()
    return {"latency_s_median": round(statistics.median(latencies), 3), "latencies_s": latencies,
            "throughput_images_per_s_at_4": round(throughput, 3), "triton_gpu_metrics": metrics}


def table(results: dict[str, Any]) -> str:
    rows = [f"{'what':44} {'s/image':>8}"]
    for label, seconds in PUBLIC_SECONDS.items():
        rows.append(f"{'public: ' + label:44} {seconds:8.2f}")
    for batch, figures in results.get("pytorch_fp16", {}).items():
        if isinstance(figures, dict):
            per_image = figures["seconds"] / int(batch.split("_")[1])
            rows.append(f"{'here: PyTorch fp16 eager, ' + batch:44} {per_image:8.2f}")
    ort = results.get("ort_cuda_triton", {})
    if "latency_s_median" in ort:
        rows.append(f"{'here: ORT CUDA in Triton, concurrency 1':44} {ort['latency_s_median']:8.2f}")
        rows.append(f"{'here: ORT CUDA in Triton, concurrency 4':44} {1 / ort['throughput_images_per_s_at_4']:8.2f}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=480)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = cuda_device()
    if device is None:
        print("gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False): nothing measured")
        return 0
    deadline = time.monotonic() + args.budget_s
    results: dict[str, Any] = {"gpu": device, "size": args.size, "steps": args.steps, "guidance_scale": 5.0,
                               "weights": sdxl_architecture.NOTICE, "public_seconds": PUBLIC_SECONDS}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        source = sdxl_architecture.materialize(work)
        results["pytorch_fp16"] = torch_eager(source, args.size, args.steps, (1, 4))
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            results["ort_cuda_triton"] = {"skipped": "onnxruntime has no CUDA provider (install onnxruntime-gpu)"}
        elif time.monotonic() > deadline - 240:
            results["ort_cuda_triton"] = {"skipped": "less than 4 minutes of the budget left"}
        else:
            repository = ort_repository(source, work, args.size, max_batch=4)
            results["ort_cuda_triton"] = ort_in_triton(repository, work, args.size, args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
