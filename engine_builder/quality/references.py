"""Reference images on disk: what ``diffusion evaluate`` compares a running service with.

``engine-builder references`` renders the prompt set through the fp32 reference pipeline and writes
one PNG per prompt plus ``references.json`` (prompts, seeds, steps, guidance, size). The client then
sends the same prompts and seeds to the service and scores its answers against these files, with the
same metrics and verdicts the build's gate uses (metrics.py, verdict.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from engine_builder.quality.evaluate import References
from engine_builder.quality_settings import PromptCase

INDEX_FILE = "references.json"


def write_references(directory: Path, references: References, *, steps: int, guidance: float,
                     size: tuple[int, int], source: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cases = []
    for index, (case, image) in enumerate(zip(references.cases, references.images, strict=True)):
        name = f"{index:02d}.png"
        Image.fromarray(np.asarray(image, np.uint8)).save(directory / name)
        cases.append({"prompt": case.prompt, "seed": case.seed, "image": name})
    index_path = directory / INDEX_FILE
    index_path.write_text(json.dumps({"source": source, "steps": steps, "guidance_scale": guidance,
                                      "width": size[0], "height": size[1], "cases": cases}, indent=2))
    return index_path


def read_references(directory: Path) -> tuple[dict[str, Any], list[tuple[PromptCase, NDArray[np.uint8]]]]:
    """(settings, [(case, image)]) from a directory ``write_references`` made."""
    index = json.loads((directory / INDEX_FILE).read_text())
    cases = [(PromptCase(prompt=c["prompt"], seed=c["seed"]),
              np.asarray(Image.open(directory / c["image"]).convert("RGB"), np.uint8)) for c in index["cases"]]
    return index, cases
