"""SDXL engine builder: a model source and a build plan in, a published Triton model repository out.

Data flow (one module per step): ``plan`` (the operator's contract) -> ``sources`` (a local diffusers
directory; ``tiny`` for builtin://tiny-sdxl) -> ``export`` (ONNX with NVIDIA's names, ``components``
and ``profiles`` describe the shapes) -> ``parity`` (ONNX Runtime vs torch) -> ``trt`` (GPU only) ->
``repository`` (Triton configs + the Python models in ``triton_models`` and ``pipeline``) ->
``publish`` (atomic, content-addressed). ``build`` runs the steps, ``cli`` is the entry point.
Heavy libraries (torch, diffusers, onnx, tensorrt) are imported inside functions, so the CLI answers
a cache hit or a bad plan without loading them.
"""
