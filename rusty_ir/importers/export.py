"""Write a loaded model as a Hugging Face folder (safetensors + config.json + tokenizer.json).

Used by tests and scripts to check the safetensors path on the same weights as a GGUF:
``write_hf_folder(load_model(gguf), folder, dtype="f32")``. Quantized tensors are
dequantized one at a time (never the whole model in memory). GGUF ``llama`` q/k rows are in
llama.cpp's interleaved rope order; they are permuted back into Hugging Face's "half" order
(``interleaved_to_half``), so the folder loads with ``rope_style == "half"``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.weights import SCHEMES, quantize

from .safetensors import gguf_to_hf_name

_ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
_Entries = dict[str, tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]


def interleaved_to_half(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a q/k weight (or bias) from llama.cpp's pair order to Hugging Face's half order.

    Within each head, GGUF row ``2i + s`` (s = 0, 1) becomes Hugging Face row ``s * D/2 + i``;
    this undoes the ``permute`` of llama.cpp's convert_hf_to_gguf.py.
    """
    rows = w.shape[0]
    d = rows // n_heads
    return w.reshape(n_heads, d // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def half_to_interleaved(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of ``interleaved_to_half`` (llama.cpp's permute)."""
    rows = w.shape[0]
    d = rows // n_heads
    return w.reshape(n_heads, 2, d // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_config_dict(cfg: Any) -> dict[str, Any]:
    """A transformers-style config.json for a ModelConfig."""
    arch = cfg.architecture
    out: dict[str, Any] = {
        "architectures": [arch.hf_class],
        "model_type": arch.hf_model_types[0],
        "hidden_size": cfg.hidden,
        "intermediate_size": cfg.ffn_hidden,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "vocab_size": cfg.vocab,
        "rms_norm_eps": cfg.rms_eps,
        "rope_theta": cfg.rope_theta,
        "max_position_embeddings": cfg.context_length,
        "tie_word_embeddings": cfg.tied_embeddings,
        "hidden_act": "silu",
        "torch_dtype": "float32",
    }
    if cfg.bos_token_id is not None:
        out["bos_token_id"] = cfg.bos_token_id
    if cfg.eos_token_ids:
        out["eos_token_id"] = cfg.eos_token_ids[0] if len(cfg.eos_token_ids) == 1 else list(cfg.eos_token_ids)
    if not cfg.qkv_bias:
        out["attention_bias"] = False
    if cfg.arch == "llama":
        out["mlp_bias"] = False
    if cfg.rope_scaling:
        out["rope_scaling"] = _hf_rope_scaling(dict(cfg.rope_scaling), cfg)
    if arch.activation != "silu":
        del out["hidden_act"]
        out["hidden_activation"] = arch.hf_activations[0]
    if not arch.sliding_pattern and cfg.sliding_window is not None:  # a window on every layer (or Qwen2's layers)
        if cfg.arch == "llama":  # Mistral: transformers' Llama has no window
            out["architectures"], out["model_type"] = ["MistralForCausalLM"], "mistral"
        out["sliding_window"] = cfg.sliding_window
        if arch.window_needs_flag:
            out["use_sliding_window"] = True
            out["layer_types"] = ["sliding_attention" if cfg.layer_window(i) else "full_attention" for i in range(cfg.n_layers)]
    if arch.sliding_pattern:  # Gemma: the layer kinds, the window (never reached when there is none), the options
        out["layer_types"] = ["sliding_attention" if i in cfg.sliding_layers else "full_attention" for i in range(cfg.n_layers)]
        out["sliding_window"] = cfg.sliding_window or cfg.context_length
        scalar = cfg.query_pre_attn_scalar or cfg.head_dim
        out["query_pre_attn_scalar"] = int(scalar) if float(scalar).is_integer() else scalar  # transformers wants an int
        out["final_logit_softcapping"] = cfg.logit_softcap
        out["attn_logit_softcapping"] = cfg.attn_softcap
        if arch.local_rope_theta is not None:
            out["rope_local_base_freq"] = cfg.rope_local_theta or cfg.rope_theta
    return out


def _hf_rope_scaling(scaling: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """config.json's ``rope_scaling`` for a recorded scaling; RustyError where it cannot say it (a GGUF's
    ``rope_freqs.weight`` factors: Hugging Face configs hold llama3's parameters, not the factors)."""
    kind = scaling.get("rope_type", scaling.get("type"))
    if "freq_factors_tensor" in scaling:
        raise RustyError(
            "this model's RoPE frequency factors come from the GGUF tensor rope_freqs.weight; a Hugging Face "
            "config.json cannot hold them (it names llama3's parameters instead), so the folder would rotate differently"
        )
    if kind == "linear":
        return {"rope_type": "linear", "factor": scaling["factor"]}
    if kind == "llama3":
        keys = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        return {"rope_type": "llama3", **{k: scaling[k] for k in keys}}
    if kind == "yarn":  # a config.json's keys, or a GGUF's; the attention factor as imported
        get = {k: scaling.get(k, scaling.get(g)) for k, g in (("original_max_position_embeddings", "original_context_length"),
               ("beta_fast", "yarn_beta_fast"), ("beta_slow", "yarn_beta_slow"))}  # fmt: skip
        out = {"rope_type": "yarn", "factor": scaling["factor"], **{k: v for k, v in get.items() if v is not None}}
        if "truncate" in scaling:
            out["truncate"] = scaling["truncate"]
        return {**out, "attention_factor": cfg.rope_attention_factor}
    raise RustyError(f"rope scaling {scaling!r} cannot be written to a Hugging Face config.json")


def write_safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]) -> None:
    """Write a .safetensors file; ``tensors[name] = (dtype "F32"/"F16"/"BF16", shape, make_bytes)``.

    ``make_bytes`` is called once per tensor while writing, so only one tensor is in memory.
    """
    itemsize = {"F32": 4, "F16": 2, "BF16": 2}
    header: dict[str, Any] = {}
    off = 0
    for name, (dtype, shape, _) in tensors.items():
        n = int(np.prod(shape, dtype=np.int64)) * itemsize[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for name, (_, _, make) in tensors.items():
            data = np.ascontiguousarray(make()).view(np.uint8)
            want = header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            if data.nbytes != want:
                raise ValueError(f"{path}: tensor {name}: {data.nbytes} bytes, expected {want}")
            fh.write(data.tobytes())


def write_hf_folder(
    model: Any,
    folder: str | Path,
    *,
    dtype: str = "f32",
    norm_dtype: str = "f32",
    shards: int = 1,
    n_layers: int | None = None,
) -> Path:
    """Write ``model`` (a LoadedModel) as a Hugging Face folder and return its path.

    ``dtype`` is used for matrices, ``norm_dtype`` for 1-D tensors (norms, biases).
    ``shards > 1`` writes ``model-0000i-of-0000n.safetensors`` plus the index.
    ``n_layers`` keeps only the first layers (and says so in config.json), for quick tests.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    if n_layers is not None:
        cfg = cfg.replace(n_layers=n_layers)
    names = [
        n
        for n in model.weights
        if not (n.startswith("blk.") and int(n.split(".")[1]) >= cfg.n_layers) and not n.endswith("rope_freqs.weight")
    ]
    entries = _hf_entries(model, cfg, names, dtype, norm_dtype)
    _write_shards(folder, entries, shards)
    (folder / "config.json").write_text(json.dumps(hf_config_dict(cfg), indent=1))
    _write_tokenizer_files(folder, model.tokenizer)
    return folder


def _tensor_maker(model: Any, cfg: Any, name: str, sch_name: str) -> Callable[[], np.ndarray]:
    """A function that returns weight ``name`` in Hugging Face's layout (half-split RoPE rows, Gemma's ``w - 1``
    norms), quantized to scheme ``sch_name``."""
    offset = cfg.architecture.hf_norm_offset

    def make() -> np.ndarray:
        w = model.weights[name].to_numpy()
        if model.config.rope_style == "interleaved":
            if name.endswith(("attn_q.weight", "attn_q.bias")):
                w = interleaved_to_half(w, cfg.n_heads)
            elif name.endswith(("attn_k.weight", "attn_k.bias")):
                w = interleaved_to_half(w, cfg.n_kv_heads)
        if offset and name.endswith("norm.weight"):  # Gemma stores w - 1 (exact in f32 for w in [0.5, 2])
            w = w - np.float32(offset)
        return quantize(w, SCHEMES[sch_name])

    return make


def _hf_entries(model: Any, cfg: Any, names: list[str], dtype: str, norm_dtype: str) -> _Entries:
    """The safetensors entries (HF name: dtype, shape, maker) of weights ``names``, fused parts joined again."""
    entries: _Entries = {}
    fused_parts = {f"blk.{i}.{p}": f"blk.{i}.{f}" for i in range(cfg.n_layers) for f, parts in cfg.architecture.fused for p in parts}
    for name in names:
        view = model.weights[name]
        sch_name = norm_dtype if len(view.shape) == 1 else dtype
        if name in fused_parts:  # Phi-3: the fused tensor holds its parts' rows, in order
            fused = fused_parts[name]
            parts = [n for n in names if fused_parts.get(n) == fused]
            if name == parts[0]:
                rows = sum(model.weights[n].shape[0] for n in parts)
                makers = [_tensor_maker(model, cfg, n, sch_name) for n in parts]

                def concat(makers: list[Callable[[], np.ndarray]] = makers) -> np.ndarray:
                    return np.concatenate([m() for m in makers])

                entries[gguf_to_hf_name(fused, cfg.arch)] = (_ST_DTYPE[sch_name], (rows, *view.shape[1:]), concat)
            continue
        entries[gguf_to_hf_name(name, cfg.arch)] = (_ST_DTYPE[sch_name], view.shape, _tensor_maker(model, cfg, name, sch_name))
    return entries


def _write_shards(folder: Path, entries: _Entries, shards: int) -> None:
    """``model.safetensors``, or with ``shards > 1`` that many shard files plus ``model.safetensors.index.json``."""
    if shards <= 1:
        write_safetensors(folder / "model.safetensors", entries)
        return
    items = list(entries.items())
    per = -(-len(items) // shards)
    weight_map = {}
    for i in range(shards):
        part = dict(items[i * per : (i + 1) * per])
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(folder / fname, part)
        weight_map.update({n: fname for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}, indent=1))


def _write_tokenizer_files(folder: Path, tok: Any) -> None:
    """``tokenizer.json`` and ``tokenizer_config.json`` (chat template, BOS and EOS tokens)."""
    tok.save(folder / "tokenizer.json")
    tcfg: dict[str, Any] = {}
    if tok.chat_template:
        tcfg["chat_template"] = tok.chat_template
    if tok.bos_token_id is not None:
        tcfg["bos_token"] = tok.id_to_token(tok.bos_token_id)
    if tok.eos_token_id is not None:
        tcfg["eos_token"] = tok.id_to_token(tok.eos_token_id)
    (folder / "tokenizer_config.json").write_text(json.dumps(tcfg, indent=1))
