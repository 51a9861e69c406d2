"""Benchmark: what the activator adds per request while Triton is Ready (goal: <= 1 ms p50).

A host Triton serves a no-delay copy of the test bed's ``echo`` model; the activator runs as its own
process (``diffusion-operator activator``, as in its pod) in front of it. One client sends requests
one after another (so the figure is latency, not throughput), HTTP and gRPC, alternating direct and
through the activator in blocks so drifts of the shared machine hit both alike. Results go to
``bench/results/activator_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from testbed.processes import free_port
from testbed.triton import TritonServer

ECHO = Path(__file__).parents[1] / "tests" / "integration" / "testbed" / "models" / "echo"


def repository(directory: Path) -> Path:
    target = directory / "models" / "echo"
    shutil.copytree(ECHO, target)
    config = target / "config.pbtxt"
    config.write_text(config.read_text().replace('string_value: "20"', 'string_value: "0"')
                      .replace("max_queue_delay_microseconds: 2000", "max_queue_delay_microseconds: 0"))
    return directory / "models"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timings(protocol: str, url: str, count: int) -> list[float]:
    data = np.ones((1, 16), dtype=np.float32)
    module: Any = grpcclient if protocol == "grpc" else httpclient
    client = module.InferenceServerClient(url)
    tensor = module.InferInput("INPUT", [1, 16], "FP32")
    tensor.set_data_from_numpy(data)
    seconds = []
    try:
        for _ in range(10):  # warm the connection and both servers
            client.infer("echo", [tensor])
        for _ in range(count):
            began = time.perf_counter()
            client.infer("echo", [tensor])
            seconds.append(time.perf_counter() - began)
    finally:
        client.close()
    return seconds


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"nothing Ready at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per protocol and path, in 4 blocks")
    parser.add_argument("--out", type=Path, default=Path("bench/results/activator_overhead.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-activator-") as tmp:
        triton = TritonServer(Path(tmp), repository(Path(tmp)), name="triton")
        triton.start()
        http_port, grpc_port, admin_port = free_port(), free_port(), free_port()
        activator = subprocess.Popen(
            [str(Path(sys.executable).parent / "diffusion-operator"), "activator", "--service=bench",
             "--namespace=bench", "--backend=127.0.0.1", f"--backend-http-port={triton.http_port}",
             f"--backend-grpc-port={triton.grpc_port}", f"--http-port={http_port}", f"--grpc-port={grpc_port}",
             f"--admin-port={admin_port}", "--no-read-status"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"127.0.0.1:{http_port}")
            paths = {"http": {"direct": triton.http_url, "activator": f"127.0.0.1:{http_port}"},
                     "grpc": {"direct": triton.grpc_url, "activator": f"127.0.0.1:{grpc_port}"}}
            result: dict[str, Any] = {}
            for protocol, urls in paths.items():
                seen: dict[str, list[float]] = {"direct": [], "activator": []}
                for _ in range(4):
                    for path, url in urls.items():
                        seen[path] += timings(protocol, url, args.requests // 4)
                row = {path: {"p50_ms": round(1000 * statistics.median(v), 3),
                              "p95_ms": round(1000 * percentile(v, 0.95), 3)} for path, v in seen.items()}
                row["added_p50_ms"] = round(row["activator"]["p50_ms"] - row["direct"]["p50_ms"], 3)
                row["added_p95_ms"] = round(row["activator"]["p95_ms"] - row["direct"]["p95_ms"], 3)
                result[protocol] = row
                print(f"{protocol}: direct p50 {row['direct']['p50_ms']:.3f} ms p95 {row['direct']['p95_ms']:.3f} ms;"
                      f" via activator p50 {row['activator']['p50_ms']:.3f} ms p95 {row['activator']['p95_ms']:.3f}"
                      f" ms; added p50 {row['added_p50_ms']:.3f} ms, p95 {row['added_p95_ms']:.3f} ms")
        finally:
            activator.terminate()
            activator.wait(30)
            triton.stop()
    result["requests_per_path"] = args.requests
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
