"""Real size without a download: SDXL's published architecture, its wiring checked from configs,
ONNX weights over 2 GB streamed into one file, and the TensorRT profile checked against the graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine_builder import sdxl_architecture
from engine_builder.components import Dims, component_spec, trace_latent_size
from engine_builder.errors import SourceError
from engine_builder.export import pin_fixed_dims
from engine_builder.trt import io_problems
from engine_builder.wiring import check_sdxl_wiring, wiring_errors
from tests.builder_extra import builder_module

SDXL = {
    "text_encoder": sdxl_architecture.text_encoder_config(),
    "text_encoder_2": sdxl_architecture.text_encoder_2_config(),
    "unet": sdxl_architecture.unet_config(),
    "vae": sdxl_architecture.vae_config(),
}


@pytest.mark.parametrize(("component", "in_channels", "published"), [
    ("text_encoder", 4, "text_encoder"), ("text_encoder_2", 4, "text_encoder_2"), ("unet", 4, "unet"),
    ("vae", 4, "vae"), ("unet", 9, "inpaint_unet"),
])
def test_the_architecture_has_sdxl_bases_published_parameter_counts(component, in_channels, published):
    builder_module("diffusers", "the components are instantiated on the meta device")
    count = sdxl_architecture.parameter_count(component, in_channels)
    assert count == sdxl_architecture.PUBLISHED_PARAMETERS[published]


def test_the_tokenizer_has_clips_layout():
    vocab = sdxl_architecture.tokenizer_vocab()
    assert len(vocab) == sdxl_architecture.VOCAB_SIZE == 49_408
    assert (vocab["<|startoftext|>"], vocab["<|endoftext|>"], vocab["!"]) == (49_406, 49_407, 0)


def test_seeded_values_depend_on_the_tensor_name_not_the_order():
    first = sdxl_architecture.initial_values("down.0.weight", (8, 4, 3, 3), np.float16)
    again = sdxl_architecture.initial_values("down.0.weight", (8, 4, 3, 3), np.float16)
    other = sdxl_architecture.initial_values("down.1.weight", (8, 4, 3, 3), np.float16)
    bound = 1 / np.sqrt(4 * 3 * 3)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.dtype == np.float16 and np.abs(first).max() <= bound * 1.001
    assert np.all(sdxl_architecture.initial_values("norm.weight", (8,), np.float32) == 1)
    assert np.all(sdxl_architecture.initial_values("norm.bias", (8,), np.float32) == 0)


def test_shards_stay_under_the_limit_unless_one_tensor_is_larger(monkeypatch):
    monkeypatch.setattr(sdxl_architecture, "SHARD_BYTES", 100)
    tensors = [("a", (10,)), ("b", (10,)), ("c", (30,)), ("d", (5,))]
    shards = list(sdxl_architecture._shards(tensors, itemsize=4))
    assert [[name for name, _ in shard] for shard in shards] == [["a", "b"], ["c"], ["d"]]


def test_every_output_names_the_weights_random():
    index = sdxl_architecture.model_index("sdxl-architecture")
    assert "RANDOM" in index["_notice"] and "Not a checkpoint" in index["_notice"]
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]


def test_sdxl_bases_wiring_passes_and_the_dims_follow_it():
    assert wiring_errors(*SDXL.values()) == []
    assert Dims().cross_attention == SDXL["unet"]["cross_attention_dim"] == 2048


@pytest.mark.parametrize(("component", "change", "named"), [
    ("unet", {"addition_embed_type": None}, "unet.addition_embed_type"),
    ("unet", {"cross_attention_dim": 768}, "unet.cross_attention_dim is 768"),
    ("text_encoder_2", {"projection_dim": 1024}, "unet.projection_class_embeddings_input_dim"),
    ("text_encoder", {"max_position_embeddings": 64}, "text_encoder.max_position_embeddings"),
    ("vae", {"latent_channels": 16}, "vae.latent_channels is 16"),
    ("vae", {"block_out_channels": [128, 256, 512]}, "vae.block_out_channels has 3 levels"),
])
def test_a_mis_wired_source_names_the_field(component, change, named):
    configs = {**SDXL, component: {**SDXL[component], **change}}
    errors = wiring_errors(*configs.values())
    assert len(errors) == 1 and named in errors[0]


def test_the_wiring_is_checked_from_the_config_files_before_any_weight(tmp_path: Path):
    for component, config in SDXL.items():
        (tmp_path / component).mkdir()
        (tmp_path / component / "config.json").write_text(json.dumps(config))
    check_sdxl_wiring(tmp_path)  # no weight file exists: only configs are read
    (tmp_path / "unet" / "config.json").write_text(json.dumps({**SDXL["unet"], "cross_attention_dim": 1280}))
    with pytest.raises(SourceError, match=r"unet\.cross_attention_dim is 1280"):
        check_sdxl_wiring(tmp_path)


def test_the_real_unet_is_traced_small_and_off_its_up_factor():
    assert trace_latent_size(128, 4) == 31  # 1024 px: traced at 31x31, not 127x127
    assert trace_latent_size(8, 4) == 7 and trace_latent_size(9, 4) == 9


def test_the_profile_check_names_every_difference_with_the_graph():
    spec = component_spec("clip", Dims(), "float16")
    graph = {"input_ids": ("int32", ("B", 77)), "text_embeddings": ("float32", ("B", 77, 768)),
             "hidden_states": ("float16", (1, 77, 768)), "extra": ("float16", ("B",))}
    assert io_problems(spec, graph) == [
        "unexpected tensor 'extra'",
        "text_embeddings: dtype float32, the profile expects float16",
        "hidden_states: axis 0 is fixed at 1, the profile needs it dynamic (B)",
    ]
    exact = {t.name: (t.dtype, t.axes) for t in (*spec.inputs, *spec.outputs)}
    assert io_problems(spec, exact) == []
    # unfolded graphs (over 1 GB) may leave a fixed size symbolic: the profile pins it
    assert io_problems(spec, {**exact, "hidden_states": ("float16", ("B", "Add_dim_1", 768))}) == []
    assert io_problems(spec, {**exact, "input_ids": ("int32", ("B", 64))}) == [
        "input_ids: axis 1 is 64, the profile expects 77"]


def test_an_output_dim_the_exporter_left_symbolic_is_pinned_to_the_spec():
    """Full-size bigG (over 1 GB, no constant folding) came out of torch as [B, Addhidden_states_dim_1, 1280];
    the Triton config says 77 tokens. The spec's fixed sizes are written back; the batch axis stays free."""
    onnx = builder_module("onnx", "the export's graph is an ONNX model")

    helper = onnx.helper
    spec = component_spec("clip2", Dims(), "float32")  # SDXL base's sizes
    outputs = [helper.make_tensor_value_info("text_embeddings", onnx.TensorProto.FLOAT, ["B", 1280]),
               helper.make_tensor_value_info("hidden_states", onnx.TensorProto.FLOAT,
                                             ["B", "Addhidden_states_dim_1", 1280])]
    graph = helper.make_graph([], "g", [helper.make_tensor_value_info("input_ids", onnx.TensorProto.INT32, ["B", 77])],
                              outputs)
    pinned = pin_fixed_dims(helper.make_model(graph), spec)
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in pinned.graph.output}
    assert shapes == {"text_embeddings": ["B", 1280], "hidden_states": ["B", 77, 1280]}
