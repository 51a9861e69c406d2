"""Execution modes of the ``sdxl`` model: per-step BLS (the default) or whole pipelines in-process.

``bls``: ``sdxl`` runs the denoising loop and calls ``clip``/``clip2``/``unetxl``/``vae`` through
Triton, one request per component and step (~2 ms each on CPU, bench/engine_builder/RESULTS.md). The
UNet's dynamic batcher merges steps of concurrent requests, so a request arriving mid-way joins at the
next step. That is the default: it is what a shared, loaded GPU service wants (a step costs 50-200 ms
there, the hop 1-4 %), and existing BLS repositories keep their cache keys.

``in_process``: the components run inside one Python model, ``sdxl_inprocess`` (ONNX Runtime on CPU,
the TensorRT engines through polygraphy on GPU), which batches whole pipelines dynamically: requests
that agree on steps, scheduler, guidance and size denoise together (``pipeline.batch_key``). There is
no per-step hop; a request that arrives while a batch runs waits for the next one. For latency-bound
services and short pipelines that do not need step batching across requests.

Why two models: a batching model (``max_batch_size > 0``) puts a batch axis on every tensor clients
see (``[1, 1]`` inputs, a ``[1, H, W, 3]`` image), so the wire model ``sdxl`` keeps its unbatched API
in both modes and, in this one, validates and seeds the request and forwards it with one BLS call
(per request, not per step). Its instances import no ML stack; there are ``max_batch_size`` of them,
so at most one full batch is in flight and further requests queue at ``sdxl``, whose queue time stays
the autoscaler's signal.

Memory: no component models are written in this mode. Nothing would call them, and Triton loads every
model in a repository, so they would hold a second copy of every weight (the fp16 SDXL UNet engine
alone is ~5 GB of an L4's 24 GB). The artefacts live in ``sdxl_inprocess/1/components/`` and its one
instance loads them once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine_builder.components import COMPONENTS, ComponentName
from engine_builder.external_data import move_model
from engine_builder.plan import BuildPlan
from engine_builder.repository.model_config import MODELS_DIR, tensor_entry

#: The ``sdxl`` model-config parameter that selects the mode (read by triton_models/sdxl_model.py).
EXECUTION_MODE_PARAMETER = "EXECUTION_MODE"
IN_PROCESS_MODEL = "sdxl_inprocess"
COMPONENTS_DIR = "components"
#: Written next to the in-process model: which artefact each component loads (see local_components.py).
COMPONENTS_FILE = "components.json"
#: How long a pipeline waits for company. Only ``max_batch_size`` requests are ever in flight (one per
#: ``sdxl`` instance) and those instances free up together when a batch returns, so the next batch
#: assembles within about a millisecond; 2 ms (the UNet batcher's delay) covers that on a loaded CPU and
#: is noise next to a multi-second SDXL pipeline. Without it a request alone at the instance would
#: start alone and its neighbours, a hair behind, would wait for the whole pipeline.
IN_PROCESS_QUEUE_DELAY_US = 2000
#: What ``sdxl`` forwards: the request after defaults, validation and seeding (name -> type, optional).
RESOLVED_INPUTS = {
    "prompt": ("bytes", False),
    "negative_prompt": ("bytes", True),
    "seed": ("int64", False),
    "steps": ("int32", False),
    "guidance_scale": ("float32", False),
    "width": ("int32", False),
    "height": ("int32", False),
    "scheduler": ("bytes", False),
}


def mode_parameters(plan: BuildPlan) -> dict[str, Any]:
    """``parameters`` of the ``sdxl`` config: the mode is written down even at the default."""
    return {EXECUTION_MODE_PARAMETER: {"string_value": plan.execution_mode}}


def serves_components_as_models(plan: BuildPlan) -> bool:
    """Whether clip, clip2, unetxl and vae are Triton models of their own (only in BLS mode)."""
    return plan.execution_mode == "bls"


def in_process_config(plan: BuildPlan, gpu: bool) -> dict[str, Any]:
    """One instance (one copy of the weights), batching up to the plan's batch per execution."""
    return {
        "name": IN_PROCESS_MODEL,
        "backend": "python",
        "max_batch_size": plan.max_batch_size,
        "input": [tensor_entry(name, dtype, [1], optional) for name, (dtype, optional) in RESOLVED_INPUTS.items()],
        "output": [tensor_entry("image", "uint8", [-1, -1, 3])],
        "dynamic_batching": {"max_queue_delay_microseconds": IN_PROCESS_QUEUE_DELAY_US},
        "instance_group": [{"count": 1, "kind": "KIND_GPU" if gpu else "KIND_CPU"}],
    }


def component_table(engines: dict[ComponentName, dict[str, str]] | None) -> dict[str, dict[str, Any]]:
    """``components.json``: an ONNX file per component (CPU) or its engines by compute capability (GPU)."""
    if engines is None:
        return {name: {"onnx": f"{COMPONENTS_DIR}/{name}/model.onnx"} for name in COMPONENTS}
    return {
        name: {"engines": {cc: f"{COMPONENTS_DIR}/{name}/{filename}" for cc, filename in engines[name].items()}}
        for name in COMPONENTS
    }


def write_in_process_model(
    root: Path,
    sdxl_version: Path,
    plan: BuildPlan,
    artefacts: dict[ComponentName, Path],
    engines: dict[ComponentName, dict[str, str]] | None,
) -> dict[str, Any]:
    """``sdxl_inprocess/1``: the pipeline files of ``sdxl/1`` plus the components; returns its config.

    ``artefacts`` are ONNX files (CPU) or engine directories (GPU), moved, not copied: the staging
    directory is about to be published and a second copy would double the cache's size.
    """
    version = root / IN_PROCESS_MODEL / "1"
    shutil.copytree(sdxl_version, version, dirs_exist_ok=True)
    shutil.copy2(MODELS_DIR / "inprocess_model.py", version / "model.py")
    shutil.copy2(MODELS_DIR / "local_components.py", version / "local_components.py")
    shutil.copy2(MODELS_DIR / "ort_providers.py", version / "ort_providers.py")
    table = component_table(engines)
    for name in COMPONENTS:
        target = version / COMPONENTS_DIR / name
        target.mkdir(parents=True, exist_ok=True)
        if engines is None:
            move_model(artefacts[name], target / "model.onnx")
        else:
            for filename in sorted(set(engines[name].values())):
                shutil.move(str(artefacts[name] / filename), target / filename)
    (version / COMPONENTS_FILE).write_text(json.dumps(table, indent=2, sort_keys=True))
    return in_process_config(plan, gpu=engines is not None)
