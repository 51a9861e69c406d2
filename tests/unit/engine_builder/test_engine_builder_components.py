"""Component tables and the tiny model's configs follow NVIDIA's names and SDXL's wiring rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_builder import tiny
from engine_builder.components import COMPONENTS, Dims, component_spec, export_latent_size, sample_inputs
from engine_builder.scenes import vocabulary
from tests.builder_extra import builder_module


def test_nvidia_tensor_names_per_component():
    names = {name: ([t.name for t in component_spec(name, Dims()).inputs],
                    [t.name for t in component_spec(name, Dims()).outputs]) for name in COMPONENTS}
    assert names == {
        "clip": (["input_ids"], ["text_embeddings", "hidden_states"]),
        "clip2": (["input_ids"], ["text_embeddings", "hidden_states"]),
        "unetxl": (["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"], ["latent"]),
        "vae": (["latent"], ["images"]),
    }


def test_fp16_exports_keep_the_vae_and_timestep_in_fp32():
    assert {t.dtype for t in component_spec("vae", Dims(), "float16").outputs} == {"float32"}
    unet = {t.name: t.dtype for t in component_spec("unetxl", Dims(), "float16").inputs}
    assert unet["timestep"] == "float32" and unet["sample"] == "float16"


def test_sample_inputs_have_the_guided_batch_and_sdxl_time_ids():
    feeds = sample_inputs(component_spec("unetxl", Dims()), 2, 9, 13)
    assert feeds["sample"].shape == (4, 4, 9, 13)
    assert feeds["encoder_hidden_states"].shape == (4, 77, 2048)
    assert feeds["time_ids"][0].tolist() == [72, 104, 0, 0, 72, 104]
    assert feeds["timestep"].shape == (4,)


@pytest.mark.parametrize(("latent", "factor", "expected"), [(128, 4, 127), (127, 4, 127), (32, 8, 31), (30, 4, 30)])
def test_the_trace_size_is_never_a_multiple_of_the_up_factor(latent, factor, expected):
    assert export_latent_size(latent, factor) == expected


def test_the_tiny_model_follows_the_sdxl_wiring_rules():
    unet = tiny.unet_config()
    assert unet["cross_attention_dim"] == tiny.TEXT1_HIDDEN + tiny.TEXT2_HIDDEN
    assert unet["projection_class_embeddings_input_dim"] == 6 * unet["addition_time_embed_dim"] + tiny.TEXT2_PROJECTION
    assert unet["addition_embed_type"] == "text_time"
    assert len(tiny.vae_config()["block_out_channels"]) == 4  # three down-samplings: x8


def test_the_offline_tokenizer_loads_and_wraps_text_in_bos_eos(tmp_path: Path):
    transformers = builder_module("transformers", "the tokenizer is transformers' CLIPTokenizer")
    tiny.write_tokenizer(tmp_path)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(tmp_path)
    vocab = tiny.tokenizer_vocab()
    ids = tokenizer("A cat", padding="max_length", max_length=77, truncation=True).input_ids
    assert len(ids) == 77
    assert ids[0] == vocab[tiny.BOS]
    assert ids[1:5] == [vocab["a</w>"], vocab["c"], vocab["a"], vocab["t</w>"]]  # lower-cased bytes
    assert ids[5] == vocab[tiny.EOS] and ids[-1] == vocab[tiny.EOS]
    assert len(vocab) == tiny.text_encoder_config(8, 8)["vocab_size"]


def test_the_tiny_tokenizer_makes_each_grammar_word_one_token_and_spells_other_words(tmp_path: Path):
    transformers = builder_module("transformers", "the tokenizer is transformers' CLIPTokenizer")
    tiny.write_tokenizer(tmp_path)
    tokenizer = transformers.CLIPTokenizer.from_pretrained(tmp_path)
    split = {word: tokenizer.tokenize(word) for word in vocabulary.grammar_words()}
    assert {word: tokens for word, tokens in split.items() if tokens != [f"{word}</w>"]} == {}
    assert tokenizer.tokenize("a large triangle right of a circle") == [
        "a</w>", "large</w>", "triangle</w>", "right</w>", "of</w>", "a</w>", "circle</w>"]
    # outside the grammar: bytes and partial merges
    assert tokenizer.tokenize("reddish") == ["re", "d", "d", "i", "s", "h</w>"]
