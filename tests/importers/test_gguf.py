"""The SmolLM2 GGUF loads: config, shapes, schemes, zero-copy views, values."""

from __future__ import annotations

import numpy as np
from gguf.quants import dequantize as gguf_dequantize

from rusty_ir.importers.config import expected_tensors


def test_config_matches_oracle(smollm2, oracle):
    cfg, m = smollm2.config, oracle["model"]
    assert cfg.arch == m["architecture"]
    assert cfg.n_layers == m["n_layer"]
    assert cfg.hidden == m["d_model"]
    assert cfg.n_heads == m["n_head"]
    assert cfg.n_kv_heads == m["n_kv_head"]
    assert cfg.head_dim == m["head_dim"] == cfg.rope_dim
    assert cfg.ffn_hidden == m["ffn_dim"]
    assert cfg.vocab == m["vocab_size"]
    assert cfg.rope_theta == m["rope_freq_base"]
    assert cfg.rms_eps == m["rms_norm_eps"]
    assert cfg.tied_embeddings is m["tied_embeddings"]
    assert cfg.rope_style == "interleaved"
    assert cfg.qkv_bias is False
    assert cfg.context_length == 8192
    assert smollm2.format == "gguf" and smollm2.chat_template.startswith("{% for message in messages %}")


def test_tensors_shapes_and_schemes(smollm2, oracle):
    w, cfg = smollm2.weights, smollm2.config
    specs = expected_tensors(cfg)
    assert set(w) == set(specs)  # 272 tensors, no output.weight (tied)
    assert "output.weight" not in w
    for name, spec in specs.items():
        assert w[name].shape == spec.shape, name
    assert w["token_embd.weight"].shape == (cfg.vocab, cfg.hidden)
    assert w["blk.0.attn_k.weight"].shape == (cfg.n_kv_heads * cfg.head_dim, cfg.hidden)
    assert w["blk.0.ffn_down.weight"].shape == (cfg.hidden, cfg.ffn_hidden)
    types = oracle["model"]["weight_types"]
    assert w["token_embd.weight"].scheme.name == types["token_embd"].lower()
    for i in range(cfg.n_layers):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
            assert w[f"blk.{i}.{t}.weight"].scheme.name == types["attn/ffn matrices"].lower()
        for t in ("attn_norm", "ffn_norm"):
            assert w[f"blk.{i}.{t}.weight"].scheme.name == types["norms"].lower()


def test_views_are_zero_copy_slices_of_one_map(smollm2):
    w = smollm2.weights
    views = [w[n].data for n in w]
    bases = {id(v.base) for v in views}
    assert len(bases) == 1  # all slices of the same memory map
    assert all(isinstance(v, np.memmap) and v.dtype == np.uint8 and not v.flags.writeable for v in views)


def test_matches_gguf_reader(smollm2_reader, smollm2):
    """Our header parser agrees with gguf.GGUFReader on every tensor and metadata value."""
    r = smollm2_reader
    w = smollm2.weights
    for t in r.tensors:
        v = w[t.name]
        assert v.shape == tuple(reversed([int(d) for d in t.shape])), t.name
        assert v.scheme.ggml_type == int(t.tensor_type), t.name
        base = v.data.base if isinstance(v.data.base, np.ndarray) else v.data
        assert v.data.ctypes.data - base.ctypes.data == t.data_offset, t.name  # same bytes of the file
        assert v.nbytes == t.n_bytes, t.name
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        a, b = field.contents(), smollm2.metadata[key]
        assert np.float32(a) == np.float32(b) if isinstance(a, float) else a == b, key


def test_token_embd_row_dequantizes_like_gguf(smollm2, smollm2_reader):
    r = smollm2_reader
    t = next(t for t in r.tensors if t.name == "token_embd.weight")
    row = 7042
    ours = smollm2.weights["token_embd.weight"]
    row_bytes = ours.scheme.row_bytes(ours.shape[1])
    mine = ours.data[row * row_bytes : (row + 1) * row_bytes]
    from rusty_ir.weights import dequantize

    got = dequantize(mine, ours.scheme, (1, ours.shape[1]))[0]
    want = gguf_dequantize(t.data[row : row + 1], t.tensor_type)[0]
    assert got.dtype == np.float32 and np.array_equal(got, want)
    full_q = smollm2.weights["blk.3.attn_q.weight"]
    tq = next(t for t in r.tensors if t.name == "blk.3.attn_q.weight")
    assert np.array_equal(full_q.to_numpy(), gguf_dequantize(tq.data, tq.tensor_type))
