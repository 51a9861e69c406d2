"""Tests that need the engine builder's optional dependencies skip, naming them, where they are absent.

``pytest -m unit`` runs in an environment without the ``[builder]`` extra (torch, diffusers,
transformers, ONNX, ONNX Runtime, polygraphy, ModelOpt, huggingface_hub, fsspec): the operator's
image and a reviewer's laptop have none of them. A test whose subject needs one imports it through
:func:`builder_module`, inside the test or at module level (then the whole module skips), and
``pytest -p tests.hide_builder_extra`` runs the suite as if the extra were absent, to prove it.
"""

from __future__ import annotations

from types import ModuleType

import pytest


def builder_module(name: str, why: str) -> ModuleType:
    """``import name``, or skip with ``why`` and where ``name`` comes from."""
    __tracebackhide__ = True  # the skip names the test's line, not this one
    return pytest.importorskip(name, reason=f"{why}; {name} comes with the [builder] extra (pip install '.[builder]')")
