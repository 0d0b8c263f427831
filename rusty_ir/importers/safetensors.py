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
import math
import re
import struct
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from rusty_ir.errors import RustyError, printable
from rusty_ir.weights import SCHEMES, TensorView, WeightStore

from .config import (
    ARCH_OF_HF_MODEL_TYPE,
    ARCHS,
    MAX_SIZE,
    SUPPORTED_DESCRIPTION,
    Architecture,
    ConfigValueError,
    Fields,
    ModelConfig,
    check_tensors,
    split_fused,
    unsupported_architecture,
)

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
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "mlp.gate_up_proj.weight": "ffn_gate_up.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_HF_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_IGNORED = re.compile(r"(^|\.)rotary_emb\.inv_freq$")
_GGUF_LAYER_RE = re.compile(r"^blk\.(\d+)\.(.+)$")
_GGUF_TO_HF_LAYER = {v: k for k, v in HF_LAYER.items()}
_GGUF_TO_HF_GLOBAL = {v: k for k, v in HF_GLOBAL.items()}


def _layer_table(arch: str | None) -> dict[str, str]:
    """Hugging Face layer tensor suffix -> GGUF suffix for ``arch`` (the llama table with ``Architecture.hf_renames``)."""
    if arch is None or not ARCHS[arch].hf_renames:
        return HF_LAYER
    return {**HF_LAYER, **dict(ARCHS[arch].hf_renames)}


def hf_to_gguf_name(name: str, arch: str | None = None) -> str | None:
    """The GGUF name of a Hugging Face tensor name (of architecture ``arch``: Gemma names its norms differently),
    or None if it has none."""
    if name in HF_GLOBAL:
        return HF_GLOBAL[name]
    m = _HF_LAYER_RE.match(name)
    table = _layer_table(arch)
    if m and m.group(2) in table:
        return f"blk.{m.group(1)}.{table[m.group(2)]}"
    return None


def gguf_to_hf_name(name: str, arch: str | None = None) -> str:
    """The Hugging Face name of a GGUF tensor name (inverse of ``hf_to_gguf_name``)."""
    if name in _GGUF_TO_HF_GLOBAL:
        return _GGUF_TO_HF_GLOBAL[name]
    m = _GGUF_LAYER_RE.match(name)
    inverse = _GGUF_TO_HF_LAYER if arch is None or not ARCHS[arch].hf_renames else {v: k for k, v in _layer_table(arch).items()}
    if m and m.group(2) in inverse:
        return f"model.layers.{m.group(1)}.{inverse[m.group(2)]}"
    return name


SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "F64": 8,
    "I64": 8,
    "U64": 8,
}
"""Bytes per element of every safetensors dtype (to check the layout of tensors this importer does not read)."""
MAX_HEADER_BYTES = 100_000_000
"""The safetensors library's own limit on a header."""


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int, int]:
    """(header dict, data start, file size) of a .safetensors file; reads only the header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise RustyError(f"{path}: truncated safetensors file ({size} bytes, no header length)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8 or n > MAX_HEADER_BYTES:
                raise RustyError(f"{path}: truncated or not a safetensors file (header length {n}, file size {size})")
            raw = fh.read(n)
    except OSError as e:
        raise RustyError(f"{path}: cannot read: {e.strerror or e}") from None
    if not raw.startswith(b"{"):
        raise RustyError(f"{path}: not a safetensors file (the header does not start with '{{')")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise RustyError(f"{path}: not a safetensors file (header is not JSON: {printable(e, 200)})") from None
    if not isinstance(header, dict):
        raise RustyError(f"{path}: not a safetensors file (header is not a JSON object)")
    return header, 8 + n, size


def _entry(path: Path, name: str, info: Any) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of a header entry; RustyError for anything malformed."""
    where = f"{path}: tensor '{printable(name)}'"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise RustyError(f"{where}: malformed header entry (needs dtype, shape and data_offsets)")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPE_BYTES:
        raise RustyError(f"{where}: unknown dtype {printable(repr(dtype))}")
    if not isinstance(shape, list) or any(type(d) is not int or d < 0 for d in shape):
        raise RustyError(f"{where}: shape {printable(repr(shape))} is not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or any(type(o) is not int for o in offsets) or not 0 <= offsets[0] <= offsets[1]:
        raise RustyError(f"{where}: data_offsets {printable(repr(offsets))} is not [begin, end] with 0 <= begin <= end")
    expected = math.prod(shape) * SAFETENSORS_DTYPE_BYTES[dtype]
    if offsets[1] - offsets[0] != expected:
        raise RustyError(
            f"{where} of shape {shape} in {dtype} needs {expected} bytes, its data_offsets {offsets} give {offsets[1] - offsets[0]}"
        )
    return dtype, tuple(shape), offsets[0], offsets[1]


def _shard_views(path: Path) -> dict[str, TensorView]:
    """Every tensor of one shard as a zero-copy view. As the format requires, the tensors' byte ranges must cover
    the data section exactly, without gaps or overlaps: a wrong header length or offset is an error, not garbage."""
    header, start, size = read_safetensors_header(path)
    entries = {name: _entry(path, name, info) for name, info in header.items() if name != "__metadata__"}
    cursor = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin != cursor:
            what = "overlaps the tensor before it" if begin < cursor else f"leaves a gap of {begin - cursor} bytes before it"
            raise RustyError(f"{path}: corrupt header: tensor '{printable(name)}' at data offset {begin} {what}")
        cursor = end
    if start + cursor > size:
        last = max(entries, key=lambda n: entries[n][3])
        raise RustyError(
            f"{path}: truncated file: tensor '{printable(last)}' needs bytes {start + entries[last][2]}..{start + cursor}, "
            f"the file has {size}"
        )
    if start + cursor < size:
        raise RustyError(f"{path}: corrupt file: {size - start - cursor} bytes follow the last tensor's data (a wrong header length?)")
    try:
        mm = np.memmap(path, dtype=np.uint8, mode="r") if size > 0 else np.zeros(0, np.uint8)
    except (OSError, ValueError) as e:
        raise RustyError(f"{path}: cannot open: {getattr(e, 'strerror', None) or e}") from None
    views: dict[str, TensorView] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        if _IGNORED.search(name):
            continue
        sch = DTYPES.get(dtype)
        if sch is None:
            raise RustyError(f"{path}: tensor '{printable(name)}' has unsupported dtype {dtype} (supported: {', '.join(DTYPES)})")
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


def _check_gemma_options(fields: Fields, arch: Architecture, model_type: str) -> None:
    """Refuse the options of a config.json that the compiler cannot honour: an activation other than the
    architecture's, bidirectional attention."""
    act = fields.get("hidden_activation", str, None, null_is_missing=True)
    if arch.hf_activations and act is not None and act not in arch.hf_activations:
        raise RustyError(f"{fields.source}: hidden_activation = {printable(repr(act))} is not supported for model_type "
                         f"{model_type!r}; supported: {', '.join(arch.hf_activations)}")  # fmt: skip
    if fields.get("use_bidirectional_attention", bool, False, null_is_missing=True):
        raise RustyError(f"{fields.source}: use_bidirectional_attention = true (an embedding model) is not supported; "
                         "supported: false, causal attention")  # fmt: skip


def _split_layer_rope(rope: dict[str, Any], fields: Fields, arch: Architecture, path: Path) -> tuple[dict[str, Any], float | None]:
    """(the global layers' rope parameters, the sliding layers' base or None). transformers 5 saves Gemma 3's as
    ``rope_parameters = {"full_attention": {...}, "sliding_attention": {...}}``, older configs as ``rope_theta``
    (global) and ``rope_local_base_freq``; the sliding layers take no scaling. None unless the architecture
    rotates its sliding layers on their own (``Architecture.local_rope_theta``)."""
    nested = {k: rope[k] for k in ("full_attention", "sliding_attention") if k in rope}
    local: Any = fields.get("rope_local_base_freq", float, None, null_is_missing=True)
    if nested:
        for k, v in nested.items():
            if not isinstance(v, dict):
                raise RustyError(f"{path}: rope_parameters.{k} must be an object, got {printable(repr(v))}")
        sliding = nested.get("sliding_attention") or {}
        if sliding.get("rope_type", sliding.get("type")) not in (None, "default"):
            raise RustyError(f"{path}: rope_parameters.sliding_attention.rope_type = {printable(repr(sliding.get('rope_type', sliding.get('type'))))}: "
                             "scaling the sliding layers' RoPE is not supported; supported: default")  # fmt: skip
        local = Fields(sliding, f"{path}: rope_parameters.sliding_attention").get("rope_theta", float, local)
        rope = nested.get("full_attention") or {}
    if arch.local_rope_theta is None:
        return rope, None
    return rope, local if local is not None else arch.local_rope_theta


def _sliding_layers(cfg: dict[str, Any], fields: Fields, arch: Architecture, n_layers: Any, path: Path) -> tuple[int, ...]:
    """The sliding-window layers of an architecture that interleaves them with global ones: config.json's
    ``layer_types``, else every layer but each ``sliding_window_pattern``-th (the architecture's default); for Qwen2/
    Qwen3 (``window_needs_flag``) ``layer_types``, else the layers from ``max_window_layers`` on."""
    if not arch.sliding_pattern and not arch.window_needs_flag:
        return ()
    types = cfg.get("layer_types")
    if types is not None:
        kinds = ("sliding_attention", "full_attention")
        if not isinstance(types, list) or len(types) != n_layers or any(t not in kinds for t in types):
            raise RustyError(f"{path}: layer_types must list one of {', '.join(kinds)} per layer ({n_layers}), got "
                             f"{printable(repr(types), 200)}")  # fmt: skip
        return tuple(i for i, t in enumerate(types) if t == "sliding_attention")
    layers = n_layers if type(n_layers) is int and 0 < n_layers <= MAX_SIZE else 0
    if arch.window_needs_flag:  # transformers' Qwen2Config: layers from max_window_layers on slide
        first = fields.get("max_window_layers", int, 28, null_is_missing=True)
        return tuple(i for i in range(layers) if i >= first)
    pattern = fields.get("sliding_window_pattern", int, arch.sliding_pattern, null_is_missing=True)
    if pattern < 1:
        raise RustyError(f"{path}: sliding_window_pattern = {pattern}: must be at least 1")
    return tuple(i for i in range(layers) if (i + 1) % pattern)


def _is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, not a bool (which Python counts as an int)."""
    return type(value) in (int, float)


def _yarn_context(scaling: dict[str, Any], fields: Fields, context_length: int, keys: dict[str, str]) -> tuple[dict[str, Any], int]:
    """A yarn ``rope_scaling`` with its ``original_max_position_embeddings`` filled in as transformers does (config.json's
    top-level key wins, else max_position_embeddings), and the context it reaches: ``factor`` times the original,
    where that is longer than max_position_embeddings (Qwen2.5 keeps 32768 there and adds yarn for 131072)."""
    original = fields.get("original_max_position_embeddings", int, None, null_is_missing=True)
    scaling = dict(scaling)
    if original is not None:
        scaling["original_max_position_embeddings"] = original
    scaling.setdefault("original_max_position_embeddings", context_length)
    factor, orig = scaling.get("factor"), scaling["original_max_position_embeddings"]
    if _is_number(factor) and _is_number(orig) and math.isfinite(factor) and factor * orig > context_length:
        reach = int(factor * orig)
        if reach <= MAX_SIZE:
            keys["context_length"] = "rope_scaling.factor x original_max_position_embeddings (yarn)"
            context_length = reach
    return scaling, context_length


def _config_from_hf(cfg: dict[str, Any], path: Path, folder: Path) -> tuple[ModelConfig, dict[str, str]]:
    fields = Fields(cfg, str(path))
    arch, model_type = _hf_architecture(fields, path)
    keys = _hf_keys()

    def get(field: str, kind: type = int, default: Any = ...) -> Any:
        return fields.get(keys[field], kind, default, null_is_missing=True)

    hidden, n_heads = get("hidden"), get("n_heads")
    head_dim = get("head_dim", int, 0) or (hidden // n_heads if n_heads > 0 else 0)
    rope_theta, scaling, local_theta = _hf_rope(cfg, fields, keys, ARCHS[arch], path)
    rotary = fields.get("partial_rotary_factor", float, 1.0, null_is_missing=True)
    if not 0 < rotary <= 1:
        raise RustyError(f"{path}: partial_rotary_factor = {rotary!r}: must be above 0 and at most 1")
    context_length = get("context_length", int, 2048)
    if scaling.get("rope_type", scaling.get("type")) == "yarn":
        scaling, context_length = _yarn_context(scaling, fields, context_length, keys)
    n_layers = get("n_layers")
    window, sliding = _hf_window(cfg, fields, ARCHS[arch], n_layers, context_length, path)
    eos_ids = _hf_eos_ids(cfg, folder, path)
    try:
        config = ModelConfig(
            arch=arch,
            n_layers=n_layers,
            hidden=hidden,
            n_heads=n_heads,
            n_kv_heads=get("n_kv_heads", int, n_heads),
            head_dim=head_dim,
            ffn_hidden=get("ffn_hidden"),
            vocab=get("vocab"),
            rope_theta=rope_theta,
            rope_style="half",
            rms_eps=get("rms_eps", float, 1e-6),
            context_length=context_length,
            tied_embeddings=get("tied_embeddings", bool, False),
            qkv_bias=ARCHS[arch].qkv_bias,
            rope_dim=int(head_dim * rotary),
            bos_token_id=get("bos_token_id", int, None),
            eos_token_ids=tuple(eos_ids),
            rope_scaling=tuple(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in scaling.items())) or None,
            name=str(cfg.get("_name_or_path", folder.name)),
            sliding_window=window,
            sliding_layers=sliding,
            rope_local_theta=local_theta,
            query_pre_attn_scalar=ARCHS[arch].hf_query_pre_attn_scalar
            and fields.get("query_pre_attn_scalar", float, ARCHS[arch].hf_query_pre_attn_scalar, null_is_missing=True),
            logit_softcap=fields.get("final_logit_softcapping", float, None, null_is_missing=True)
            if ARCHS[arch].logit_softcapping
            else None,
            attn_softcap=fields.get("attn_logit_softcapping", float, None, null_is_missing=True)
            if ARCHS[arch].hf_attn_softcapping
            else None,
        )
    except ConfigValueError as e:
        keys.update(
            sliding_layers="layer_types",
            rope_local_theta="rope_local_base_freq",
            logit_softcap="final_logit_softcapping",
            attn_softcap="attn_logit_softcapping",
            sliding_window="sliding_window",
        )
        raise fields.config_error(e, keys) from None
    if "head_dim" not in cfg:
        keys["head_dim"] = "hidden_size/num_attention_heads"
    return config, keys


def _hf_architecture(fields: Fields, path: Path) -> tuple[str, str]:
    """(the architecture, config.json's model_type), after the options it rejects (MLP bias, attention bias
    where the architecture has none, Gemma's unsupported options)."""
    model_type = fields.get("model_type", str, None)
    arch = ARCH_OF_HF_MODEL_TYPE.get(model_type)
    if arch is None:
        if model_type is None:
            raise RustyError(f"{path}: unknown architecture: no model_type (supported: {SUPPORTED_DESCRIPTION})")
        raise RustyError(unsupported_architecture(str(path), "model_type", model_type))
    if fields.get("mlp_bias", bool, False, null_is_missing=True):
        raise RustyError(f"{path}: mlp_bias=true is not supported")
    if not ARCHS[arch].qkv_bias and fields.get("attention_bias", bool, False, null_is_missing=True):
        raise RustyError(f"{path}: attention_bias=true is not supported for model_type {model_type!r}")
    _check_gemma_options(fields, ARCHS[arch], model_type)
    return arch, model_type


def _hf_keys() -> dict[str, str]:
    """The config.json key of each ModelConfig field, as transformers names them."""
    return {
        "n_layers": "num_hidden_layers",
        "hidden": "hidden_size",
        "n_heads": "num_attention_heads",
        "n_kv_heads": "num_key_value_heads",
        "head_dim": "head_dim",
        "ffn_hidden": "intermediate_size",
        "vocab": "vocab_size",
        "rms_eps": "rms_norm_eps",
        "context_length": "max_position_embeddings",
        "rope_theta": "rope_theta",
        "tied_embeddings": "tie_word_embeddings",
        "bos_token_id": "bos_token_id",
        "eos_token_ids": "eos_token_id",
    }


def _hf_rope(
    cfg: dict[str, Any], fields: Fields, keys: dict[str, str], arch: Architecture, path: Path
) -> tuple[float, dict[str, Any], float | None]:
    """(the RoPE base, the scaling parameters or {}, the sliding layers' base or None), from ``rope_theta``,
    ``rope_parameters`` and ``rope_scaling``; ``keys["rope_theta"]`` then names where the base came from."""
    rope = cfg.get("rope_parameters") or {}
    if not isinstance(rope, dict):
        raise RustyError(f"{path}: rope_parameters must be an object, got {printable(repr(rope))}")
    rope, local_theta = _split_layer_rope(rope, fields, arch, path)
    rope_theta = fields.get(keys["rope_theta"], float, None, null_is_missing=True)
    if rope_theta is None:
        rope_theta, keys["rope_theta"] = (
            Fields(rope, f"{path}: rope_parameters").get("rope_theta", float, 10000.0),
            "rope_parameters.rope_theta",
        )
    scaling = cfg.get("rope_scaling") or {k: v for k, v in rope.items() if k != "rope_theta"}
    if not isinstance(scaling, dict):
        raise RustyError(
            f'{path}: rope_scaling must be an object such as {{"rope_type": "linear", "factor": 2.0}}, got {printable(repr(scaling))}'
        )
    if scaling.get("rope_type", scaling.get("type")) in (None, "default"):
        scaling = {}
    return rope_theta, scaling, local_theta


def _hf_window(
    cfg: dict[str, Any], fields: Fields, arch: Architecture, n_layers: Any, context_length: int, path: Path
) -> tuple[int | None, tuple[int, ...]]:
    """(the sliding window or None for full attention, the sliding layers or () when every layer is alike)."""
    sliding = _sliding_layers(cfg, fields, arch, n_layers, path)
    window = fields.get("sliding_window", int, None, null_is_missing=True)
    if arch.window_needs_flag and not fields.get("use_sliding_window", bool, False, null_is_missing=True):
        window = None  # Qwen2/Qwen3 configs name a window that only applies with use_sliding_window
    no_layer_slides = (arch.sliding_pattern or arch.window_needs_flag) and not sliding
    if window is not None and (window >= context_length or no_layer_slides):
        window = None  # never reached, or no layer slides: full attention
    if arch.window_needs_flag and (window is None or type(n_layers) is int and len(sliding) == n_layers):
        sliding = ()  # every layer alike (the window's or full attention)
    return window, sliding


def _hf_eos_ids(cfg: dict[str, Any], folder: Path, path: Path) -> list[int]:
    """The EOS token ids: generation_config.json's, else config.json's (a token id or a list of them)."""
    gen = folder / "generation_config.json"
    eos = _load_json(gen).get("eos_token_id") if gen.is_file() else None
    if eos is None:
        eos = cfg.get("eos_token_id")
    eos_ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    if any(type(e) is not int for e in eos_ids):
        raise RustyError(f"{path}: eos_token_id = {printable(repr(eos))}: must be a token id or a list of them")
    return eos_ids


def _shift_norms(views: dict[str, TensorView], offset: float) -> None:
    """Gemma's RMSNorm weights are stored as ``w - 1`` and applied as ``x * (1 + w)``: replace each norm weight by
    ``w + offset`` in float32, as transformers computes ``1.0 + weight.float()`` (an in-memory copy of a 1-D tensor)."""
    for name, view in list(views.items()):
        if name.endswith("norm.weight"):
            shifted = np.ascontiguousarray(view.to_numpy() + np.float32(offset), dtype="<f4")
            views[name] = TensorView(name, view.shape, SCHEMES["f32"], shifted.view(np.uint8).reshape(-1), source=view.source)


def _shard_files(folder: Path, index: Path) -> tuple[list[Path], dict[str, Path] | None]:
    """(the safetensors files, the index's shard of each HF tensor name or None): ``model.safetensors``, else the
    shards that ``index`` (``model.safetensors.index.json``) lists, each a file of the folder."""
    single = folder / "model.safetensors"
    if single.is_file():
        return [single], None
    if not index.is_file():
        raise RustyError(f"{folder}: no model.safetensors or model.safetensors.index.json")
    weight_map = _load_json(index).get("weight_map")
    if not isinstance(weight_map, dict):
        raise RustyError(f"{index}: missing key 'weight_map'")
    for file in weight_map.values():
        if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
            raise RustyError(f"{index}: shard {printable(repr(file))} is not a file name in the model folder")
    shard_of = {name: folder / file for name, file in weight_map.items()}
    shards = list(dict.fromkeys(shard_of.values()))
    for s in shards:
        if not s.is_file():
            raise RustyError(f"{index}: shard file {printable(s.name)} does not exist")
    return shards, shard_of


def _gather_views(
    shards: list[Path], shard_of: dict[str, Path] | None, index: Path, arch: str
) -> tuple[dict[str, TensorView], dict[str, Path], dict[str, str]]:
    """(the tensors of all ``shards`` by GGUF name, the file of each, its HF name); each tensor in one shard only,
    the one the index says, and every tensor the index lists present (but those ``_IGNORED``)."""
    views: dict[str, TensorView] = {}
    file_of: dict[str, Path] = {}
    hf_name: dict[str, str] = {}
    for shard in shards:
        for name, view in _shard_views(shard).items():
            if shard_of is not None and shard_of.get(name, shard) != shard:
                raise RustyError(f"{shard}: tensor '{name}' is listed in {index.name} under {shard_of[name].name}")
            target = hf_to_gguf_name(name, arch) or name
            if target in views:
                raise RustyError(f"{shard}: tensor '{name}' also appears in {file_of[target]}")
            views[target] = TensorView(target, view.shape, view.scheme, view.data, source=str(shard))
            file_of[target] = shard
            hf_name[target] = name
    if shard_of is not None:
        for name, shard in shard_of.items():
            if (hf_to_gguf_name(name, arch) or name) not in views and not _IGNORED.search(name):
                raise RustyError(f"{shard}: missing tensor '{name}' (listed in {index.name})")
    return views, file_of, hf_name


def load_safetensors_folder(folder: str | Path):
    """Import a Hugging Face model folder (F32/F16/BF16 safetensors)."""
    from .loaded import LoadedModel
    from .rope import hf_freq_factors, put_factors
    from .tokenizer import tokenizer_from_folder

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise RustyError(f"{folder}: not a model folder (no config.json)")
    hf_cfg = _load_json(config_path)
    cfg, keys = _config_from_hf(hf_cfg, config_path, folder)
    factors, attention = hf_freq_factors(dict(cfg.rope_scaling or ()), cfg.rope_theta, cfg.rope_dim, str(config_path))
    if attention is not None:
        cfg = cfg.replace(rope_attention_factor=attention)

    index = folder / "model.safetensors.index.json"
    shards, shard_of = _shard_files(folder, index)
    views, file_of, hf_name = _gather_views(shards, shard_of, index, cfg.arch)
    if cfg.tied_embeddings:
        views.pop("output.weight", None)
    put_factors(views, factors, str(config_path), cfg)
    if cfg.architecture.hf_norm_offset:
        _shift_norms(views, cfg.architecture.hf_norm_offset)
    split_fused(cfg, views, display_name=lambda n: hf_name.get(n, gguf_to_hf_name(n, cfg.arch)), config_source=str(config_path))
    for name, view in views.items():
        file_of.setdefault(name, Path(view.source))

    check_tensors(
        cfg,
        {name: v.shape for name, v in views.items()},
        source_of=lambda n: str(file_of.get(n, shards[0] if len(shards) == 1 else folder)),
        display_name=lambda n: hf_name.get(n, gguf_to_hf_name(n, cfg.arch)),
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
