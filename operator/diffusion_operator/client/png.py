"""PNG output with the request in its text chunks, so an image says how to make it again.

Keys follow the PNG spec's registered keywords where one exists (``Description`` holds the prompt,
``Software`` the tool); the rest are plain ``tEXt`` keywords that ``exiftool`` and PIL both show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from diffusion_operator.client.errors import UsageError
from engine_builder.layout import TEXT2IMAGE_MODEL

SOFTWARE = "diffusion-operator diffusion CLI"


def png_metadata(prompt: str, seed: int, *, negative_prompt: str | None = None, steps: int | None = None,
                 model: str = TEXT2IMAGE_MODEL) -> dict[str, str]:
    """The text chunks written next to the pixels (unset settings are left out, not guessed)."""
    values = {"prompt": prompt, "Description": prompt, "seed": str(seed), "model": model, "Software": SOFTWARE}
    if negative_prompt is not None:
        values["negative_prompt"] = negative_prompt
    if steps is not None:
        values["steps"] = str(steps)
    return values


def write_png(path: Path, image: NDArray[np.uint8], metadata: dict[str, str]) -> Path:
    """Write ``image`` ([H, W, 3] uint8 RGB) to ``path`` with ``metadata`` as tEXt/iTXt chunks."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an [H, W, 3] image, got shape {list(image.shape)}")
    info = PngInfo()
    for key, value in metadata.items():
        if value.isascii():
            info.add_text(key, value)
        else:  # tEXt is Latin-1 only; iTXt carries UTF-8 prompts
            info.add_itxt(key, value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG", pnginfo=info)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from err
    return path


def read_png_metadata(path: Path) -> dict[str, str]:
    """The text chunks of a PNG (what ``write_png`` stored)."""
    with Image.open(path) as image:
        return {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
