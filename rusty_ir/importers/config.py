"""The model's hyper-parameters (``ModelConfig``) and the tensors a model must have.

Both importers produce the same ``ModelConfig`` and the same weight names (GGUF's:
``token_embd.weight``, ``blk.N.attn_q.weight``, ...), so the rest of the compiler sees
one model whatever the checkpoint format. ``expected_tensors`` lists every tensor a
config implies with its logical ``[out, in]`` shape; the importers check presence and
shapes against it before any tensor data is read.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from rusty_ir.errors import RustyError

ARCHITECTURES = ("llama", "qwen2")
ROPE_STYLES = ("interleaved", "half")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a llama-family decoder-only transformer.

    ``rope_style`` says how the rows of ``attn_q``/``attn_k`` are ordered within a head:
    ``"interleaved"`` (llama.cpp's GGUF ``llama`` order: rotate the pairs
    ``(x[2i], x[2i+1])``) or ``"half"`` (Hugging Face's order, and GGUF ``qwen2``, which
    llama.cpp runs with NEOX rope: rotate ``x[i]`` with ``x[i + rope_dim/2]``). Either way
    pair ``i`` turns by ``pos * rope_theta ** (-2i / rope_dim)``.
    """

    arch: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_hidden: int
    vocab: int
    rope_theta: float
    rope_style: str
    rms_eps: float
    context_length: int
    tied_embeddings: bool
    qkv_bias: bool = False
    rope_dim: int = 0
    """Rotated dimensions per head (0 in the constructor means ``head_dim``)."""
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    rope_scaling: tuple[tuple[str, Any], ...] | None = None
    """The checkpoint's rope scaling parameters, sorted (key, value) pairs, or None.
    Recorded, not applied: a consumer that cannot honour them should refuse the model."""
    name: str = ""

    def __post_init__(self) -> None:
        if self.rope_dim == 0:
            object.__setattr__(self, "rope_dim", self.head_dim)
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r} (known: {', '.join(ARCHITECTURES)})")
        if self.rope_style not in ROPE_STYLES:
            raise ValueError(f"unknown rope_style {self.rope_style!r} (known: {', '.join(ROPE_STYLES)})")

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["eos_token_ids"] = list(self.eos_token_ids)
        if self.rope_scaling is not None:
            out["rope_scaling"] = dict(self.rope_scaling)
        return out

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


# --- the tensors a config implies -------------------------------------------------------

# Each dimension is a product of ModelConfig fields, written "a*b".
_GLOBAL_TENSORS: dict[str, tuple[str, ...]] = {
    "token_embd.weight": ("vocab", "hidden"),
    "output_norm.weight": ("hidden",),
}
_OUTPUT = ("output.weight", ("vocab", "hidden"))
_LAYER_TENSORS: dict[str, tuple[str, ...]] = {
    "attn_norm.weight": ("hidden",),
    "attn_q.weight": ("n_heads*head_dim", "hidden"),
    "attn_k.weight": ("n_kv_heads*head_dim", "hidden"),
    "attn_v.weight": ("n_kv_heads*head_dim", "hidden"),
    "attn_output.weight": ("hidden", "n_heads*head_dim"),
    "ffn_norm.weight": ("hidden",),
    "ffn_gate.weight": ("ffn_hidden", "hidden"),
    "ffn_up.weight": ("ffn_hidden", "hidden"),
    "ffn_down.weight": ("hidden", "ffn_hidden"),
}
_BIAS_TENSORS: dict[str, tuple[str, ...]] = {
    "attn_q.bias": ("n_heads*head_dim",),
    "attn_k.bias": ("n_kv_heads*head_dim",),
    "attn_v.bias": ("n_kv_heads*head_dim",),
}

LAYER_TENSOR_RE = re.compile(r"^blk\.(\d+)\.(.+)$")


@dataclass(frozen=True)
class TensorSpec:
    """An expected tensor: its name, its shape and how each dimension follows from the config."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    """Per dimension, the ModelConfig fields whose product it is, e.g. ``"n_heads*head_dim"``."""


def _eval_dim(cfg: ModelConfig, expr: str) -> int:
    value = 1
    for field in expr.split("*"):
        value *= int(getattr(cfg, field))
    return value


def expected_tensors(cfg: ModelConfig) -> dict[str, TensorSpec]:
    """Every tensor ``cfg`` implies, by GGUF-style name, with its logical [out, in] shape."""
    specs: dict[str, TensorSpec] = {}

    def add(name: str, dims: tuple[str, ...]) -> None:
        specs[name] = TensorSpec(name, tuple(_eval_dim(cfg, d) for d in dims), dims)

    for name, dims in _GLOBAL_TENSORS.items():
        add(name, dims)
    if not cfg.tied_embeddings:
        add(*_OUTPUT)
    layer = dict(_LAYER_TENSORS)
    if cfg.qkv_bias:
        layer.update(_BIAS_TENSORS)
    for i in range(cfg.n_layers):
        for suffix, dims in layer.items():
            add(f"blk.{i}.{suffix}", dims)
    return specs


def check_tensors(
    cfg: ModelConfig,
    shapes: dict[str, tuple[int, ...]],
    *,
    source_of: Any,
    display_name: Any = lambda n: n,
    key_of: dict[str, str],
    config_source: str,
) -> None:
    """Raise RustyError unless every tensor ``cfg`` implies is in ``shapes`` with its shape.

    ``source_of(name)`` names the file holding a tensor, ``display_name(name)`` its name in
    that file, ``key_of[field]`` the metadata key a ModelConfig field came from and
    ``config_source`` the file holding that metadata. Layer tensors with an index at or past
    ``n_layers`` are an error too (the config contradicts the weights).
    """
    specs = expected_tensors(cfg)
    for name, spec in specs.items():
        if name not in shapes:
            raise RustyError(
                f"{source_of(name)}: missing tensor '{display_name(name)}' "
                f"(expected shape {list(spec.shape)} from {config_source})"
            )
        got = tuple(shapes[name])
        if got != spec.shape:
            fields = sorted({f for d in spec.dims for f in d.split("*")})
            keys = ", ".join(f"{key_of.get(f, f)}={getattr(cfg, f)}" for f in fields)
            raise RustyError(
                f"{source_of(name)}: tensor '{display_name(name)}' has shape {list(got)}, "
                f"but {config_source} implies {list(spec.shape)} ({keys})"
            )
    for name in shapes:
        m = LAYER_TENSOR_RE.match(name)
        if m and int(m.group(1)) >= cfg.n_layers:
            raise RustyError(
                f"{source_of(name)}: tensor '{display_name(name)}' belongs to layer {m.group(1)}, "
                f"but {config_source} says {key_of.get('n_layers', 'n_layers')}={cfg.n_layers}"
            )
