"""Benchmark: what the OpenAI images API adds per request over calling Triton directly (goal, issue 25:
p50 <= 2 ms and p99 <= 10 ms), with PNG encoding counted apart.

A host Triton serves a stand-in ``sdxl`` model (``bench/models/sdxl_fixed``: the real model's inputs
and outputs, a fixed picture at once), so what is measured is what lies between a client and Triton.
The activator runs as its own process (as in its pod) with the API on and one key, its PNG encoder
wrapped to time every call (``--serve-activator``). One client sends one request after another (so
the figure is latency, not throughput), alternating in blocks so drifts of the shared machine hit
both paths alike:

- direct: the ``sdxl`` KServe v2 request as ``diffusion generate`` sends it over HTTP
  (``client.triton.http_infer_body`` of the same prompt, seed, steps and size), POSTed to Triton;
- API: ``POST /v1/images/generations`` with the same fields (``n`` 1, PNG, b64_json) to the activator,
  which sends the image request on to Triton over gRPC (``client.triton.grpc_infer_request``).

Both are timed from sending the request to holding the whole answer, each on its own kept-alive
connection (the client's parsing is left out of both). The API's overhead is its percentile minus
direct's; "without PNG" takes each request's own encoding time off first. Two sizes: 64x64, where
the overhead is per request (authentication, JSON, limits, the gate, the extra hop), and 1024x1024,
which adds what grows with the image (the 3 MiB tensor's second hop, base64, a larger JSON).
Results go to ``bench/results/openai_overhead.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffusion_operator.client.request import ImageRequest
from diffusion_operator.client.triton import MODEL, http_infer_body

from engine_builder.repository.model_config import render, tensor_entry
from engine_builder.repository.text2image import SDXL_INPUTS
from testbed.processes import free_port
from testbed.triton import TritonServer

HERE = Path(__file__).resolve().parent
STAND_IN = HERE / "models" / "sdxl_fixed" / "model.py"
GOAL_P50_MS, GOAL_P99_MS = 2.0, 10.0
BLOCKS = 4
WARM_UP = 10
PROMPT = "a ceramic teapot on a linen cloth, studio light"
STEPS = 30
KEY_NAME = "bench"


def repository(directory: Path) -> Path:
    """``sdxl`` with the real model's tensors (``text2image.sdxl_config``'s) and the stand-in's code."""
    config = {"name": MODEL, "backend": "python", "max_batch_size": 0,
              "input": [tensor_entry(name, dtype, [1], optional) for name, (dtype, optional) in SDXL_INPUTS.items()],
              "output": [tensor_entry("image", "uint8", [-1, -1, 3]), tensor_entry("seed", "int64", [1]),
                         tensor_entry("degraded", "bool", [1])],
              "instance_group": [{"count": 1, "kind": "KIND_CPU"}]}
    model = directory / "models" / MODEL
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(render(config))
    shutil.copy2(STAND_IN, model / "1" / "model.py")
    return directory / "models"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Poster:
    """One kept-alive HTTP connection; ``post`` returns the seconds from sending to the whole answer."""

    def __init__(self, address: str) -> None:
        self.connection = http.client.HTTPConnection(address, timeout=120)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, int]:
        began = time.perf_counter()
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - began
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {payload[:300]!r}")
        return seconds, len(payload)

    def close(self) -> None:
        self.connection.close()


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"nothing ready at {url}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(values: list[float], q: float) -> float:
    return round(1000 * (statistics.median(values) if q == 0.5 else percentile(values, q)), 3)


@dataclass
class Path3:
    """One path's timings, answer size and (for the activator's two) the activator's CPU seconds."""

    seconds: list[float] = field(default_factory=list)
    answer_bytes: int = 0
    activator_cpu_s: float = 0.0
    #: The activator's API requests measured, in the order it served them (pairs each with its PNG encoding).
    order: list[int] = field(default_factory=list)


def measure(triton: str, activator: str, activator_pid: int, key: str, size: int, count: int,
            sent_to_api: Callable[[], int]) -> dict[str, Path3]:
    """``count`` requests per path in ``BLOCKS`` blocks, the paths taking turns in each."""
    paths = {"direct": Path3(), "kserve_via_activator": Path3(), "api": Path3()}
    auth = {"Authorization": f"Bearer {key}"}
    posters = {"direct": Poster(triton), "kserve_via_activator": Poster(activator), "api": Poster(activator)}
    try:
        for block in range(BLOCKS):
            for name, path in paths.items():
                cpu_before = 0.0
                for index in range(WARM_UP + count // BLOCKS):
                    if index == WARM_UP:
                        cpu_before = cpu_seconds(activator_pid)
                    request = ImageRequest(prompt=PROMPT, seed=block * 100_000 + index, steps=STEPS, width=size,
                                           height=size)
                    if name == "api":
                        body = json.dumps({"prompt": PROMPT, "n": 1, "size": f"{size}x{size}", "seed": request.seed,
                                           "num_inference_steps": STEPS}).encode()
                        order = sent_to_api()
                        seconds, path.answer_bytes = posters[name].post(
                            "/v1/images/generations", body, {"Content-Type": "application/json", **auth})
                        if index >= WARM_UP:
                            path.order.append(order)
                    else:
                        body, header_length = http_infer_body(request)
                        headers = {"Content-Type": "application/octet-stream", **auth}
                        if header_length is not None:
                            headers["Inference-Header-Content-Length"] = str(header_length)
                        seconds, path.answer_bytes = posters[name].post(f"/v2/models/{MODEL}/infer", body, headers)
                    if index >= WARM_UP:
                        path.seconds.append(seconds)
                path.activator_cpu_s += cpu_seconds(activator_pid) - cpu_before
    finally:
        for poster in posters.values():
            poster.close()
    return paths


def row(paths: dict[str, Path3], encodes: list[tuple[float, float, int]]) -> dict[str, Any]:
    """One size's figures; ``encodes`` is every PNG encoding (wall s, thread CPU s, bytes) in serving order."""
    direct, via, api = paths["direct"], paths["kserve_via_activator"], paths["api"]
    png = [encodes[order][0] for order in api.order]
    png_cpu = sum(encodes[order][1] for order in api.order)
    without_png = [total - encode for total, encode in zip(api.seconds, png, strict=True)]
    n = len(api.seconds)
    result: dict[str, Any] = {
        "direct": {"p50_ms": ms(direct.seconds, 0.5), "p99_ms": ms(direct.seconds, 0.99),
                   "answer_bytes": direct.answer_bytes},
        "kserve_via_activator": {"p50_ms": ms(via.seconds, 0.5), "p99_ms": ms(via.seconds, 0.99)},
        "api": {"p50_ms": ms(api.seconds, 0.5), "p99_ms": ms(api.seconds, 0.99), "answer_bytes": api.answer_bytes},
        "png_encode": {"p50_ms": ms(png, 0.5), "p99_ms": ms(png, 0.99),
                       "cpu_ms_per_image": round(1000 * png_cpu / n, 3), "png_bytes": encodes[api.order[-1]][2]},
        "api_without_png": {"p50_ms": ms(without_png, 0.5), "p99_ms": ms(without_png, 0.99)},
        # What the activator's process spent per request (all threads): contention on a busy machine
        # stretches wall-clock figures, not these.
        "activator_cpu_ms_per_request": {
            "kserve_via_activator": round(1000 * via.activator_cpu_s / len(via.seconds), 3),
            "api": round(1000 * api.activator_cpu_s / n, 3),
            "api_without_png": round(1000 * (api.activator_cpu_s - png_cpu) / n, 3)},
        "requests_per_path": n,
    }
    result["added_p50_ms"] = round(result["api_without_png"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    result["added_p99_ms"] = round(result["api_without_png"]["p99_ms"] - result["direct"]["p99_ms"], 3)
    result["added_with_png_p50_ms"] = round(result["api"]["p50_ms"] - result["direct"]["p50_ms"], 3)
    result["added_with_png_p99_ms"] = round(result["api"]["p99_ms"] - result["direct"]["p99_ms"], 3)
    result["meets_goal"] = result["added_p50_ms"] <= GOAL_P50_MS and result["added_p99_ms"] <= GOAL_P99_MS
    return result


def serve_activator(args: argparse.Namespace) -> None:
    """The activator as in its pod, its PNG encoder timed per call; the timings go to ``--encode-log`` at exit."""
    from diffusion_operator.activator.openai import routes  # noqa: PLC0415 - only in the activator's process
    from diffusion_operator.activator.openai.settings import ApiSettings, SizeCaps  # noqa: PLC0415
    from diffusion_operator.activator.server import ActivatorSettings, serve  # noqa: PLC0415

    timings: list[tuple[float, float, int]] = []
    encode = routes.encode

    def timed(*encode_args: Any, **kwargs: Any) -> bytes:
        began, began_cpu = time.perf_counter(), time.thread_time()
        data = encode(*encode_args, **kwargs)
        timings.append((time.perf_counter() - began, time.thread_time() - began_cpu, len(data)))
        return data

    routes.encode = timed  # type: ignore[assignment]
    api = ApiSettings(keys_dir=Path(args.keys_dir), model_id="bench", max_images=1,
                      sizes=SizeCaps.parse(None, "64x64-1024x1024", "1024x1024"), max_steps=150)
    profile = os.environ.get("OPENAI_OVERHEAD_PROFILE")  # a cProfile dump of the activator, to find its costs
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    try:
        serve(ActivatorSettings(service="bench", namespace="bench", backend_host="127.0.0.1",
                                backend_http_port=args.backend_http_port, backend_grpc_port=args.backend_grpc_port,
                                listen_host="127.0.0.1", http_port=args.http_port, grpc_port=args.grpc_port,
                                admin_port=args.admin_port, read_status=False, drain_s=0.5, api=api))
    finally:
        Path(args.encode_log).write_text(json.dumps(timings))
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="per path at 64x64, in 4 blocks")
    parser.add_argument("--large-requests", type=int, default=200, help="per path at 1024x1024, in 4 blocks")
    parser.add_argument("--out", type=Path, default=Path("bench/results/openai_overhead.json"))
    parser.add_argument("--serve-activator", action="store_true", help=argparse.SUPPRESS)
    for name in ("keys-dir", "encode-log"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    for name in ("backend-http-port", "backend-grpc-port", "http-port", "grpc-port", "admin-port"):
        parser.add_argument(f"--{name}", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_activator:
        serve_activator(args)
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        root = Path(tmp)
        keys, key = root / "keys", "sk-bench-" + secrets.token_hex(16)
        keys.mkdir()
        (keys / KEY_NAME).write_text(key)
        triton = TritonServer(root, repository(root), name="triton")
        triton.start()
        ports = {name: free_port() for name in ("http-port", "grpc-port", "admin-port")}
        encode_log = root / "encode.json"
        activator = subprocess.Popen(
            [sys.executable, "-m", "bench.openai_overhead", "--serve-activator", f"--keys-dir={keys}",
             f"--encode-log={encode_log}", f"--backend-http-port={triton.http_port}",
             f"--backend-grpc-port={triton.grpc_port}", *(f"--{name}={port}" for name, port in ports.items())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sent = 0

        def next_api_request() -> int:
            nonlocal sent
            sent += 1
            return sent - 1

        runs: dict[int, dict[str, Path3]] = {}
        try:
            wait_ready(f"http://127.0.0.1:{ports['admin-port']}/readyz")
            activator_address = f"127.0.0.1:{ports['http-port']}"
            for size, count in ((64, args.requests), (1024, args.large_requests)):
                runs[size] = measure(triton.http_url, activator_address, activator.pid, key, size, count,
                                     next_api_request)
        finally:
            activator.terminate()
            activator.wait(30)
            triton.stop()
        encodes = json.loads(encode_log.read_text())
    if len(encodes) != sent:
        raise RuntimeError(f"{len(encodes)} PNG encodings for {sent} API requests: the pairing would be wrong")
    result: dict[str, Any] = {"goal": {"added_p50_ms": GOAL_P50_MS, "added_p99_ms": GOAL_P99_MS}}
    for size, paths in runs.items():
        r = result[f"{size}x{size}"] = row(paths, encodes)
        cpu = r["activator_cpu_ms_per_request"]
        print(f"{size}x{size}: direct p50 {r['direct']['p50_ms']:.3f} p99 {r['direct']['p99_ms']:.3f} ms; API p50 "
              f"{r['api']['p50_ms']:.3f} p99 {r['api']['p99_ms']:.3f} ms, of which PNG p50 "
              f"{r['png_encode']['p50_ms']:.3f} p99 {r['png_encode']['p99_ms']:.3f} ms; added without PNG p50 "
              f"{r['added_p50_ms']:.3f} ms, p99 {r['added_p99_ms']:.3f} ms (goal {GOAL_P50_MS:g}/{GOAL_P99_MS:g}); "
              f"activator CPU per request: KServe {cpu['kserve_via_activator']:.3f} ms, API without PNG "
              f"{cpu['api_without_png']:.3f} ms")
    result["machine"] = {"cpus": os.cpu_count(), "loadavg_before": [round(v, 2) for v in load_before],
                         "loadavg_after": [round(v, 2) for v in os.getloadavg()], "python": sys.version.split()[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
