"""An image size in pixels, as the engines are built for it and as the API admits it."""

from __future__ import annotations

from pydantic import Field

from diffusion_operator.api.base import ApiModel


class Resolution(ApiModel):
    """An image size: a TensorRT optimisation profile in engine.resolutions, a size clients may ask for in api.sizes."""

    width: int = Field(ge=256, le=1536, multiple_of=8, description="Width in pixels (256..1536, multiple of 8).")
    height: int = Field(ge=256, le=1536, multiple_of=8, description="Height in pixels (256..1536, multiple of 8).")

    @property
    def size(self) -> str:
        """``WIDTHxHEIGHT``, as OpenAI's images API and the ``diffusion`` CLI write a size."""
        return f"{self.width}x{self.height}"
