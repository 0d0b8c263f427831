"""Tiny random-weight GGUF checkpoints: qwen2 with q/k/v biases, a SentencePiece vocabulary,
every supported tensor type; and the pre-tokenizers against llama.cpp's regexes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rusty_ir.importers import load_model
from rusty_ir.importers.tokenizer import PRE_TOKENIZERS, build_bpe_tokenizer
from rusty_ir.weights import READ_ONLY, SCHEMES, dequantize, quantize, random_blocks

from .conftest import DATA
from .tiny import byte_level_alphabet, random_weights, split_isolated, spm_tokenizer_fields, tiny_bpe_vocab, tiny_config, write_tiny_gguf


def test_qwen2_gguf_with_biases(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    m = load_model(write_tiny_gguf(tmp_path / "q.gguf", cfg, weights))
    c = m.config
    assert c.arch == "qwen2" and c.qkv_bias and c.rope_style == "half" and c.tied_embeddings
    assert c.replace(rms_eps=cfg.rms_eps, name="") == cfg.replace(name="")
    assert np.float32(c.rms_eps) == np.float32(cfg.rms_eps)
    for i in range(cfg.n_layers):
        for t, n in (("q", cfg.n_heads), ("k", cfg.n_kv_heads), ("v", cfg.n_kv_heads)):
            b = m.weights[f"blk.{i}.attn_{t}.bias"]
            assert b.shape == (n * cfg.head_dim,) and b.scheme.name == "f32"
            assert np.array_equal(b.to_numpy(), weights[f"blk.{i}.attn_{t}.bias"])
    tok = m.tokenizer
    ids = tok.encode("<|im_start|>the world 12<|im_end|>")
    assert ids[0] == tok.token_to_id("<|im_start|>") and ids[-1] == tok.token_to_id("<|im_end|>")
    assert [tok.id_to_token(i) for i in ids[1:-1]] == ["t", "he", "Ġworld", "Ġ", "1", "2"]  # qwen2: one digit each
    assert tok.decode(ids) == "<|im_start|>the world 12<|im_end|>"
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("name", ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k",
                                  "q6_k"])  # fmt: skip
def test_tensor_types(tmp_path, name):
    cfg = tiny_config("llama", hidden=256, n_heads=4, head_dim=64, n_kv_heads=2, ffn_hidden=256, n_layers=1)
    weights = random_weights(cfg, seed=3)
    extra = {}
    types = {}
    import gguf

    if name in READ_ONLY:  # no quantizer here: random block bytes with small f16 scales
        sch = SCHEMES[name]
        raw = random_blocks(sch, (cfg.ffn_hidden, cfg.hidden), np.random.default_rng(0)).reshape(cfg.ffn_hidden, -1)
        extra["blk.0.ffn_up.weight"] = (raw, gguf.GGMLQuantizationType(sch.ggml_type))
        del weights["blk.0.ffn_up.weight"]
    else:
        types["blk.0.ffn_up.weight"] = name
    m = load_model(write_tiny_gguf(tmp_path / "t.gguf", cfg, weights, types=types, extra_tensors=extra))
    v = m.weights["blk.0.ffn_up.weight"]
    assert v.scheme.name == name and v.shape == (cfg.ffn_hidden, cfg.hidden)
    if name in READ_ONLY:
        want = gguf.quants.dequantize(extra["blk.0.ffn_up.weight"][0], extra["blk.0.ffn_up.weight"][1])
    else:
        w = weights["blk.0.ffn_up.weight"]
        want = dequantize(quantize(w, SCHEMES[name]), SCHEMES[name], w.shape)
    assert np.array_equal(v.to_numpy(), want)


def _spm_gguf(tmp_path):
    d = json.loads((DATA / "spm_tiny.json").read_text(encoding="utf-8"))
    tok = spm_tokenizer_fields(DATA)
    cfg = tiny_config("llama", vocab=len(d["tokens"]), tied_embeddings=False, bos_token_id=1)
    path = write_tiny_gguf(tmp_path / "spm.gguf", cfg, random_weights(cfg), tokenizer=tok)
    return load_model(path), d


def test_sentencepiece_vocab_matches_sentencepiece(tmp_path):
    m, d = _spm_gguf(tmp_path)
    tok = m.tokenizer
    assert m.config.rope_style == "interleaved" and not m.config.tied_embeddings
    for case in d["cases"]:
        ids = tok.encode(case["text"])
        assert ids == case["ids"], case["text"]
        assert tok.decode(ids, skip_special_tokens=True) == case["text"]
        stream = tok.stream(skip_special_tokens=True)
        assert "".join(stream(ids)) == case["text"]
    assert tok.encode("Hello world", add_special_tokens=False) == d["cases"][0]["ids"][1:]
    eos = d["tokens"][d["eos_token_id"]]
    assert tok.encode(f"Hello{eos}", add_special_tokens=False)[-1] == d["eos_token_id"]
    assert tok.bos_token_id == 1 and tok.eos_token_ids == (2,)


TEXTS = [
    "Hello world's   test\n\n  it'S ok",
    "12345678 and ٣٤٥ digits, ½ and ² too",
    "tabs\tand\r\nnewlines\n\n\nend  ",
    "Ünïcödé 日本語のテキスト 🦙🚀 don't YOU'LL",
    "a+b=c; x->y ... !!! ???\n",
]


@pytest.mark.parametrize("pre", ["smollm", "llama-bpe", "qwen2", "gpt2"])
def test_pre_tokenizer_splits_like_llama_cpp(pre):
    """Our tokenizers pipeline splits text exactly where llama.cpp's regexes do."""
    tokens, merges, types = tiny_bpe_vocab()
    tk = build_bpe_tokenizer(tokens, merges, pre=pre, token_types=types)
    alphabet = byte_level_alphabet()
    unbyte = {c: b for b, c in enumerate(alphabet)}
    for text in TEXTS:
        pieces = [text]
        for rx in PRE_TOKENIZERS[pre]:
            pieces = [p for piece in pieces for p in split_isolated(rx, piece)]
        got = [bytes(unbyte[c] for c in s).decode("utf-8") for s, _ in tk.pre_tokenizer.pre_tokenize_str(text)]
        assert got == pieces, (pre, text)
