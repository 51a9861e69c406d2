"""The full-size SDXL build on CPU, stage by stage: time and peak resident memory.

``builtin://sdxl-architecture`` (SDXL base's published configs, seeded random weights, no download)
goes through what a real build does before TensorRT: load each component, export it to ONNX
(external data above 2 GB), run the optimisation pass, check the graph against its TensorRT profile
and make the builder config, then call the build, which stops with TensorRT's own "not installed"
message here. ``fp16`` is the TensorRT path (what the build Job does on an L4 node); ``fp32`` is
the CPU serving path (ONNX Runtime on CPU has no fp16 kernels for most of the UNet).

Peak RSS per stage is the kernel's high-water mark (``VmHWM``), reset between stages by writing 5
to ``/proc/self/clear_refs`` (Linux >= 4.0): exact, no sampling thread. The figures feed the build
Job's memory requests (operator/diffusion_operator/engines/build_memory.py) and docs/benchmarks.md.

    .venv/bin/python bench/engine_builder/realsize.py [--precision fp16 fp32] [--components unetxl ...]
    .venv/bin/python bench/engine_builder/realsize.py --publish PLAN.json OUT   # the CPU repository

``--publish`` writes a plan's fp32 CPU repository at full size and publishes it under
``OUT/<cache key>`` exactly as a build Job does (the same export, repository writer and atomic
publish), for the real-node serving test (tests/e2e/realnode/test_realnode_realsize.py).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine_builder import sdxl_architecture  # noqa: E402
from engine_builder.build import versions  # noqa: E402
from engine_builder.components import (  # noqa: E402
    COMPONENTS,
    TRACE_LATENT_CAP,
    UNETS,
    component_spec,
    components_for,
    trace_latent_size,
)
from engine_builder.errors import TensorRTUnavailableError  # noqa: E402
from engine_builder.export import export_component, load_pipeline, read_dims  # noqa: E402
from engine_builder.layout import MODEL_REPOSITORY_DIR  # noqa: E402
from engine_builder.plan import BuildPlan  # noqa: E402
from engine_builder.profiles import latent_range  # noqa: E402
from engine_builder.publish import partial_dir, publish  # noqa: E402
from engine_builder.repository.write import write_repository  # noqa: E402
from engine_builder.trt import build_engine  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "realsize.json"
DTYPES = {"fp16": "float16", "fp32": "float32"}
GIB = 1 << 30


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


@contextmanager
def stage(rows: list[dict[str, Any]], **labels: Any) -> Iterator[dict[str, Any]]:
    """Time a stage and record its own peak RSS (the high-water mark is reset on entry)."""
    gc.collect()
    reset_peak()
    row: dict[str, Any] = dict(labels)
    started = time.monotonic()
    yield row
    row["seconds"] = round(time.monotonic() - started, 1)
    row["peak_rss_gib"] = round(peak_rss_gib(), 2)
    rows.append(row)
    print(json.dumps(row), flush=True)


def onnx_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.parent.glob(f"{path.name}*"))


def run(precisions: list[str], components: list[str], workdir: Path) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with stage(rows, precision="fp16", component="all", stage="materialize"):
        source = sdxl_architecture.materialize(workdir)
    plan = BuildPlan(source="builtin://sdxl-architecture", precision="fp16", max_batch_size=4)
    lr = latent_range(plan)
    for precision in precisions:
        dtype = DTYPES[precision]
        for name in components:
            with stage(rows, precision=precision, component=name, stage="load"):
                loaded = load_pipeline(source, dtype, components=(name,))  # type: ignore[arg-type]
            hw = (trace_latent_size(lr.opt_hw[0], loaded.dims.unet_up_factor),) * 2
            destination = workdir / "onnx" / precision / name / "model.onnx"
            with stage(rows, precision=precision, component=name, stage="export+optimize") as row:
                export_component(loaded, name, destination, hw, dtype)  # type: ignore[arg-type]
                row["onnx_gib"] = round(onnx_bytes(destination) / GIB, 2)
                row["trace_latent"] = list(hw)
            del loaded
            if precision == "fp16":  # the TensorRT path: everything up to the build call
                spec = component_spec(name, read_dims(source), dtype)  # type: ignore[arg-type]
                with stage(rows, precision=precision, component=name, stage="tensorrt") as row:
                    try:
                        build_engine(destination, spec, plan, lr, workdir / "engines" / f"{name}.plan")
                        row["result"] = "built"
                    except TensorRTUnavailableError as err:
                        row["result"] = f"stopped at the build call: {err}"
            shutil.rmtree(destination.parent)
    return {"source": sdxl_architecture.NOTICE, "machine": machine(), "stages": rows,
            "peak_rss_gib": max(row["peak_rss_gib"] for row in rows)}


#: What the published manifest says was left out, so nobody reads the repository as a checked build.
NOT_CHECKED = ("ONNX-vs-torch parity and the quality gate were not run: at full size in fp32 they hold the "
               "UNet twice (torch and ONNX Runtime, ~20 GiB) and the reference pipeline beside the served "
               "one, which does not fit this 24 GiB machine beside the test bed")


def publish_repository(plan: BuildPlan, out: Path, workdir: Path) -> dict[str, Any]:
    """Export ``plan``'s components in fp32, write its Triton repository and publish it under ``out/<key>``.

    The same steps as the build Job's CPU path (``engine_builder.build``): one component loaded at
    a time, traced at the size the builder traces, the repository writer that checks every config
    against its ONNX, and the atomic publish. Parity and the gate are left out (``NOT_CHECKED``).
    """
    if plan.backend != "onnxruntime":
        raise SystemExit(f"--publish writes the CPU repository; the plan's backend is {plan.backend}")
    rows: list[dict[str, Any]] = []
    with stage(rows, precision="fp32", component="all", stage="materialize"):
        source = sdxl_architecture.materialize(workdir)
    dims = read_dims(source)
    lr = latent_range(plan)
    key = plan.cache_key()
    staging = partial_dir(out, key, os.getpid())
    work = workdir / "onnx-publish"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    staging.mkdir(parents=True)
    artefacts = {}
    for name in components_for(plan.pipelines):
        with stage(rows, precision="fp32", component=name, stage="load"):
            loaded = load_pipeline(source, "float32", components=(name,))
        up = dims.unet_up_factor
        hw = ((trace_latent_size(lr.opt_hw[0], up), trace_latent_size(lr.opt_hw[1], up)) if name in UNETS
              else (min(lr.opt_hw[0], TRACE_LATENT_CAP), min(lr.opt_hw[1], TRACE_LATENT_CAP)))
        artefacts[name] = work / name / "model.onnx"
        with stage(rows, precision="fp32", component=name, stage="export+optimize") as row:
            export_component(loaded, name, artefacts[name], hw, "float32")
            row["onnx_gib"] = round(onnx_bytes(artefacts[name]) / GIB, 2)
        del loaded
    with stage(rows, precision="fp32", component="all", stage="repository"):
        write_repository(staging / MODEL_REPOSITORY_DIR, plan, source, dims, "float32", artefacts)
    with stage(rows, precision="fp32", component="all", stage="publish"):
        manifest = {"plan": plan.model_dump(mode="json"), "backend": plan.backend, "onnx_dtype": "float32",
                    "versions": versions(), "parity_max_error": {}, "not_checked": NOT_CHECKED,
                    "source_notice": sdxl_architecture.NOTICE}
        target = publish(staging, out, key, manifest)
    shutil.rmtree(work, ignore_errors=True)
    return {"cache_key": key, "published": str(target), "stages": rows,
            "repository_gib": round(sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) / GIB, 2),
            "peak_rss_gib": max(row["peak_rss_gib"] for row in rows)}


def machine() -> dict[str, Any]:
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return {"cpus": os.cpu_count(), "memory_gib": round(memory, 1),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", nargs="+", choices=sorted(DTYPES), default=["fp16", "fp32"])
    parser.add_argument("--components", nargs="+", choices=COMPONENTS, default=list(COMPONENTS))
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "diffusion-operator" / "realsize")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--publish", nargs=2, type=Path, metavar=("PLAN", "OUT"),
                        help="publish PLAN's (a build plan JSON) fp32 CPU repository under OUT/<cache key>")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.publish:
        plan_file, out = args.publish
        published = publish_repository(BuildPlan.model_validate_json(plan_file.read_text()), out, args.workdir)
        print(json.dumps(published), flush=True)
        return
    report = run(args.precision, args.components, args.workdir)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.results.read_text()) if args.results.exists() else {}
    args.results.write_text(json.dumps({**previous, **report}, indent=2) + "\n")
    print(f"peak RSS {report['peak_rss_gib']} GiB; written to {args.results}")


if __name__ == "__main__":
    main()
