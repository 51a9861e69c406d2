"""The builder <-> serving layout: what a build publishes where, and the names serving and clients use.

One home for the names both sides of the engine cache depend on. The operator writes the plan file
into the build Job's ConfigMap and mounts ``<key>/model_repository`` into Triton; the builder reads
the plan and writes that directory (with ``manifest.json`` next to it, written last); clients, the
autoscaler, dashboards and alerts address the entry models by name. Pure constants, no imports, so
render, client, metrics, the test bed and the benchmarks all import them from here.
"""

from __future__ import annotations

from typing import Final

#: The plan file: the ConfigMap's key, the file the build Job's container reads.
PLAN_FILE: Final = "plan.json"
#: Inside ``<cache>/<cache_key>/``: the Triton model repository serving pods mount.
MODEL_REPOSITORY_DIR: Final = "model_repository"
#: Inside ``<cache>/<cache_key>/``: written last; a published key is complete when it lists every file.
MANIFEST_FILE: Final = "manifest.json"

#: The text-to-image pipeline's BLS model: where its requests enter, and so where they queue.
TEXT2IMAGE_MODEL: Final = "sdxl"
#: The product photoshoot's orchestrator model.
PHOTOSHOOT_MODEL: Final = "sdxl-photoshoot"
#: The speed tier's control model beside the text-to-image pipeline: the operator sets the tier on each
#: pod through it, the pipeline reads it (``triton_models/speed_tier_model.py``).
SPEED_TIER_MODEL: Final = "speed_tier"
#: The Triton model a client calls for each pipeline (``plan.Pipeline``).
ENTRY_MODELS: Final[dict[str, str]] = {"text2image": TEXT2IMAGE_MODEL, "photoshoot": PHOTOSHOOT_MODEL}
