"""The photoshoot pipeline end to end: built by the real CLI with the tiny variants, served by real Triton.

The white-studio segmenter's verdict is a documented function of the pixels (product = channel mean
below 0.9 * 255, engine_builder/segmentation.py), so a product drawn on white has a known mask. The product
here is a textured disk: its pixels are random, so "unchanged" is a strong statement, and its edge is
round, so the blend band is not a rectangle.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from diffusion_operator.client.cli import app
from diffusion_operator.client.errors import EXIT_REJECTED
from diffusion_operator.client.png import read_png_metadata
from PIL import Image
from typer.testing import CliRunner

from engine_builder.scenes import checker
from testbed.paths import cache_root
from testbed.triton import TritonServer, stub_python_env

PLAN = {
    "source": "builtin://tiny-sdxl",
    "backend": "onnxruntime",
    "precision": "fp16",
    "resolutions": [{"width": 256, "height": 256}],
    "max_batch_size": 2,
    "pipelines": ["text2image", "photoshoot"],
    "inpaint_source": "builtin://tiny-sdxl-inpaint",
    "segmentation_source": "builtin://tiny-segmenter-white",
}
PHOTO = 96
#: The product: a disk of radius 20 centred in the photo, so its bounding box is 41 x 41.
CENTER, RADIUS = 48, 20
PRODUCT_SIDE = 2 * RADIUS + 1
BLEND = 2
#: A small pixel limit for this server, so "too large" needs no huge upload (the default is unit-tested).
MAX_PIXELS = 200 * 200


def disk() -> np.ndarray:
    yy, xx = np.mgrid[:PHOTO, :PHOTO]
    return (yy - CENTER) ** 2 + (xx - CENTER) ** 2 <= RADIUS**2


def product_photo() -> np.ndarray:
    """White background; the disk's pixels are random colours whose channel mean is well below 0.9 * 255."""
    rng = np.random.default_rng(1)
    photo = np.full((PHOTO, PHOTO, 3), 255, np.uint8)
    photo[disk()] = rng.integers(0, 200, size=(int(disk().sum()), 3), dtype=np.uint8)
    return photo


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def erode(mask: np.ndarray, times: int) -> np.ndarray:
    """3x3 erosion, written here independently of the code under test."""
    for _ in range(times):
        padded = np.pad(mask, 1, mode="edge")
        mask = np.logical_and.reduce(
            [padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]] for dy in range(3) for dx in range(3)]
        )
    return mask


def code_hash() -> str:
    digest = hashlib.sha256()
    builder = Path(__file__).resolve().parents[3] / "engine_builder"
    # The code and the built-in weights: a retrained model must not reuse a build of the old one.
    for path in sorted([*builder.rglob("*.py"), *(builder / "weights").iterdir()]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@pytest.fixture(scope="module")
def built_photoshoot(run_cli: Any) -> Path:
    """Built once per builder code version (a rerun without changes is a cache hit, in < 1 s)."""
    base = cache_root() / "engine-builder-photoshoot-tests"  # not under engine-builder-tests: swept there
    for stale in base.glob("*"):
        if stale.name != code_hash():
            shutil.rmtree(stale, ignore_errors=True)
    base = base / code_hash()
    plan_path = base / "plan.json"
    base.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps(PLAN))
    started = time.monotonic()
    result = run_cli(plan_path, base / "cache")
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    parity = summary.get("parity_max_error", "in the manifest")
    print(f"photoshoot build: {time.monotonic() - started:.1f}s, {summary['status']}, parity {parity}")
    return Path(summary["path"]) / "model_repository"


@pytest.fixture(scope="module")
def server(built_photoshoot: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    triton = TritonServer(tmp_path_factory.mktemp("triton-photoshoot"), built_photoshoot, name="triton-photoshoot")
    env = {
        **stub_python_env(),
        "OMP_NUM_THREADS": "1",
        "PHOTOSHOOT_MAX_IMAGE_PIXELS": str(MAX_PIXELS),
        "PHOTOSHOOT_BLEND_PIXELS": str(BLEND),
    }
    triton.start(env=env, timeout=180)
    yield triton
    triton.stop()


def photoshoot(
    server: TritonServer, image: bytes, prompt: str = "on a marble table, soft morning light", **options: Any
) -> dict[str, Any]:
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=120)
    types = {str: ("BYTES", object), int: ("INT32", np.int32), float: ("FP32", np.float32)}
    inputs = []
    for name, value in {"image": image, "prompt": prompt, **options}.items():
        if name == "image":
            triton_type, data = "BYTES", np.array([value], dtype=object)
        else:
            triton_type, dtype = ("INT64", np.int64) if name == "seed" else types[type(value)]
            data = np.array([value.encode() if isinstance(value, str) else value], dtype=dtype)
        tensor = httpclient.InferInput(name, [1], triton_type)
        tensor.set_data_from_numpy(data)
        inputs.append(tensor)
    started = time.monotonic()
    result = client.infer("sdxl-photoshoot", inputs)
    seconds = time.monotonic() - started
    image_bytes, mask_bytes = result.as_numpy("image")[0], result.as_numpy("mask")[0]
    return {
        "png": image_bytes,
        "image": np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB")),
        "mask": np.asarray(Image.open(io.BytesIO(mask_bytes))),
        "seed": int(result.as_numpy("seed")[0]),
        "seconds": seconds,
    }


@pytest.mark.parametrize("factor", [1, 2])
def test_the_product_keeps_its_exact_pixels_outside_the_blend_band(server, factor):
    """Scale chosen so the product is placed at its own size: its core must be the photo's bytes."""
    side = 64 * factor
    result = photoshoot(
        server,
        encode(product_photo()),
        seed=3,
        steps=2,
        width=64,
        height=64,
        upscale_factor=factor,
        product_scale=PRODUCT_SIDE / side,
    )
    print(f"photoshoot 64x64 x{factor}, 2 steps: {result['seconds']:.2f}s")
    assert result["image"].shape == (side, side, 3)
    assert result["mask"].shape == (side, side)
    offset = (side - PRODUCT_SIDE) // 2  # centred
    photo_window = (slice(CENTER - RADIUS, CENTER + RADIUS + 1),) * 2
    out_window = (slice(offset, offset + PRODUCT_SIDE),) * 2
    product = disk()[photo_window]
    core = erode(product, BLEND)
    np.testing.assert_array_equal(result["mask"][out_window] == 255, core)
    np.testing.assert_array_equal(result["image"][out_window][core], product_photo()[photo_window][core])
    band = product & ~core
    assert set(np.unique(result["mask"][out_window][band])) <= {85, 170}, "two rings at 1/3 and 2/3"
    outside = np.ones((side, side), bool)
    outside[out_window] = ~product
    assert (result["mask"][outside] == 0).all()
    assert result["image"][outside].std() > 5, "the background is generated, not a flat fill"


def test_the_output_has_the_requested_size_and_placement(server):
    result = photoshoot(
        server, encode(product_photo()), seed=1, steps=1, width=96, height=64, product_scale=0.5, placement="bottom"
    )
    assert result["image"].shape == (64, 96, 3)
    rows = np.flatnonzero((result["mask"] > 0).any(axis=1))
    assert rows[-1] > 48, "placed at the bottom"
    assert abs((rows[-1] - rows[0] + 1) - 32) <= 1, "longer side = 0.5 x the canvas's shorter side (resampled)"


def test_the_same_seed_gives_the_same_png_and_another_seed_does_not(server):
    photo = encode(product_photo())
    first = photoshoot(server, photo, seed=11, steps=2, width=64, height=64)
    again = photoshoot(server, photo, seed=11, steps=2, width=64, height=64)
    other = photoshoot(server, photo, seed=12, steps=2, width=64, height=64)
    assert first["png"] == again["png"]
    assert first["seed"] == 11
    assert np.abs(first["image"].astype(int) - other["image"].astype(int)).mean() > 1


def test_a_jpeg_photo_is_accepted(server):
    result = photoshoot(server, encode(product_photo(), "JPEG"), seed=2, steps=1, width=64, height=64)
    assert result["image"].shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"this is not an image", "image: not a PNG or JPEG image"),
        (
            encode(np.full((256, 256, 3), 255, np.uint8)),
            f"image: 256x256 pixels is larger than the limit of {MAX_PIXELS}",
        ),
        (encode(np.full((64, 64, 3), 250, np.uint8)), "image: no foreground found"),
    ],
)
def test_bad_images_fail_with_a_clear_message(server, image, message):
    with pytest.raises(Exception, match="invalid request: " + message):
        photoshoot(server, image, seed=1, steps=1, width=64, height=64)


def test_bad_settings_name_the_input(server):
    with pytest.raises(Exception, match="product_scale"):
        photoshoot(server, encode(product_photo()), steps=1, width=64, height=64, product_scale=2.0)
    with pytest.raises(Exception, match="placement"):
        photoshoot(server, encode(product_photo()), steps=1, width=64, height=64, placement="diagonal")


def test_text_to_image_is_served_next_to_it(server):
    client = httpclient.InferenceServerClient(server.http_url, network_timeout=120)
    prompt = httpclient.InferInput("prompt", [1], "BYTES")
    prompt.set_data_from_numpy(np.array([b"a lighthouse"], dtype=object))
    steps = httpclient.InferInput("steps", [1], "INT32")
    steps.set_data_from_numpy(np.array([1], dtype=np.int32))
    image = client.infer("sdxl", [prompt, steps]).as_numpy("image")
    assert image is not None and image.shape[2] == 3


def test_every_stage_is_its_own_model_with_its_own_statistics(server):
    photoshoot(server, encode(product_photo()), seed=5, steps=2, width=64, height=64)
    client = httpclient.InferenceServerClient(server.http_url)
    for model in ("sdxl-photoshoot", "photoshoot_pre", "segmenter", "vae_encoder", "unetxl_inpaint", "photoshoot_post"):
        stats = client.get_inference_statistics(model)["model_stats"][0]
        assert int(stats["inference_stats"]["success"]["count"]) > 0, model


def test_the_cli_writes_the_shot_and_its_mask(server, tmp_path):
    photo = tmp_path / "product.png"
    photo.write_bytes(encode(product_photo()))
    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        app,
        [
            "photoshoot",
            str(photo),
            "on a marble table, soft morning light",
            "-o",
            str(out),
            "--url",
            server.http_url,
            "--seed",
            "4",
            "--steps",
            "1",
            "--size",
            "64x64",
            "--upscale",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (128x128, seed 4)" in " ".join(result.output.split())  # rich wraps long lines
    with Image.open(out) as image:
        assert image.size == (128, 128)
    assert read_png_metadata(out)["model"] == "sdxl-photoshoot"
    with Image.open(tmp_path / "out.mask.png") as mask:
        assert mask.size == (128, 128) and mask.mode == "L"


def test_the_cli_reports_a_refused_image_as_exit_5(server, tmp_path):
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(np.full((64, 64, 3), 255, np.uint8)))
    result = CliRunner().invoke(
        app, ["photoshoot", str(blank), "anything", "--url", server.http_url, "--steps", "1", "--size", "64x64"]
    )
    assert result.exit_code == EXIT_REJECTED, result.output
    assert "no foreground found" in " ".join(result.output.split())


#: Scenes for the kept product: the inpainting UNet paints what the prompt names around it. The product
#: takes the place of the prompt's object; its random colours are not the object's, so only the scene
#: (the background colour, read from the border by the pixel checker) is judged.
SCENE_PROMPTS = {"blue": "a large white circle on a blue background",
                 "yellow": "a large black square on a yellow background",
                 "green": "a large red triangle on a green background"}
SCENE_SEEDS = range(4)


@pytest.mark.parametrize("background", sorted(SCENE_PROMPTS))
def test_the_product_is_placed_in_the_prompted_scene(server, background):
    """At the model's own size and steps (64 px, 30), most seeds paint the named background around the
    product, and never the colour of another scene's prompt."""
    seen = []
    for seed in SCENE_SEEDS:
        result = photoshoot(server, encode(product_photo()), prompt=SCENE_PROMPTS[background], seed=seed, steps=30,
                            width=64, height=64, product_scale=0.5)
        seen.append(checker.analyse(result["image"]).background)
    assert seen.count(background) >= 3, seen
    assert not set(seen) & (set(SCENE_PROMPTS) - {background}), seen
