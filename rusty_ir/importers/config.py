"""The model's hyper-parameters (``ModelConfig``) and the tensors a model must have.

Both importers produce the same ``ModelConfig`` and the same weight names (GGUF's:
``token_embd.weight``, ``blk.N.attn_q.weight``, ...), so the rest of the compiler sees
one model whatever the checkpoint format. ``expected_tensors`` lists every tensor a
config implies with its logical ``[out, in]`` shape; the importers check presence and
shapes against it before any tensor data is read.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rusty_ir.errors import RustyError, printable
from rusty_ir.weights import TensorView


@dataclass(frozen=True)
class Architecture:
    """What an architecture changes in the llama decoder layer, as data: both importers, the tensor checks and
    ``to_ir`` read it from ``ARCHS``, so adding a llama-like architecture is one entry here.

    Every architecture runs the same layer: RMSNorm, q/k/v projections, RoPE, attention, o projection and
    residual, RMSNorm, SwiGLU MLP and residual; the fields switch on what some add."""

    name: str
    """GGUF ``general.architecture`` (and ``ModelConfig.arch``)."""
    hf_model_types: tuple[str, ...]
    """Hugging Face ``model_type`` values read as this architecture."""
    hf_class: str
    """config.json ``architectures`` entry (for ``export.write_hf_folder``)."""
    qkv_bias: bool = False
    """q/k/v projections have biases (``attn_q.bias``, ...; Hugging Face ``q_proj.bias``)."""
    qk_norm: bool = False
    """An RMSNorm over each head of q and of k, before RoPE (``attn_q_norm.weight``/``attn_k_norm.weight`` of
    ``head_dim``; Hugging Face ``self_attn.q_norm``/``k_norm``): ``tfm.rms_norm`` with ``head_dim``."""
    gguf_rope_style: str = "half"
    """Row order of q/k in a GGUF: llama.cpp permutes ``llama`` into ``"interleaved"``; NEOX archs stay ``"half"``."""
    fused: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Fused layer tensors and the tensors their rows hold, in order (split at import, zero-copy)."""
    gguf_renames: tuple[tuple[str, str], ...] = ()
    """Layer tensor names a GGUF of this architecture uses for a fused tensor (``ffn_up.weight`` holding gate and
    up rows in a ``phi3`` GGUF), renamed before splitting."""
    window_needs_flag: bool = False
    """config.json's ``sliding_window`` applies only with ``use_sliding_window: true`` (Qwen2, Qwen3), and then to the
    layers ``layer_types`` names, else to those from ``max_window_layers`` (28 where absent) on, as transformers reads it."""
    post_norms: bool = False
    """RMSNorms after attention and after the FFN too, before each residual add (``post_attention_norm.weight``,
    ``post_ffw_norm.weight``; Gemma 2/3)."""
    activation: str = "silu"
    """The gated FFN's activation of the gate: ``"silu"`` (SwiGLU) or ``"gelu_tanh"`` (GeGLU, Gemma)."""
    hf_activations: tuple[str, ...] = ()
    """config.json ``hidden_activation`` values taken for ``activation`` (checked where given; () = not read)."""
    embedding_scale: bool = False
    """The embedding rows are multiplied by sqrt(hidden) (Gemma; not the tied output head)."""
    hf_norm_offset: float = 0.0
    """config.json checkpoints store every RMSNorm weight as ``w - offset`` (Gemma's ``x * (1 + w)``): the importer
    adds it, so the IR's norms are plain ``x * w`` (llama.cpp's converter adds it into GGUF files already)."""
    hf_renames: tuple[tuple[str, str], ...] = ()
    """Hugging Face layer tensor names whose GGUF name differs from the llama table (Gemma's
    ``post_attention_layernorm`` is a post-norm, its ``pre_feedforward_layernorm`` the FFN norm)."""
    sliding_pattern: int = 0
    """Sliding-window layers interleaved with global ones: every ``sliding_pattern``-th layer is global, the others
    slide (Gemma 2: 2, Gemma 3: 6), where config.json has no ``layer_types`` and a GGUF no
    ``<arch>.attention.sliding_window_pattern`` (llama.cpp's constants). 0: every layer alike (Mistral)."""
    local_rope_theta: float | None = None
    """RoPE base of the sliding layers where the file names none (Gemma 3: 10000; config.json
    ``rope_local_base_freq``, GGUF ``<arch>.rope.freq_base_swa``). None: the global base. Sliding layers take no
    RoPE scaling (Gemma 3 4B+ scale the global layers' RoPE only)."""
    hf_query_pre_attn_scalar: float | None = None
    """transformers' ``query_pre_attn_scalar`` where config.json has none (Gemma 2/3: 256); None: the architecture
    has no such option (a config.json's key is not read)."""
    logit_softcapping: bool = False
    """The model caps its logits as config.json's ``final_logit_softcapping`` (GGUF ``<arch>.final_logit_softcapping``)
    says (Gemma 2/3; other architectures' transformers and llama.cpp code ignore the key, so it is not read)."""
    gguf_wide_query_layers: tuple[int, ...] = ()
    """llama.cpp's rule for a GGUF's query scaling (it stores no ``query_pre_attn_scalar``): models of these layer
    counts (the 27B ones) scale queries by 1/sqrt(hidden / heads), all others by 1/sqrt(head_dim)."""
    hf_attn_softcapping: bool = False
    """config.json's ``attn_logit_softcapping`` caps the attention scores (Gemma 2/3 in transformers)."""
    gguf_softcaps: tuple[float, float] | None = None
    """llama.cpp soft-caps this architecture's attention scores and logits (Gemma 2): ``<arch>.attn_logit_softcapping``
    and ``<arch>.final_logit_softcapping``, these defaults (llama.cpp's 50 and 30) where the file has no key."""
    gguf_window: int | None = None
    """The sliding window where a GGUF has no ``<arch>.attention.sliding_window`` (llama.cpp's 4096 for Gemma 2)."""


_GELU_TANH = ("gelu_pytorch_tanh",)
_GEMMA_NAMES = (
    ("post_attention_layernorm.weight", "post_attention_norm.weight"),
    ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
    ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
)
ARCHS: dict[str, Architecture] = {
    "llama": Architecture("llama", ("llama", "mistral"), "LlamaForCausalLM", gguf_rope_style="interleaved"),
    "phi3": Architecture(
        "phi3",
        ("phi3",),
        "Phi3ForCausalLM",
        fused=(
            ("attn_qkv.weight", ("attn_q.weight", "attn_k.weight", "attn_v.weight")),
            ("ffn_gate_up.weight", ("ffn_gate.weight", "ffn_up.weight")),
        ),
        gguf_renames=(("ffn_up.weight", "ffn_gate_up.weight"),),
    ),
    "qwen2": Architecture("qwen2", ("qwen2",), "Qwen2ForCausalLM", qkv_bias=True, window_needs_flag=True),
    "qwen3": Architecture("qwen3", ("qwen3",), "Qwen3ForCausalLM", qk_norm=True, window_needs_flag=True),
    "gemma2": Architecture(
        "gemma2",
        ("gemma2",),
        "Gemma2ForCausalLM",
        post_norms=True,
        activation="gelu_tanh",
        hf_activations=_GELU_TANH,
        embedding_scale=True,
        hf_norm_offset=1.0,
        hf_renames=_GEMMA_NAMES,
        sliding_pattern=2,
        hf_query_pre_attn_scalar=256.0,
        logit_softcapping=True,
        gguf_wide_query_layers=(46,),
        hf_attn_softcapping=True,
        gguf_softcaps=(50.0, 30.0),
        gguf_window=4096,
    ),
    "gemma3": Architecture(
        "gemma3",
        ("gemma3_text",),
        "Gemma3ForCausalLM",
        qk_norm=True,
        post_norms=True,
        activation="gelu_tanh",
        hf_activations=_GELU_TANH,
        embedding_scale=True,
        hf_norm_offset=1.0,
        hf_renames=_GEMMA_NAMES,
        sliding_pattern=6,
        local_rope_theta=10000.0,
        hf_query_pre_attn_scalar=256.0,
        logit_softcapping=True,
        gguf_wide_query_layers=(62,),
        hf_attn_softcapping=True,
    ),
}
"""The architectures the compiler runs."""
ARCHITECTURES = tuple(ARCHS)
ARCH_OF_HF_MODEL_TYPE = {t: a.name for a in ARCHS.values() for t in a.hf_model_types}
NOT_SUPPORTED_YET: dict[str, str] = {
    "gemma": (
        "Gemma (1) scales the embeddings by sqrt(hidden), stores RMSNorm weights as w - 1 and uses GeGLU (tanh GELU) "
        "like Gemma 2/3, but has no post-norms; only Gemma 2 and Gemma 3 are wired up"
    ),
    "gemma3": (
        "this is a multimodal Gemma 3 folder (Gemma3ForConditionalGeneration, model_type gemma3, the text model "
        "under text_config); only the text model is supported: a gemma3_text folder (such as gemma-3-1b), or "
        "a GGUF of the text model (llama.cpp writes the vision tower to a separate mmproj file)"
    ),
}
"""Architectures people ask for that the compiler does not run yet, with what differs or what to use instead: the
importers name it instead of calling the architecture unknown (a GGUF's ``gemma3`` is the text model and runs)."""
SUPPORTED_DESCRIPTION = (
    "llama (and mistral, Llama 3.x with llama3 or linear RoPE scaling), qwen2 (and yarn scaling), qwen3, "
    "phi3 (without LongRoPE), gemma2, gemma3 (gemma3_text)"
)


def unsupported_architecture(source: str, key: str, name: str) -> str:
    """The error text for an architecture the importers do not take: what differs where it is a known one."""
    why = NOT_SUPPORTED_YET.get(name)
    if why is not None:
        return f"{source}: architecture '{printable(name)}' ({key}) is not supported yet: {why}. Supported: {SUPPORTED_DESCRIPTION}"
    return f"{source}: unknown architecture '{printable(name)}' ({key}; supported: {SUPPORTED_DESCRIPTION})"


ROPE_STYLES = ("interleaved", "half")
MAX_SIZE = 2**31 - 1
"""The largest count or dimension a config may give (kernels index with 32-bit integers)."""
_SIZES = ("n_layers", "hidden", "n_heads", "n_kv_heads", "head_dim", "ffn_hidden", "vocab", "context_length", "rope_dim")
_POSITIVE_FLOATS = ("rope_theta", "rms_eps")
_OPTIONAL_FIELDS = (
    "sliding_window",
    "sliding_layers",
    "rope_local_theta",
    "query_pre_attn_scalar",
    "logit_softcap",
    "rope_attention_factor",
    "attn_softcap",
)


class ConfigValueError(ValueError):
    """A ``ModelConfig`` field out of range; ``field`` names it, so an importer can name its metadata key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.reason = message


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
    """The checkpoint's rope scaling parameters, sorted (key, value) pairs, or None. The importers
    apply them as ``rope_freqs.weight`` (per-pair frequency divisors, importers/rope.py); a consumer
    that cannot honour them should refuse the model."""
    name: str = ""
    sliding_window: int | None = None
    """The checkpoint's attention window W (Mistral's and Phi-3's ``sliding_window``, Gemma's sliding layers'): a
    query at position q sees the keys at positions above ``q - W`` (``tfm.attention {window}``). It applies to
    ``sliding_layers``, or to every layer where that is empty; a window of ``context_length`` or more is never
    reached (``layer_window`` gives None)."""
    sliding_layers: tuple[int, ...] = ()
    """The layers with sliding-window attention where some layers are global instead (Gemma 2/3, Qwen2 from
    ``max_window_layers``); () when every layer attends alike. They may also differ by their RoPE
    (``rope_local_theta``, no scaling)."""
    rope_local_theta: float | None = None
    """Where set, ``sliding_layers`` rotate on their own: with this base (Gemma 3's ``rope_local_base_freq``) and
    without the RoPE scaling of the global layers. None: as the global layers (Gemma 2)."""
    query_pre_attn_scalar: float | None = None
    """Attention scores are scaled by ``query_pre_attn_scalar ** -0.5`` (Gemma); None: by ``head_dim ** -0.5``."""
    logit_softcap: float | None = None
    """Final-logit soft-capping (Gemma 2's ``final_logit_softcapping``): logits become ``cap * tanh(logits / cap)``."""
    rope_attention_factor: float | None = None
    """YaRN's attention factor (importers/rope.py): the rotated q and k are scaled by it, so the attention
    scores by its square. None: 1."""
    attn_softcap: float | None = None
    """Attention-logit soft-capping (Gemma 2's ``attn_logit_softcapping``): the scaled attention scores become
    ``cap * tanh(scores / cap)`` before the mask and the softmax (``tfm.attention {softcap}``)."""

    def __post_init__(self) -> None:
        """Check every field's type and range: ``ConfigValueError`` naming the field otherwise."""
        if self.rope_dim == 0:
            object.__setattr__(self, "rope_dim", self.head_dim)
        if self.arch not in ARCHITECTURES:
            raise ConfigValueError("arch", f"{self.arch!r} is unknown (known: {', '.join(ARCHITECTURES)})")
        if self.rope_style not in ROPE_STYLES:
            raise ConfigValueError("rope_style", f"{self.rope_style!r} is unknown (known: {', '.join(ROPE_STYLES)})")
        for name in _SIZES:
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= MAX_SIZE:
                raise ConfigValueError(name, f"= {value!r}: must be an integer from 1 to {MAX_SIZE}")
        for name in _POSITIVE_FLOATS:
            value = getattr(self, name)
            if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
                raise ConfigValueError(name, f"= {value!r}: must be a finite number above 0")
        for name in ("tied_embeddings", "qkv_bias"):
            if type(getattr(self, name)) is not bool:
                raise ConfigValueError(name, f"= {getattr(self, name)!r}: must be true or false")
        for name, ids in (
            ("bos_token_id", () if self.bos_token_id is None else (self.bos_token_id,)),
            ("eos_token_ids", self.eos_token_ids),
        ):
            if any(type(i) is not int or not 0 <= i < self.vocab for i in ids):
                raise ConfigValueError(name, f"= {self.bos_token_id if name == 'bos_token_id' else list(ids)!r}: "
                                             f"token ids must be in the vocabulary (0 to {self.vocab - 1})")  # fmt: skip
        if self.sliding_window is not None and (type(self.sliding_window) is not int or not 1 <= self.sliding_window <= MAX_SIZE):
            raise ConfigValueError("sliding_window", f"= {self.sliding_window!r}: must be an integer from 1 to {MAX_SIZE}")
        if self.n_heads % self.n_kv_heads:
            raise ConfigValueError("n_kv_heads", f"= {self.n_kv_heads} does not divide n_heads = {self.n_heads}")
        if any(type(i) is not int or not 0 <= i < self.n_layers for i in self.sliding_layers) or len(set(self.sliding_layers)) != len(
                self.sliding_layers):  # fmt: skip
            raise ConfigValueError(
                "sliding_layers", f"= {list(self.sliding_layers)!r}: must be distinct layer indices below {self.n_layers}"
            )
        for name in ("rope_local_theta", "query_pre_attn_scalar", "logit_softcap", "rope_attention_factor", "attn_softcap"):
            value = getattr(self, name)
            if value is not None and (type(value) not in (int, float) or not math.isfinite(value) or value <= 0):
                raise ConfigValueError(name, f"= {value!r}: must be a finite number above 0")

    @property
    def architecture(self) -> Architecture:
        return ARCHS[self.arch]

    @property
    def qk_norm(self) -> bool:
        """Per-head RMSNorm on q and k before RoPE (Qwen3)."""
        return ARCHS[self.arch].qk_norm

    @property
    def embedding_scale(self) -> float | None:
        """What the embedding rows are multiplied by (sqrt(hidden) for Gemma), or None."""
        return math.sqrt(self.hidden) if ARCHS[self.arch].embedding_scale else None

    @property
    def attention_scale(self) -> float:
        """The attention scores' scale: ``query_pre_attn_scalar`` (or ``head_dim``) ** -0.5, times the square of
        YaRN's attention factor (which multiplies both the rotated q and k)."""
        scale = 1.0 / math.sqrt(self.head_dim) if self.query_pre_attn_scalar is None else self.query_pre_attn_scalar**-0.5
        return float(scale * (self.rope_attention_factor or 1.0) ** 2)

    def layer_window(self, layer: int) -> int | None:
        """Layer ``layer``'s attention window (``sliding_window`` where it slides and the window is shorter than the
        context), or None: full causal attention."""
        if self.sliding_window is None or self.sliding_window >= self.context_length:
            return None
        return self.sliding_window if not self.sliding_layers or layer in self.sliding_layers else None

    @property
    def rope_per_layer(self) -> bool:
        """Whether layers rotate q/k differently (Gemma 3's sliding layers: their own base, no scaling): then each
        layer's frequency divisors are the tensor ``blk.N.rope_freqs.weight`` (importers/rope.py)."""
        own = self.rope_local_theta is not None and (self.rope_local_theta != self.rope_theta or self.rope_scaling is not None)
        return bool(self.sliding_layers) and own

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
        for name in _OPTIONAL_FIELDS:  # absent rather than null: configs and fingerprints as before the fields
            if not out[name]:
                del out[name]
        if self.sliding_layers:
            out["sliding_layers"] = list(self.sliding_layers)
        return out

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


# --- reading hyper-parameters -----------------------------------------------------------------

_KINDS: dict[type, tuple[str, Any]] = {
    int: ("an integer", lambda v: type(v) is int),
    float: ("a number", lambda v: type(v) in (int, float)),
    bool: ("true or false", lambda v: type(v) is bool),
    str: ("a string", lambda v: type(v) is str),
}


class Fields:
    """Typed reads of a checkpoint's metadata (GGUF key/values or a config.json): a value of the wrong type
    (``"no"`` for a boolean, ``1e12`` or ``[2, 3]`` for a count) is a RustyError naming the file and key."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source

    def get(self, key: str, kind: type, default: Any = ..., *, null_is_missing: bool = False) -> Any:
        """``data[key]`` if it is of ``kind`` (int, float, bool or str; an int is a float too), ``default`` when
        the key is absent (or null, with ``null_is_missing``); RustyError when absent without a default."""
        value: Any = self.data.get(key)  # a JSON or GGUF value, checked against ``kind`` below
        if key not in self.data or (value is None and null_is_missing):
            if default is ...:
                raise RustyError(f"{self.source}: missing key '{key}'")
            return default
        what, ok = _KINDS[kind]
        if not ok(value):
            shown = f"an array of {len(value)} items" if isinstance(value, list) and len(value) > 8 else printable(repr(value))
            raise RustyError(f"{self.source}: {key} = {shown}: must be {what}")
        return float(value) if kind is float else value

    def config_error(self, err: ConfigValueError, keys: Mapping[str, str]) -> RustyError:
        """A ModelConfig range error, naming the key the field came from."""
        return RustyError(f"{self.source}: {keys.get(err.field, err.field)} {printable(err.reason, 200)}")


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
_POST_NORM_TENSORS: dict[str, tuple[str, ...]] = {
    "post_attention_norm.weight": ("hidden",),
    "post_ffw_norm.weight": ("hidden",),
}
_QK_NORM_TENSORS: dict[str, tuple[str, ...]] = {
    "attn_q_norm.weight": ("head_dim",),
    "attn_k_norm.weight": ("head_dim",),
}
_BIAS_TENSORS: dict[str, tuple[str, ...]] = {
    "attn_q.bias": ("n_heads*head_dim",),
    "attn_k.bias": ("n_kv_heads*head_dim",),
    "attn_v.bias": ("n_kv_heads*head_dim",),
}

LAYER_TENSOR_RE = re.compile(r"^blk\.(\d{1,10})\.(.+)$")


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
    if cfg.qk_norm:
        layer.update(_QK_NORM_TENSORS)
    if cfg.architecture.post_norms:
        layer.update(_POST_NORM_TENSORS)
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
    if cfg.n_layers * len(_LAYER_TENSORS) > len(shapes):  # before listing them: a huge count is no work
        raise RustyError(
            f"{config_source} says {key_of.get('n_layers', 'n_layers')}={cfg.n_layers}, but the checkpoint has only "
            f"{len(shapes)} tensors ({len(_LAYER_TENSORS)} per layer)"
        )
    specs = expected_tensors(cfg)
    for name, spec in specs.items():
        if name not in shapes:
            raise RustyError(
                f"{source_of(name)}: missing tensor '{display_name(name)}' (expected shape {list(spec.shape)} from {config_source})"
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
                f"{source_of(name)}: tensor '{printable(display_name(name))}' belongs to layer {m.group(1)}, "
                f"but {config_source} says {key_of.get('n_layers', 'n_layers')}={cfg.n_layers}"
            )


def split_fused(cfg: ModelConfig, views: dict[str, TensorView], *, display_name: Any = lambda n: n, config_source: str) -> None:
    """Replace, in place, each fused layer tensor of ``cfg``'s architecture (Phi-3's ``attn_qkv.weight``, and its
    gate-up tensor) by the tensors its rows hold, as zero-copy row slices of its bytes (a row of any scheme is
    whole blocks). Renames the GGUF names in ``Architecture.gguf_renames`` first where a file uses them.
    RustyError when a fused tensor's rows are not the sum of its parts' (naming the tensor and the config)."""
    arch = cfg.architecture
    if not arch.fused:
        return
    specs = expected_tensors(cfg)
    for name in list(views):
        m = LAYER_TENSOR_RE.match(name)
        if m is None:
            continue
        layer, suffix = m.group(1), m.group(2)
        suffix = dict(arch.gguf_renames).get(suffix, suffix)
        parts = dict(arch.fused).get(suffix)
        if parts is None:
            continue
        view = views.pop(name)
        want = [specs[f"blk.{layer}.{p}"].shape if f"blk.{layer}.{p}" in specs else None for p in parts]
        if any(w is None for w in want) or any(len(w) != len(view.shape) or w[1:] != view.shape[1:] for w in want if w is not None) \
                or sum(w[0] for w in want if w is not None) != view.shape[0]:  # fmt: skip
            shapes = " + ".join(f"{list(w) if w else '?'} ({p})" for w, p in zip(want, parts, strict=True))
            raise RustyError(
                f"{view.source or config_source}: fused tensor '{printable(display_name(name))}' has shape {list(view.shape)}, "
                f"but {config_source} implies its rows are {shapes}"
            )
        row_bytes = view.nbytes // view.shape[0]
        start = 0
        for part, shape in zip(parts, want, strict=True):
            assert shape is not None
            target = f"blk.{layer}.{part}"
            if target in views:
                raise RustyError(f"{view.source or config_source}: tensor '{target}' is stored both on its own and inside "
                                 f"the fused '{printable(display_name(name))}'")  # fmt: skip
            data = view.data[start * row_bytes : (start + shape[0]) * row_bytes]
            views[target] = TensorView(target, shape, view.scheme, data, source=view.source)
            start += shape[0]
