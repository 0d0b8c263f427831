"""Gemma 3 and Gemma 2: what the architectures add, read from GGUF and Hugging Face folders (issue 13).

The tiny checkpoints are tests/importers/tiny_arch.py's (the ``arch_checkpoints`` fixture); test_architectures.py
checks them against transformers on both backends. Here: the IR they become, each layer's RoPE divisors, the
norm-weight convention, the sliding window per layer, the config.json forms transformers writes,
llama.cpp's constants for a GGUF, and what is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from rusty_ir.importers import load_model
from rusty_ir.importers.rope import default_inv_freq
from rusty_ir.importers.to_ir import build_module

from .tiny import edit_config, load_error
from .tiny_arch import GEMMA2_CAP, GEMMA_WINDOW


def _edited(src: Path, dst: Path, drop: tuple[str, ...] = (), **changes: Any) -> Path:
    """A copy of folder ``src`` at ``dst`` whose config.json has ``changes`` and lacks the keys ``drop``."""
    shutil.copytree(src, dst)
    return edit_config(dst, **dict.fromkeys(drop), **changes)


def test_gemma3_ir(arch_checkpoints) -> None:
    """Embeddings scaled by sqrt(64) = 8, attention scaled by 256^-0.5 (query_pre_attn_scalar = head dim), each layer
    two functions (attention, then the MLP with its norms), GeGLU, post-norms, each layer's RoPE divisors."""
    model = load_model(arch_checkpoints["gemma3_gguf"])
    text = str(build_module(model.config, model.weights))
    assert text.count("{scale = 8.000000e+00 : f32} : tensor<?xi32>, tensor<400x64xf32>") == 2  # prefill and decode
    assert "func.func @decoder_layer(" in text and "func.func @decoder_layer_ffn(" in text
    assert text.count("call @decoder_layer_ffn(") == 2 and "scale = 6.250000e-02 : f32" in text
    assert "tfm.gelu %" in text and 'approximate = "tanh"' in text and "tfm.silu" not in text
    assert '"blk.{}.post_attention_norm.weight"' in text and '"blk.{}.post_ffw_norm.weight"' in text
    assert '"blk.{}.rope_freqs.weight"[' in text and "head_dim = 256 : i64} : tensor<?x512xf32>, tensor<256xf32>" in text
    assert "tfm.softcap" not in text


def test_gemma2_ir(arch_checkpoints) -> None:
    """query_pre_attn_scalar 16 (not the head dim 32): scale 0.25; final-logit soft-capping on every logits entry."""
    model = load_model(arch_checkpoints["gemma2_folder"])
    assert model.config.logit_softcap == GEMMA2_CAP and model.config.sliding_layers == (0,)
    text = str(build_module(model.config, model.weights, logits_entry=True, verify_entry=True))
    assert "scale = 2.500000e-01 : f32" in text and "rope_freqs" not in text
    assert text.count("tfm.softcap") == 4 and "{cap = 1.000000e+01 : f32} : tensor<?x400xf32>" in text  # + @verify's rows


def test_gemma3_layers_rotate_on_their_own(arch_checkpoints) -> None:
    """The sliding layer 0 turns with base 10000 and no scaling, the global layer 1 with base 1e6 divided by 8 (the
    file's linear scaling), from the GGUF and from the folder alike."""
    for name in ("gemma3_gguf", "gemma3_folder"):
        model = load_model(arch_checkpoints[name])
        cfg = model.config
        assert cfg.sliding_layers == (0,) and cfg.rope_local_theta == 10000.0 and cfg.rope_per_layer
        assert "rope_freqs.weight" not in model.weights
        local = default_inv_freq(cfg.rope_theta, 256) / model.weights["blk.0.rope_freqs.weight"].to_numpy()
        np.testing.assert_allclose(local, 1.0 / 10000.0 ** (np.arange(0, 256, 2) / 256), rtol=1e-6)
        np.testing.assert_array_equal(model.weights["blk.1.rope_freqs.weight"].to_numpy(), np.full(128, 8.0, np.float32))


def test_norm_weights_are_one_plus_w(arch_checkpoints) -> None:
    """A folder stores Gemma's norm weights as w (applied as 1 + w), a GGUF as 1 + w (llama.cpp adds it): both load
    as the same multipliers."""
    from safetensors.numpy import load_file

    gguf_w = load_model(arch_checkpoints["gemma3_gguf"]).weights
    folder_w = load_model(arch_checkpoints["gemma3_folder"]).weights
    stored = load_file(arch_checkpoints["gemma3_folder"] / "model.safetensors")
    for gguf_name, hf_name in (("blk.1.post_attention_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
                               ("blk.1.ffn_norm.weight", "model.layers.1.pre_feedforward_layernorm.weight"),
                               ("blk.0.attn_q_norm.weight", "model.layers.0.self_attn.q_norm.weight"),
                               ("output_norm.weight", "model.norm.weight")):  # fmt: skip
        want = gguf_w[gguf_name].to_numpy()
        np.testing.assert_array_equal(folder_w[gguf_name].to_numpy(), want)
        np.testing.assert_array_equal(stored[hf_name] + np.float32(1.0), want)
        assert abs(float(stored[hf_name].mean())) < 0.2 < abs(float(want.mean()))


def test_the_window_is_per_layer(arch_checkpoints) -> None:
    """The context is the model's, not the window; a window shorter than it is a property of the sliding layers'
    attention (their own function), none where the window is never reached."""
    model = load_model(arch_checkpoints["gemma3_gguf"])
    assert model.config.context_length == GEMMA_WINDOW and model.config.sliding_window is None  # never reached
    assert model.config.sliding_layers == (0,) and [model.config.layer_window(i) for i in (0, 1)] == [None, None]
    assert "window =" not in str(build_module(model.config, model.weights))
    folder = _edited(arch_checkpoints["gemma3_folder"], arch_checkpoints["gemma3_folder"].parent / "long", max_position_embeddings=4096)
    cfg = load_model(folder).config
    assert (
        cfg.context_length == 4096 and cfg.sliding_window == GEMMA_WINDOW and [cfg.layer_window(i) for i in (0, 1)] == [GEMMA_WINDOW, None]
    )
    text = str(build_module(cfg, load_model(folder).weights))
    assert text.count(f"window = {GEMMA_WINDOW} : i64}}") == 1 and "@decoder_layer_1(" in text and "@decoder_layer_1_ffn" not in text


@pytest.mark.parametrize("form", ["pattern", "nested_rope", "default_pattern"])
def test_gemma3_config_forms(arch_checkpoints, tmp_path: Path, form: str) -> None:
    """The forms transformers reads: ``sliding_window_pattern`` instead of ``layer_types`` (its default 6 makes both tiny
    layers slide), and transformers 5's ``rope_parameters`` per layer kind instead of rope_theta/rope_local_base_freq."""
    src = arch_checkpoints["gemma3_folder"]
    want = load_model(src)
    if form == "nested_rope":
        rope = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}  # fmt: skip
        folder = _edited(src, tmp_path / form, drop=("rope_theta", "rope_local_base_freq", "rope_scaling"), rope_parameters=rope)
    else:
        folder = _edited(src, tmp_path / form, drop=("layer_types",), **({"sliding_window_pattern": 2} if form == "pattern" else {}))
    got = load_model(folder)
    assert got.config.sliding_layers == ((0, 1) if form == "default_pattern" else (0,))
    assert got.config.rope_theta == 1e6 and got.config.rope_local_theta == 10000.0
    for layer in (0, 1):
        name = f"blk.{layer}.rope_freqs.weight"
        same = layer == 0 or form != "default_pattern"
        assert np.array_equal(got.weights[name].to_numpy(), want.weights[name].to_numpy()) == same


def _gguf_config(tmp_path: Path, **kv: tuple[str, Any]):
    """The ModelConfig a metadata-only gemma3 GGUF gives (Gemma 3 27B's shape by default)."""
    from rusty_ir.importers.gguf import _config_from_gguf, read_gguf

    base = {"block_count": ("uint32", 62), "context_length": ("uint32", 131072), "embedding_length": ("uint32", 5376),
            "feed_forward_length": ("uint32", 21504), "attention.head_count": ("uint32", 32),
            "attention.head_count_kv": ("uint32", 16), "attention.key_length": ("uint32", 128), "vocab_size": ("uint32", 262208),
            "rope.freq_base": ("float32", 1e6), "attention.layer_norm_rms_epsilon": ("float32", 1e-6),
            "attention.sliding_window": ("uint32", 1024)}  # fmt: skip
    base.update(kv)
    path = tmp_path / "meta.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3")
    for key, (kind, value) in base.items():
        if value is not None:
            getattr(w, f"add_{kind}")(f"gemma3.{key}", value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return _config_from_gguf(read_gguf(path))[0]


def test_gguf_takes_llama_cpp_constants(tmp_path: Path) -> None:
    """A gemma3 GGUF stores no layer pattern, local RoPE base or query scalar: llama.cpp's constants (every 6th layer
    global, base 10000, the 27B model's queries scaled by 1/sqrt(hidden / heads) = 168^-0.5), the keys where given."""
    cfg = _gguf_config(tmp_path)
    assert cfg.sliding_layers == tuple(i for i in range(62) if (i + 1) % 6) and cfg.rope_local_theta == 10000.0
    assert cfg.query_pre_attn_scalar == 168.0 and cfg.attention_scale == pytest.approx(168**-0.5)
    assert cfg.context_length == 131072 and cfg.sliding_window == 1024
    cfg = _gguf_config(tmp_path, **{"block_count": ("uint32", 26), "rope.freq_base_swa": ("float32", 20000.0)})
    assert cfg.rope_local_theta == 20000.0 and cfg.query_pre_attn_scalar is None and cfg.attention_scale == pytest.approx(128**-0.5)
    cfg = _gguf_config(tmp_path, **{"attention.sliding_window": ("uint32", None)})  # no window: every layer global
    assert cfg.sliding_layers == () and cfg.context_length == 131072 and cfg.sliding_window is None


@pytest.mark.parametrize(
    ("source", "changes", "message"),
    [
        ("gemma2_folder", {"attn_logit_softcapping": -1.0}, "attn_logit_softcapping = -1.0: must be a finite number above 0"),
        ("gemma3_folder", {"hidden_activation": "gelu"}, "hidden_activation = 'gelu' is not supported for model_type 'gemma3_text'; "
                                                         "supported: gelu_pytorch_tanh"),
        ("gemma3_folder", {"use_bidirectional_attention": True}, "use_bidirectional_attention = true (an embedding model) is not supported"),
        ("gemma3_folder", {"model_type": "gemma3"}, "architecture 'gemma3' (model_type) is not supported yet: this is a multimodal Gemma 3 folder"),
        ("gemma3_folder", {"rope_parameters": {"sliding_attention": {"rope_type": "linear", "factor": 2.0}}},
         "rope_parameters.sliding_attention.rope_type = 'linear': scaling the sliding layers' RoPE is not supported"),
        ("gemma3_folder", {"layer_types": ["sliding_attention"]}, "layer_types must list one of sliding_attention, full_attention per layer (2)"),
    ],
)  # fmt: skip
def test_refused(arch_checkpoints, tmp_path: Path, source: str, changes: dict, message: str) -> None:
    msg = load_error(_edited(arch_checkpoints[source], tmp_path / "edited", **changes))
    assert "config.json: " in msg and message in msg, msg


def test_gemma2_gguf_takes_llama_cpp_defaults(arch_checkpoints) -> None:
    """llama.cpp soft-caps every gemma2 file's attention scores and logits, 50 and 30 unless the file says otherwise,
    and slides every other layer over 4096 positions unless it names a window."""
    cfg = load_model(arch_checkpoints["gemma2_gguf"]).config
    assert (cfg.attn_softcap, cfg.logit_softcap, cfg.sliding_layers) == (50.0, 30.0, (0,))
    assert cfg.sliding_window is None and cfg.context_length == GEMMA_WINDOW  # the file's window is its context: never reached
    path = arch_checkpoints["gemma2_gguf"]
    reader = gguf.GGUFReader(str(path))
    assert "gemma2.attn_logit_softcapping" not in reader.fields and "gemma2.final_logit_softcapping" not in reader.fields


def test_other_architectures_ignore_gemmas_keys(arch_checkpoints, tmp_path: Path) -> None:
    """transformers' Qwen3 (and llama.cpp's qwen3) read neither key: neither is applied."""
    folder = _edited(arch_checkpoints["qwen3_folder"], tmp_path / "qwen3", final_logit_softcapping=30.0, query_pre_attn_scalar=16)
    cfg = load_model(folder).config
    assert cfg.logit_softcap is None and cfg.query_pre_attn_scalar is None and cfg.attention_scale == pytest.approx(32**-0.5)
