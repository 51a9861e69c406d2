"""The emulated model repository: ``sdxl`` alone, its batch time from the compressed L4 profile."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.sim_to_real.settings import EXPONENT, MAX_BATCH_SIZE, SINGLE_S
from engine_builder.layout import TEXT2IMAGE_MODEL

#: The text-to-image entry model, whose queue the operator watches (metrics/queue_models.py): no override needed.
MODEL = TEXT2IMAGE_MODEL
SOURCE = Path(__file__).resolve().parent / "emulated_sdxl" / "model.py"


def config_pbtxt(single_s: float = SINGLE_S, exponent: float = EXPONENT, max_batch_size: int = MAX_BATCH_SIZE) -> str:
    """One instance, dynamic batching with no delay: a batch is what waits when the instance frees up,
    as the simulator forms it."""
    return f'''name: "{MODEL}"
backend: "python"
max_batch_size: {max_batch_size}
input [ {{ name: "SIZE" data_type: TYPE_FP32 dims: [ 1 ] }} ]
output [ {{ name: "STARTED" data_type: TYPE_FP64 dims: [ 1 ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
dynamic_batching {{ max_queue_delay_microseconds: 0 }}
parameters {{ key: "single_s" value: {{ string_value: "{single_s!r}" }} }}
parameters {{ key: "exponent" value: {{ string_value: "{exponent!r}" }} }}
'''


def write_repository(directory: Path, *, single_s: float = SINGLE_S) -> None:
    """Replace everything in ``directory`` with the emulated ``sdxl`` (world-readable: Triton runs as non-root)."""
    if directory.exists():
        shutil.rmtree(directory)
    version = directory / MODEL / "1"
    version.mkdir(parents=True)
    (directory / MODEL / "config.pbtxt").write_text(config_pbtxt(single_s))
    shutil.copyfile(SOURCE, version / "model.py")
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
