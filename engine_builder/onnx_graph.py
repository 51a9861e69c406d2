"""An ONNX graph's interface read without its weights (a real UNet's are 5-10 GB of external data).

Shared by the TensorRT path (the profile's inputs are checked against it) and the Triton config
check, so both read a graph the same way.
"""

from __future__ import annotations

from pathlib import Path


def onnx_io(path: Path) -> dict[str, tuple[str, tuple[int | str, ...]]]:
    """name -> (numpy dtype name, shape with symbolic dims as str) for every graph input and output."""
    import onnx
    from onnx import helper

    graph = onnx.load(str(path), load_external_data=False).graph
    io: dict[str, tuple[str, tuple[int | str, ...]]] = {}
    for value in (*graph.input, *graph.output):
        tensor = value.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        io[value.name] = (dtype, tuple(d.dim_param or d.dim_value for d in tensor.shape.dim))
    return io
