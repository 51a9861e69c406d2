"""ONNX models over protobuf's 2 GB limit: optimise the graph without loading the weights, then
stream the weights into one external data file.

torch's exporter writes a model over 2 GB as a small graph plus one file per weight. ``onnx``'s own
helpers (``convert_model_to_external_data``, ``save_model(save_as_external_data=True)``) need every
tensor in memory first, which for the fp32 SDXL UNet is another 10 GB beside the torch model that
is still alive. Here the graph is loaded with ``load_external_data=False``; graphsurgeon keeps such
weights as ``LazyValues`` and exports the original ``TensorProto`` untouched, so cleanup and
topological sort never read a weight. The weights are then copied file by file into
``<model>.onnx.data`` (each source file deleted once copied, so the scratch disk holds one copy),
with offsets aligned to 4 KiB pages so ONNX Runtime can memory-map them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: ONNX Runtime memory-maps external data whose offset is a multiple of the page size.
ALIGNMENT = 4096
COPY_CHUNK = 64 << 20


def _tensors(model: Any) -> Iterator[Any]:
    """Every TensorProto in the main graph: initializers and ``Constant`` nodes' values."""
    yield from model.graph.initializer
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t


def external_tensors(model: Any) -> list[Any]:
    import onnx

    return [tensor for tensor in _tensors(model) if tensor.data_location == onnx.TensorProto.EXTERNAL]


def externalize(model: Any, directory: Path, threshold: int = 1024) -> None:
    """Move every initializer's inline bytes out to ``directory``, freeing them as it goes.

    For graphs under 2 GB that are still large (OpenCLIP bigG in fp16 is 1.3 GB): graphsurgeon's
    export and ONNX shape inference each copy inline weights, which measured 10.3 GiB of RSS for
    bigG; with the weights on disk the graph they copy is a few megabytes.
    """
    path = directory / "inline-weights.data"
    with path.open("wb") as out:
        for tensor in _tensors(model):
            if tensor.HasField("raw_data") and len(tensor.raw_data) >= threshold:
                offset, length = out.tell(), len(tensor.raw_data)
                out.write(tensor.raw_data)
                tensor.ClearField("raw_data")
                point_to(tensor, path.name, offset, length)


def has_external_data(model: Any) -> bool:
    return bool(external_tensors(model))


def optimize_structure(model: Any) -> Any:
    """Cleanup, toposort and shape inference on a graph whose weights stay on disk.

    Constant folding (polygraphy, through ONNX Runtime) needs the weights, so large models skip it,
    as NVIDIA's demo does above 2 GB; TensorRT folds constants itself while building.
    """
    import onnx
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    graph.cleanup().toposort()
    model = gs.export_onnx(graph)
    return onnx.shape_inference.infer_shapes(model)


def consolidate(model: Any, source_dir: Path, destination: Path) -> Path:
    """Save ``model`` at ``destination`` with every external weight streamed into ``<name>.data``.

    ``source_dir`` is where the tensors' current ``location`` paths are relative to (torch's raw
    export directory, scratch space: its files are deleted once copied).
    """
    import onnx
    from onnx.external_data_helper import ExternalDataInfo

    destination.parent.mkdir(parents=True, exist_ok=True)
    data_path = destination.parent / f"{destination.name}.data"
    with data_path.open("wb") as out:
        for tensor in external_tensors(model):
            info = ExternalDataInfo(tensor)
            source = source_dir / info.location
            out.seek(_aligned(out.tell()))
            offset = out.tell()
            with source.open("rb") as data:
                data.seek(info.offset or 0)
                length = _copy(data, out, info.length)
            point_to(tensor, data_path.name, offset, length)
            if info.offset in (None, 0) and source.stat().st_size == length:
                source.unlink()  # one tensor per file (torch's layout): the copy replaces it
    onnx.save_model(model, str(destination))
    return data_path


def point_to(tensor: Any, location: str, offset: int, length: int) -> None:
    """Rewrite a tensor's external data reference in place.

    ``onnx.external_data_helper.set_external_data`` refuses tensors without ``raw_data``, which is
    exactly what a tensor loaded with ``load_external_data=False`` is; the reference is three
    key/value entries, written here the way that helper writes them.
    """
    import onnx

    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL


def _aligned(position: int) -> int:
    return -(-position // ALIGNMENT) * ALIGNMENT


def _copy(source: Any, out: Any, length: int | None) -> int:
    """Copy ``length`` bytes (or the rest of the file) in bounded chunks; returns the bytes copied."""
    if length is None:
        start = out.tell()
        shutil.copyfileobj(source, out, COPY_CHUNK)
        return int(out.tell() - start)
    remaining = length
    while remaining:
        chunk = source.read(min(COPY_CHUNK, remaining))
        if not chunk:
            raise OSError(f"external data ended {remaining} bytes early in {source.name}")
        out.write(chunk)
        remaining -= len(chunk)
    return length


def move_model(source: Path, destination: Path) -> None:
    """Move an ONNX file and its external weights (``<file>.data``, renamed alike: the graph refers to
    them by that relative name)."""
    shutil.move(str(source), destination)
    weights = source.parent / f"{source.name}.data"
    if weights.exists():
        shutil.move(str(weights), destination.parent / f"{destination.name}.data")
