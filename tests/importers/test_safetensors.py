"""Hugging Face folders: SmolLM2 re-exported from the GGUF, and tiny random checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from rusty_ir.importers import load_model
from rusty_ir.importers.export import half_to_interleaved, interleaved_to_half, write_hf_folder
from rusty_ir.importers.safetensors import gguf_to_hf_name
from rusty_ir.weights import SCHEMES, dequantize, quantize

from .tiny import random_weights, tiny_config, write_tiny_gguf


def _bf16(x: np.ndarray) -> np.ndarray:
    return dequantize(quantize(x, SCHEMES["bf16"]), SCHEMES["bf16"], x.shape)


@pytest.fixture(scope="module")
def smollm2_hf(smollm2, tmp_path_factory):
    """SmolLM2 as a 2-shard Hugging Face folder: BF16 matrices, F32 norms (~260 MB, ~3 s)."""
    folder = tmp_path_factory.mktemp("smollm2_hf")
    write_hf_folder(smollm2, folder, dtype="bf16", norm_dtype="f32", shards=2)
    return load_model(folder)


def test_same_config_as_gguf(smollm2, smollm2_hf):
    a, b = smollm2.config, smollm2_hf.config
    assert b.rope_style == "half" and a.rope_style == "interleaved"
    assert a.replace(rope_style="half", name="") == b.replace(name="")
    assert smollm2_hf.format == "safetensors"


def test_same_tensors_as_gguf(smollm2, smollm2_hf):
    ga, hb = smollm2.weights, smollm2_hf.weights
    assert set(ga) == set(hb)
    for name in ga:
        assert ga[name].shape == hb[name].shape, name
        assert hb[name].scheme.name == ("f32" if len(ga[name].shape) == 1 else "bf16"), name
    # values: one embedding row, a norm, a projection
    row = ga["token_embd.weight"].to_numpy()[7042]
    assert np.array_equal(hb["token_embd.weight"].to_numpy()[7042], _bf16(row))
    assert np.array_equal(hb["blk.5.attn_norm.weight"].to_numpy(), ga["blk.5.attn_norm.weight"].to_numpy())
    assert np.array_equal(hb["blk.2.ffn_down.weight"].to_numpy(), _bf16(ga["blk.2.ffn_down.weight"].to_numpy()))


def test_q_k_rows_are_in_half_order(smollm2, smollm2_hf):
    cfg = smollm2.config
    for name, heads in (("blk.0.attn_q.weight", cfg.n_heads), ("blk.7.attn_k.weight", cfg.n_kv_heads)):
        g = smollm2.weights[name].to_numpy()
        h = smollm2_hf.weights[name].to_numpy()
        assert np.array_equal(h, _bf16(interleaved_to_half(g, heads)))
        assert not np.array_equal(h, _bf16(g))
        assert np.array_equal(half_to_interleaved(interleaved_to_half(g, heads), heads), g)
    # the permutation within a head: HF row s*D/2 + i is GGUF row 2i + s
    d = cfg.head_dim
    idx = np.arange(cfg.n_heads * d, dtype=np.float32)[:, None]
    perm = interleaved_to_half(idx, cfg.n_heads)[:, 0].astype(int)
    assert perm[1] == 2 and perm[d // 2] == 1 and perm[d + d // 2 + 3] == d + 7


def test_tokenizer_json_matches_oracle(smollm2_hf, oracle):
    tok = smollm2_hf.tokenizer
    for p in oracle["prompts"]:
        assert tok.encode(p["prompt_text"]) == p["input_ids"], p["name"]
        assert tok.decode(p["generated_ids"]) == p["generated_text"], p["name"]
        if p.get("messages"):
            assert tok.apply_chat_template(p["messages"]) == p["prompt_text"]
    assert tok.eos_token_ids == smollm2_hf.config.eos_token_ids == (2,)


def test_views_are_zero_copy(smollm2_hf):
    data = [v.data for v in smollm2_hf.weights.values()]
    assert all(isinstance(d, np.memmap) and d.dtype == np.uint8 for d in data)
    assert len({id(d.base) for d in data}) == 2  # one map per shard


def _tiny_folder(tmp_path, cfg, weights, *, dtype, tokenizer_from):
    """Write a HF folder with the safetensors package (F32/F16) or our writer (BF16)."""
    hf = {gguf_to_hf_name(n): w for n, w in weights.items()}
    if dtype == "bf16":
        from rusty_ir.importers.export import write_safetensors

        write_safetensors(
            tmp_path / "model.safetensors",
            {n: ("BF16", w.shape, (lambda w=w: quantize(w, SCHEMES["bf16"]))) for n, w in hf.items()},
        )
    else:
        np_dtype = np.float32 if dtype == "f32" else np.float16
        safetensors.numpy.save_file({n: w.astype(np_dtype) for n, w in hf.items()}, str(tmp_path / "model.safetensors"))
    from rusty_ir.importers.export import hf_config_dict

    (tmp_path / "config.json").write_text(json.dumps(hf_config_dict(cfg)))
    tokenizer_from.tokenizer.save(tmp_path / "tokenizer.json")
    return tmp_path


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_tiny_qwen2_folder(tmp_path, dtype):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg, seed=1)
    gg = load_model(write_tiny_gguf(tmp_path / "tiny.gguf", cfg, weights))
    (tmp_path / "hf").mkdir()
    folder = _tiny_folder(tmp_path / "hf", cfg, weights, dtype=dtype, tokenizer_from=gg)
    m = load_model(folder)
    assert m.config.replace(name="") == cfg.replace(name="")
    assert m.config.qkv_bias and m.config.rope_style == "half"
    assert set(m.weights) == set(weights)
    for name, w in weights.items():
        got = m.weights[name]
        assert got.scheme.name == dtype
        want = {"f32": w, "f16": w.astype(np.float16).astype(np.float32), "bf16": _bf16(w)}[dtype]
        assert np.array_equal(got.to_numpy(), want), name
    # cross-check our header parsing with the safetensors package's own reader
    raw = (folder / "model.safetensors").read_bytes()
    for name, info in safetensors.deserialize(raw):
        view = m.weights[gguf_to_hf_name_inverse(name)]
        assert list(view.shape) == info["shape"]
        assert bytes(view.data) == bytes(info["data"])
    assert m.tokenizer.encode("the world <|im_end|>") == gg.tokenizer.encode("the world <|im_end|>")


def gguf_to_hf_name_inverse(name: str) -> str:
    from rusty_ir.importers.safetensors import hf_to_gguf_name

    return hf_to_gguf_name(name) or name


def test_untied_llama_folder_has_lm_head(tmp_path):
    cfg = tiny_config("llama", tied_embeddings=False, rope_style="half")
    weights = random_weights(cfg, seed=2)
    assert "output.weight" in weights
    gg = load_model(write_tiny_gguf(tmp_path / "t.gguf", cfg.replace(rope_style="interleaved"), weights))
    (tmp_path / "hf").mkdir()
    m = load_model(_tiny_folder(tmp_path / "hf", cfg, weights, dtype="f32", tokenizer_from=gg))
    assert not m.config.tied_embeddings and m.config.arch == "llama" and not m.config.qkv_bias
    assert np.array_equal(m.weights["output.weight"].to_numpy(), weights["output.weight"])
