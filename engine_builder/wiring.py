"""SDXL's wiring, checked from the components' ``config.json`` files before any weight is loaded.

Loading the real UNet takes 5-10 GB and minutes; a checkpoint whose parts do not belong together
(an SD 1.5 UNet beside SDXL's encoders, a refiner, a VAE with other latent channels) should fail in
a second with the field that is wrong, not after the load or half-way through an export. The rules
are the ones every SDXL checkpoint satisfies (see FACTS.md): the UNet attends over both encoders'
hidden states side by side, and its ``text_time`` embedding takes six size/crop numbers (each
embedded to ``addition_time_embed_dim``) plus the second encoder's pooled projection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine_builder.errors import SourceError

TIME_IDS = 6


def read_config(directory: Path, component: str) -> dict[str, Any]:
    path = directory / component / "config.json"
    try:
        config: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise SourceError(f"source: {component}/config.json is missing in {directory}") from err
    except json.JSONDecodeError as err:
        raise SourceError(f"source: {path} is not valid JSON: {err}") from err
    return config


def wiring_errors(text1: dict[str, Any], text2: dict[str, Any], unet: dict[str, Any],
                  vae: dict[str, Any]) -> list[str]:
    """Every way the four configs fail SDXL's wiring, each naming the field (empty when they fit)."""
    errors: list[str] = []
    if unet.get("addition_embed_type") != "text_time":
        errors.append(f"unet.addition_embed_type is {unet.get('addition_embed_type')!r}; SDXL base needs "
                      "'text_time' (an SD 1.x/2.x UNet or the refiner does not fit)")
    hidden1, hidden2 = text1.get("hidden_size"), text2.get("hidden_size")
    if isinstance(hidden1, int) and isinstance(hidden2, int) and unet.get("cross_attention_dim") != hidden1 + hidden2:
        errors.append(f"unet.cross_attention_dim is {unet.get('cross_attention_dim')}; the text encoders give "
                      f"text_encoder.hidden_size + text_encoder_2.hidden_size = {hidden1} + {hidden2} = "
                      f"{hidden1 + hidden2}")
    projection = text2.get("projection_dim") or hidden2
    time_embed = unet.get("addition_time_embed_dim")
    if isinstance(time_embed, int) and isinstance(projection, int):
        expected = TIME_IDS * time_embed + projection
        if unet.get("projection_class_embeddings_input_dim") != expected:
            errors.append(f"unet.projection_class_embeddings_input_dim is "
                          f"{unet.get('projection_class_embeddings_input_dim')}; {TIME_IDS} x "
                          f"unet.addition_time_embed_dim + text_encoder_2.projection_dim = {expected}")
    if text1.get("max_position_embeddings") != text2.get("max_position_embeddings"):
        errors.append(f"text_encoder.max_position_embeddings ({text1.get('max_position_embeddings')}) != "
                      f"text_encoder_2.max_position_embeddings ({text2.get('max_position_embeddings')})")
    if vae.get("latent_channels") != unet.get("out_channels"):
        errors.append(f"vae.latent_channels is {vae.get('latent_channels')}; unet.out_channels is "
                      f"{unet.get('out_channels')}")
    levels = len(vae.get("block_out_channels") or ())
    if levels != 4:
        errors.append(f"vae.block_out_channels has {levels} levels; SDXL's x8 latent scale needs 4")
    return errors


def check_sdxl_wiring(directory: Path) -> None:
    """Raise :class:`SourceError` listing every wiring mismatch of the pipeline in ``directory``."""
    configs = [read_config(directory, name) for name in ("text_encoder", "text_encoder_2", "unet", "vae")]
    errors = wiring_errors(*configs)
    if errors:
        raise SourceError(f"source: {directory} is not wired like SDXL: " + "; ".join(errors))
