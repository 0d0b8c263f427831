"""RoPE scaling: a checkpoint's scaling parameters turned into per-frequency factors.

Every static RoPE scaling the compiler supports divides each rotated pair's frequency by a
factor: pair ``i`` of a head turns by ``pos * theta^(-2i / rope_dim) / factors[i]``. The
importers compute those factors and put them in the weight store as ``rope_freqs.weight``
(a ``[rope_dim / 2]`` float32 tensor, the name and meaning llama.cpp gives it), and
``tfm.rope`` reads them as data, so one lowering serves every variant:

- ``linear`` (Hugging Face ``rope_scaling = {"rope_type": "linear", "factor": f}``, GGUF
  ``<arch>.rope.scaling.type = linear`` with ``<arch>.rope.scaling.factor``): positions
  divided by ``f``, i.e. the factor ``f`` for every pair;
- ``llama3`` (Llama 3.1/3.2: ``factor``, ``low_freq_factor``, ``high_freq_factor``,
  ``original_max_position_embeddings``): wavelengths shorter than ``original / high``
  keep their frequency (factor 1), longer than ``original / low`` are divided by
  ``factor``, and those between blend the two smoothly. GGUF files carry the result as
  the ``rope_freqs.weight`` tensor (llama.cpp's converter computes it the same way).

- ``yarn`` (Qwen2.5's long-context configs: ``factor``, ``original_max_position_embeddings``,
  ``beta_fast``/``beta_slow``; GGUF ``<arch>.rope.scaling.type = yarn`` with ``.factor``,
  ``.original_context_length``, ``.yarn_beta_fast``/``.yarn_beta_slow``): pairs that turn more than
  ``beta_fast`` times over the original context keep their frequency, those turning fewer than
  ``beta_slow`` times are divided by ``factor``, a linear ramp over the pair index between. YaRN also
  multiplies the rotated q and k by an attention factor (``0.1 ln(factor) + 1`` unless the file gives
  one): the importers record it as ``ModelConfig.rope_attention_factor`` and the attention scale takes
  its square, which is the same product.

Layers that rotate differently (Gemma 3's sliding-window layers: their own base, no scaling) get
one tensor of divisors per layer, ``blk.N.rope_freqs.weight``, relative to the global base
(``layer_factors``), read by a layer-indexed ``tfm.weight`` like any layer tensor.

Scalings that are not a static division (``dynamic`` NTK, which depends on the sequence
length; ``longrope``, which switches factor lists by length) are refused with an error naming
the type, never approximated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError, printable
from rusty_ir.weights import SCHEMES, TensorView

FREQS_TENSOR = "rope_freqs.weight"
"""The weight-store name of the per-pair frequency divisors (llama.cpp's name)."""
LAYER_FREQS_TENSOR = "blk.{}.rope_freqs.weight"
"""The per-layer divisors where layers rotate differently (``ModelConfig.rope_per_layer``)."""

HF_SUPPORTED = ("default", "linear", "llama3", "yarn")
GGUF_SUPPORTED = ("none", "linear", "yarn")

_WHY_NOT = {
    "dynamic": "dynamic NTK scaling changes the frequencies with the sequence length",
    "longrope": "LongRoPE switches between short and long factor lists by sequence length",
    "su": "LongRoPE (su) switches between short and long factor lists by sequence length",
}


def _unsupported(source: str, key: str, kind: str, supported: str) -> RustyError:
    why = _WHY_NOT.get(kind)
    return RustyError(
        f"{source}: {key} {printable(repr(kind))} is not supported yet" + (f" ({why})" if why else "") + f"; supported: {supported}"
    )


def _number(params: Mapping[str, Any], key: str, source: str, where: str, *, positive: bool = True) -> float:
    if key not in params or params[key] is None:
        raise RustyError(f"{source}: {where} is missing '{key}'")
    value = params[key]
    if type(value) not in (int, float) or not math.isfinite(value) or (positive and value <= 0):
        raise RustyError(f"{source}: {where}.{key} = {printable(repr(value))}: must be a finite number above 0")
    return float(value)


def default_inv_freq(rope_theta: float, rope_dim: int) -> np.ndarray:
    """``theta^(-2i / rope_dim)`` for each pair, in float32 as Hugging Face computes it."""
    exps = np.arange(0, rope_dim, 2, dtype=np.float32) / np.float32(rope_dim)
    return (np.float32(1.0) / np.float32(rope_theta) ** exps).astype(np.float32)


def llama3_factors(inv_freq: np.ndarray, factor: float, low: float, high: float, original: float) -> np.ndarray:
    """Llama 3.1's per-pair divisors: 1 for short wavelengths, ``factor`` for long ones, a smooth blend
    between (the frequency becomes ``(1 - s) * f / factor + s * f`` with ``s`` linear in 1/wavelength)."""
    wavelen = 2 * math.pi / inv_freq.astype(np.float64)
    smooth = (original / wavelen - low) / (high - low)
    out = 1.0 / ((1.0 - smooth) / factor + smooth)
    out = np.where(wavelen < original / high, 1.0, out)
    out = np.where(wavelen > original / low, factor, out)
    return out.astype(np.float32)


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's magnitude correction ``0.1 * mscale * ln(factor) + 1`` (1 when the factor does not stretch)."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def yarn_factors(rope_theta: float, rope_dim: int, factor: float, original: float, beta_fast: float, beta_slow: float,
                 truncate: bool = True) -> np.ndarray:  # fmt: skip
    """YaRN's per-pair divisors (Hugging Face ``_compute_yarn_parameters``, llama.cpp ``ggml_rope_yarn_corr_dims``):
    the pairs below the correction range ``[low, high]`` (more than ``beta_fast`` turns over ``original`` positions)
    keep their frequency, those above it are divided by ``factor``, and the ramp ``(i - low) / (high - low)`` blends
    the frequency between: ``f / factor * ramp + f * (1 - ramp)``."""

    def correction_dim(turns: float) -> float:
        return (rope_dim * math.log(original / (turns * 2 * math.pi))) / (2 * math.log(rope_theta))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rope_dim - 1)
    if low == high:
        high += 0.001  # as both references: no division by zero
    ramp = np.clip((np.arange(rope_dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return (1.0 / (ramp / factor + (1.0 - ramp))).astype(np.float32)


def hf_scaling_type(scaling: Mapping[str, Any]) -> str:
    kind = scaling.get("rope_type", scaling.get("type"))
    return "default" if kind is None else kind


def hf_freq_factors(scaling: Mapping[str, Any], rope_theta: float, rope_dim: int, source: str) -> tuple[np.ndarray | None, float | None]:
    """The per-pair divisors of a config.json ``rope_scaling`` (or ``rope_parameters``) object, and YaRN's attention
    factor (None for the others); (None, None) for the default; RustyError naming the type for one that is not
    supported. A yarn object's ``original_max_position_embeddings`` is filled in by the importer (config.json's
    own top-level key wins, else ``max_position_embeddings``, as transformers does)."""
    kind = hf_scaling_type(scaling)
    if not isinstance(kind, str):
        raise RustyError(f"{source}: rope_scaling.rope_type = {printable(repr(kind))}: must be a string")
    if kind == "default":
        return None, None
    if kind == "linear":
        return np.full(rope_dim // 2, _number(scaling, "factor", source, "rope_scaling"), np.float32), None
    if kind == "llama3":
        factor, low, high, original = (
            _number(scaling, k, source, "rope_scaling")
            for k in ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        )
        if high <= low:
            raise RustyError(f"{source}: rope_scaling.high_freq_factor = {high:g} must be above low_freq_factor = {low:g}")
        return llama3_factors(default_inv_freq(rope_theta, rope_dim), factor, low, high, original), None
    if kind == "yarn":
        factor, original = (_number(scaling, k, source, "rope_scaling") for k in ("factor", "original_max_position_embeddings"))
        fast, slow = (_number(scaling, k, source, "rope_scaling") if scaling.get(k) else default
                      for k, default in (("beta_fast", 32.0), ("beta_slow", 1.0)))  # fmt: skip
        truncate = scaling.get("truncate", True)
        if type(truncate) is not bool:
            raise RustyError(f"{source}: rope_scaling.truncate = {printable(repr(truncate))}: must be true or false")
        if scaling.get("attention_factor") is not None:
            attention = _number(scaling, "attention_factor", source, "rope_scaling")
        elif scaling.get("mscale") and scaling.get("mscale_all_dim"):
            attention = yarn_mscale(factor, _number(scaling, "mscale", source, "rope_scaling")) / yarn_mscale(
                factor, _number(scaling, "mscale_all_dim", source, "rope_scaling"))  # fmt: skip
        else:
            attention = yarn_mscale(factor)
        return yarn_factors(rope_theta, rope_dim, factor, original, fast, slow, truncate), attention
    raise _unsupported(source, "rope_scaling.rope_type", kind, ", ".join(HF_SUPPORTED))


def gguf_freq_factors(scaling: Mapping[str, Any], arch: str, freqs: TensorView | None, rope_theta: float, rope_dim: int,
                      source: str) -> tuple[np.ndarray | None, float | None]:  # fmt: skip
    """The per-pair divisors of a GGUF: ``<arch>.rope.scaling.type`` (none, linear with ``.factor``, or yarn as
    llama.cpp reads it), times the ``rope_freqs.weight`` tensor if the file has one (Llama 3.1's factors), and
    YaRN's attention factor (llama.cpp: ``yarn_attn_factor * attn_factor * (0.1 ln(factor) + 1)``); None where
    they do not apply."""
    kind = scaling.get("type", "none")
    key = f"{arch}.rope.scaling.type"
    where = f"{arch}.rope.scaling"
    if not isinstance(kind, str):
        raise RustyError(f"{source}: {key} = {printable(repr(kind))}: must be a string")
    out: np.ndarray | None = None
    attention: float | None = None
    if kind == "linear":
        out = np.full(rope_dim // 2, _number(scaling, "factor", source, where), np.float32)
    elif kind == "yarn":
        factor, original = (_number(scaling, k, source, where) for k in ("factor", "original_context_length"))
        fast, slow = (_number(scaling, k, source, where) if k in scaling else default
                      for k, default in (("yarn_beta_fast", 32.0), ("yarn_beta_slow", 1.0)))  # fmt: skip
        ext = scaling.get("yarn_ext_factor", -1.0)
        if type(ext) not in (int, float) or not (ext < 0 or ext == 1):
            raise RustyError(f"{source}: {where}.yarn_ext_factor = {printable(repr(ext))}: only 1 (or unset, which llama.cpp "
                             "reads as 1 for yarn) is supported")  # fmt: skip
        if scaling.get("yarn_log_multiplier") not in (None, 0, 0.0):
            raise RustyError(f"{source}: {where}.yarn_log_multiplier = {printable(repr(scaling['yarn_log_multiplier']))}: "
                             "DeepSeek's yarn attention scaling is not supported yet; supported: 0 or unset")  # fmt: skip
        out = yarn_factors(rope_theta, rope_dim, factor, original, fast, slow)
        attention = yarn_mscale(factor)
        for k in ("yarn_attn_factor", "attn_factor"):
            if k in scaling:
                attention *= _number(scaling, k, source, where)
    elif kind != "none":
        raise _unsupported(source, key, kind, "none, linear, yarn, and per-frequency factors in rope_freqs.weight (Llama 3.1's "
                           "llama3 scaling)")  # fmt: skip
    if freqs is not None:
        if freqs.shape != (rope_dim // 2,):
            raise RustyError(
                f"{source}: tensor '{FREQS_TENSOR}' has shape {list(freqs.shape)}, but a rotation of {rope_dim} "
                f"dimensions needs one factor per pair: [{rope_dim // 2}]"
            )
        ff = freqs.to_numpy().astype(np.float32).reshape(-1)
        if not np.all(np.isfinite(ff)) or np.any(ff <= 0):
            raise RustyError(f"{source}: tensor '{FREQS_TENSOR}' holds factors that are not finite numbers above 0")
        out = ff if out is None else (out * ff).astype(np.float32)
    return out, attention


def layer_factors(cfg: Any, factors: np.ndarray | None) -> list[np.ndarray]:
    """Each layer's divisors where layers rotate differently (``cfg.rope_per_layer``): the global ones (``factors``,
    or ones) for the global layers; for the sliding layers ``theta^(-2i/d) / local^(-2i/d)``, which turns the
    global base ``cfg.rope_theta`` of ``tfm.rope`` into their own ``cfg.rope_local_theta``, unscaled."""
    half = cfg.rope_dim // 2
    glob = np.ones(half, np.float32) if factors is None else factors
    local_theta = cfg.rope_local_theta or cfg.rope_theta
    local = default_inv_freq(cfg.rope_theta, cfg.rope_dim).astype(np.float64) / default_inv_freq(local_theta, cfg.rope_dim)
    sliding = set(cfg.sliding_layers)
    return [local.astype(np.float32) if layer in sliding else glob for layer in range(cfg.n_layers)]


def freqs_view(factors: np.ndarray, source: str, name: str = FREQS_TENSOR) -> TensorView:
    """``rope_freqs.weight`` (or ``name``) as a float32 view of ``factors`` (held in memory)."""
    data = np.ascontiguousarray(factors, dtype="<f4").view(np.uint8).reshape(-1)
    return TensorView(name, (factors.shape[0],), SCHEMES["f32"], data, source=source)


def put_factors(views: MutableMapping[str, TensorView], factors: np.ndarray | None, source: str, cfg: Any = None) -> None:
    """Store ``factors`` as ``rope_freqs.weight`` (or drop a stale one when there are none); where ``cfg``'s layers
    rotate differently (``cfg.rope_per_layer``), each layer's as ``blk.N.rope_freqs.weight`` instead."""
    views.pop(FREQS_TENSOR, None)
    if cfg is not None and cfg.rope_per_layer:
        for layer, ff in enumerate(layer_factors(cfg, factors)):
            name = LAYER_FREQS_TENSOR.format(layer)
            views[name] = freqs_view(ff, source, name)
    elif factors is not None:
        views[FREQS_TENSOR] = freqs_view(factors, source)
