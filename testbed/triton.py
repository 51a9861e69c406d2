"""A real Triton Inference Server (CPU, Python backend) from the ``nvidia-pytriton`` wheel.

The wheel ships ``tritonserver`` 2.51 with the Python backend; the backend's stub for our Python
version has to sit next to ``libtriton_python.so``, so a private backend directory is assembled once
per wheel version in the cache (site-packages is never modified). The stub imports model code with
this interpreter's ``sys.path``, so models can use numpy, onnxruntime, diffusers from the venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from testbed.paths import REPO_ROOT, cache_root
from testbed.processes import ManagedProcess, free_port

#: Triton's Python backend allocates this much shared memory per model instance to start with;
#: SDXL tensors (77x2048 embeddings, 128x128 latents) need more than the 1 MiB default.
SHM_DEFAULT_BYTES = 16 * 1024 * 1024
SHM_GROWTH_BYTES = 4 * 1024 * 1024


class TritonMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    backends: Path
    caches: Path
    libs: Path
    site_packages: Path


def triton_install() -> TritonInstall:
    try:
        import pytriton  # noqa: PLC0415 - an optional extra: a missing one is a typed error, not an ImportError
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise TritonMissingError("nvidia-pytriton is not installed: run `make setup`") from err
    root = Path(pytriton.__file__).parent / "tritonserver"
    site = Path(pytriton.__file__).parent.parent
    version = metadata.version("nvidia-pytriton")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    backends = cache_root() / "triton" / f"pytriton-{version}-py{py}" / "backends"
    python_backend = backends / "python"
    stub = python_backend / "triton_python_backend_stub"
    if not stub.exists():
        tmp = backends.parent / f".assemble-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(root / "backends" / "python", tmp / "python", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(root / "python_backend_stubs" / py / "triton_python_backend_stub", tmp / "python")
        backends.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(backends, ignore_errors=True)
        os.replace(tmp, backends)
    return TritonInstall(
        binary=root / "bin" / "tritonserver",
        backends=backends,
        caches=root / "caches",
        libs=site / "nvidia_pytriton.libs",
        site_packages=site,
    )


def stub_python_env() -> dict[str, str]:
    """Environment that makes Triton's Python stub run a standard library matching the libpython it links.

    The stub embeds Debian's libpython3.11 (3.11.2) and takes ``sys.prefix`` from the ``python3`` first on
    PATH. When that is another 3.11 build (pyenv's 3.11.7 here), C modules such as ``_ssl`` fail to load
    (undefined symbol ``_PyModule_Add``) and anything importing huggingface_hub breaks. A venv of the
    system python whose .pth adds this venv's site-packages fixes both sides. Built once, cached.
    """
    system = Path("/usr/bin/python3.11")
    if not system.exists():
        return {}
    version = subprocess.run([str(system), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version == sys.version.split()[0]:
        return {}
    venv = cache_root() / f"triton-stub-python-{version}"
    if not (venv / "bin" / "python3").exists():
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (venv / "lib" / "python3.11" / "site-packages" / "diffusion-venv.pth").write_text(site + "\n")
    install = triton_install()
    return {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(install.site_packages), str(REPO_ROOT)]),
    }


class TritonServer:
    """One ``tritonserver`` process serving ``model_repository`` on free loopback ports."""

    def __init__(self, state_dir: Path, model_repository: Path, name: str = "triton") -> None:
        self.process = ManagedProcess(name, state_dir)
        self.model_repository = model_repository
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.metrics_port = free_port()

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def argv(self, install: TritonInstall, extra_args: list[str]) -> list[str]:
        return [
            str(install.binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={install.backends}",
            f"--cache-directory={install.caches}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--exit-timeout-secs=5",
            "--metrics-config=summary_latencies=true",
            f"--backend-config=python,shm-default-byte-size={SHM_DEFAULT_BYTES}",
            f"--backend-config=python,shm-growth-byte-size={SHM_GROWTH_BYTES}",
            "--pinned-memory-pool-byte-size=0",
            "--log-verbose=0",
            *extra_args,
        ]

    def start(self, extra_args: list[str] | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> None:
        install = triton_install()
        venv_bin = str(Path(sys.executable).parent)
        self.process.start(
            self.argv(install, extra_args or []),
            env={
                "LD_LIBRARY_PATH": f"{install.libs}:{os.environ.get('LD_LIBRARY_PATH', '')}",
                "PYTHONPATH": os.pathsep.join([str(install.site_packages), *sys.path[1:]]),
                "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
                # Intra-op threads: one per server by default, so tests on 2 cores do not oversubscribe.
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                **stub_python_env(),
                **(env or {}),
            },
        )
        self.process.wait_ready(self.ready, timeout=timeout, interval=0.25)

    def ready(self) -> bool:
        with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def stop(self) -> None:
        self.process.stop(grace=15)
