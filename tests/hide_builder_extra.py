"""``pytest -m unit -p tests.hide_builder_extra``: the tests as if the ``[builder]`` extra were not installed.

Unit tests must pass without it (only the operator's and the dev dependencies): a test that needs
torch, diffusers, ONNX and the rest skips with the reason (``tests/builder_extra.py``). This plugin
proves it on a full dev environment: those packages raise ``ModuleNotFoundError`` from before any
test module is collected, as they would where they are absent.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

#: The import names of pyproject.toml's [builder] extra (nvidia-modelopt imports as modelopt).
BUILDER_MODULES = frozenset({
    "torch", "diffusers", "transformers", "safetensors", "onnx", "onnxruntime", "onnx_graphsurgeon", "polygraphy",
    "huggingface_hub", "fsspec", "modelopt",
})


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in BUILDER_MODULES:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden by tests/hide_builder_extra.py)",
                                      name=fullname)
        return None


already = sorted(name for name in sys.modules if name.partition(".")[0] in BUILDER_MODULES)
if already:
    raise RuntimeError(f"imported before the plugin could hide them: {already[:5]}")
sys.meta_path.insert(0, _Absent())
