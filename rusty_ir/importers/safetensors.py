"""Hugging Face folder importer: ``config.json``, ``model.safetensors`` (or a sharded
``model.safetensors.index.json``) and ``tokenizer.json``.

Each shard is memory-mapped once with ``np.memmap``; its header (8-byte little-endian
length, then JSON) is parsed here, so every tensor, BF16 included (numpy has no bf16), is
a zero-copy uint8 slice of the map. Hugging Face names are renamed to the GGUF names the
rest of the compiler uses (``HF_TO_GGUF``). q/k projections stay in Hugging Face's
"half" rope layout: no permutation, and ``config.rope_style == "half"``.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.weights import SCHEMES, TensorView, WeightStore

from .config import ModelConfig, check_tensors

DTYPES = {"F32": SCHEMES["f32"], "F16": SCHEMES["f16"], "BF16": SCHEMES["bf16"]}
"""safetensors dtypes this importer reads."""

HF_GLOBAL = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
HF_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_HF_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_IGNORED = re.compile(r"(^|\.)rotary_emb\.inv_freq$")
_GGUF_LAYER_RE = re.compile(r"^blk\.(\d+)\.(.+)$")
_GGUF_TO_HF_LAYER = {v: k for k, v in HF_LAYER.items()}
_GGUF_TO_HF_GLOBAL = {v: k for k, v in HF_GLOBAL.items()}


def hf_to_gguf_name(name: str) -> str | None:
    """The GGUF name of a Hugging Face tensor name, or None if it has none."""
    if name in HF_GLOBAL:
        return HF_GLOBAL[name]
    m = _HF_LAYER_RE.match(name)
    if m and m.group(2) in HF_LAYER:
        return f"blk.{m.group(1)}.{HF_LAYER[m.group(2)]}"
    return None


def gguf_to_hf_name(name: str) -> str:
    """The Hugging Face name of a GGUF tensor name (inverse of ``hf_to_gguf_name``)."""
    if name in _GGUF_TO_HF_GLOBAL:
        return _GGUF_TO_HF_GLOBAL[name]
    m = _GGUF_LAYER_RE.match(name)
    if m and m.group(2) in _GGUF_TO_HF_LAYER:
        return f"model.layers.{m.group(1)}.{_GGUF_TO_HF_LAYER[m.group(2)]}"
    return name


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """(header dict, data start, file size) of a .safetensors file; reads only the header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise RustyError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8 or n > 100_000_000:
                raise RustyError(f"{path}: truncated or not a safetensors file (header length {n}, file size {size})")
            raw = fh.read(n)
    except OSError as e:
        raise RustyError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RustyError(f"{path}: not a safetensors file (header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise RustyError(f"{path}: not a safetensors file (header is not a JSON object)")
    return header, 8 + n, size


def _shard_views(path: Path) -> dict[str, TensorView]:
    header, start, size = read_safetensors_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r") if size > 0 else np.zeros(0, np.uint8)
    views: dict[str, TensorView] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise RustyError(f"{path}: malformed header entry for tensor '{name}'") from None
        if _IGNORED.search(name):
            continue
        sch = DTYPES.get(dtype)
        if sch is None:
            raise RustyError(f"{path}: tensor '{name}' has unsupported dtype {dtype} (supported: {', '.join(DTYPES)})")
        if not (0 <= begin <= end) or start + end > size:
            raise RustyError(f"{path}: truncated file: tensor '{name}' needs bytes {start + begin}..{start + end}, the file has {size}")
        expected = sch.nbytes(shape) if shape else sch.block_bytes
        if end - begin != expected:
            raise RustyError(
                f"{path}: tensor '{name}' of shape {list(shape)} in {dtype} needs {expected} bytes, the header gives {end - begin}"
            )
        views[name] = TensorView(name, shape or (1,), sch, mm[start + begin : start + end], source=str(path))
    return views


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RustyError(f"{path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:
        raise RustyError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RustyError(f"{path}: expected a JSON object")
    return data


def _config_from_hf(cfg: dict[str, Any], path: Path, folder: Path) -> tuple[ModelConfig, dict[str, str]]:
    model_type = cfg.get("model_type")
    arch = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}.get(model_type)  # type: ignore[arg-type]
    if arch is None:
        raise RustyError(f"{path}: unknown architecture: model_type={model_type!r} (supported: llama, mistral, qwen2)")
    if cfg.get("mlp_bias"):
        raise RustyError(f"{path}: mlp_bias=true is not supported")
    if arch == "llama" and cfg.get("attention_bias"):
        raise RustyError(f"{path}: attention_bias=true is not supported for model_type {model_type!r}")
    keys = {
        "n_layers": "num_hidden_layers",
        "hidden": "hidden_size",
        "n_heads": "num_attention_heads",
        "n_kv_heads": "num_key_value_heads",
        "head_dim": "head_dim",
        "ffn_hidden": "intermediate_size",
        "vocab": "vocab_size",
        "rms_eps": "rms_norm_eps",
        "context_length": "max_position_embeddings",
    }

    def get(field: str, default: Any = ...) -> Any:
        key = keys[field]
        val = cfg.get(key)
        if val is None:
            if default is ...:
                raise RustyError(f"{path}: missing key '{key}'")
            return default
        return val

    try:
        hidden, n_heads = int(get("hidden")), int(get("n_heads"))
        head_dim = int(get("head_dim", 0)) or hidden // n_heads
        rope = cfg.get("rope_parameters") or {}
        rope_theta = cfg.get("rope_theta", rope.get("rope_theta", 10000.0))
        scaling = cfg.get("rope_scaling") or {k: v for k, v in rope.items() if k != "rope_theta"}
        if scaling.get("rope_type", scaling.get("type")) in (None, "default"):
            scaling = {}
        rope_dim = int(head_dim * float(cfg.get("partial_rotary_factor", 1.0)))
        gen = folder / "generation_config.json"
        eos = _load_json(gen).get("eos_token_id") if gen.is_file() else None
        if eos is None:
            eos = cfg.get("eos_token_id")
        eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list) else [eos] if eos is not None else []))
        bos = cfg.get("bos_token_id")
        config = ModelConfig(
            arch=arch,
            n_layers=int(get("n_layers")),
            hidden=hidden,
            n_heads=n_heads,
            n_kv_heads=int(get("n_kv_heads", n_heads)),
            head_dim=head_dim,
            ffn_hidden=int(get("ffn_hidden")),
            vocab=int(get("vocab")),
            rope_theta=float(rope_theta),
            rope_style="half",
            rms_eps=float(get("rms_eps", 1e-6)),
            context_length=int(get("context_length", 2048)),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qkv_bias=arch == "qwen2",
            rope_dim=rope_dim,
            bos_token_id=None if bos is None else int(bos),
            eos_token_ids=eos_ids,
            rope_scaling=tuple(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in scaling.items())) or None,
            name=str(cfg.get("_name_or_path", folder.name)),
        )
    except (TypeError, ValueError) as e:
        raise RustyError(f"{path}: bad value: {e}") from None
    if "head_dim" not in cfg:
        keys["head_dim"] = "hidden_size/num_attention_heads"
    return config, keys


def load_safetensors_folder(folder: str | Path):
    """Import a Hugging Face model folder (F32/F16/BF16 safetensors)."""
    from . import LoadedModel  # noqa: PLC0415
    from .tokenizer import tokenizer_from_folder  # noqa: PLC0415

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RustyError(f"{folder}: not a model folder (no config.json)")
    hf_cfg = _load_json(config_path)
    cfg, keys = _config_from_hf(hf_cfg, config_path, folder)

    index = folder / "model.safetensors.index.json"
    single = folder / "model.safetensors"
    if single.is_file():
        shards = [single]
        shard_of: dict[str, Path] | None = None
    elif index.is_file():
        weight_map = _load_json(index).get("weight_map")
        if not isinstance(weight_map, dict):
            raise RustyError(f"{index}: missing key 'weight_map'")
        shard_of = {name: folder / str(file) for name, file in weight_map.items()}
        shards = list(dict.fromkeys(shard_of.values()))
        for s in shards:
            if not s.is_file():
                raise RustyError(f"{index}: shard file {s.name} does not exist")
    else:
        raise RustyError(f"{folder}: no model.safetensors or model.safetensors.index.json")

    views: dict[str, TensorView] = {}
    file_of: dict[str, Path] = {}
    hf_name: dict[str, str] = {}
    for shard in shards:
        for name, view in _shard_views(shard).items():
            if shard_of is not None and shard_of.get(name, shard) != shard:
                raise RustyError(f"{shard}: tensor '{name}' is listed in {index.name} under {shard_of[name].name}")
            target = hf_to_gguf_name(name) or name
            if target in views:
                raise RustyError(f"{shard}: tensor '{name}' also appears in {file_of[target]}")
            views[target] = TensorView(target, view.shape, view.scheme, view.data, source=str(shard))
            file_of[target] = shard
            hf_name[target] = name
    if shard_of is not None:
        for name, shard in shard_of.items():
            if (hf_to_gguf_name(name) or name) not in views and not _IGNORED.search(name):
                raise RustyError(f"{shard}: missing tensor '{name}' (listed in {index.name})")
    if cfg.tied_embeddings:
        views.pop("output.weight", None)

    check_tensors(
        cfg,
        {name: v.shape for name, v in views.items()},
        source_of=lambda n: str(file_of.get(n, shards[0] if len(shards) == 1 else folder)),
        display_name=lambda n: hf_name.get(n, gguf_to_hf_name(n)),
        key_of=keys,
        config_source=str(config_path),
    )
    tok = tokenizer_from_folder(folder, bos_token_id=cfg.bos_token_id, eos_token_ids=cfg.eos_token_ids)
    if not cfg.eos_token_ids and tok.eos_token_ids:
        cfg = cfg.replace(eos_token_ids=tok.eos_token_ids)
    return LoadedModel(
        config=cfg,
        weights=WeightStore(views, source=str(folder)),
        tokenizer=tok,
        chat_template=tok.chat_template,
        source=folder,
        format="safetensors",
        metadata=hf_cfg,
    )
