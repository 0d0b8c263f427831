"""Build the transformer-level (``tfm``) module of an imported checkpoint.

``build_module(config, weights)`` produces the module docs/architecture.md
describes ("Transformer level"):

- the module attribute ``tfm.config``: the model's hyper-parameters;
- ``tfm.kv_cache @kv``: one K/V cache for every layer;
- ``func.func @decoder_layer(%h, %pos, %layer, <weights>) -> tensor<?xDxf32>``:
  one pre-norm decoder layer with what its architecture adds (``ARCHS``: q/k
  norms, post-norms, GeGLU), its weights as arguments;
- ``func.func @prefill(%tokens: tensor<?xi32>, %pos: index) -> i32`` and
  ``func.func @decode(%token: tensor<1xi32>, %pos: index) -> i32``: embedding
  (scaled by sqrt(hidden) for Gemma), an ``scf.for`` over the layers that loads
  each layer's weights with layer-indexed ``tfm.weight "blk.{}.<name>"[%l]`` and
  calls ``@decoder_layer``, the final norm, ``tfm.logits`` of the last row
  (``tfm.softcap`` where the model caps its logits) and ``tfm.argmax``;
- optionally (``logits_entry=True``) ``func.func @prefill_logits(%tokens, %pos)
  -> tensor<Vxf32>``: the same as ``@prefill`` but returning the logits, for
  checking numerics against a reference;
- optionally (``sampling_entries=True``) ``func.func @prefill_sample(%tokens, %pos,
  %sampling: tensor<Wxi32>) -> i32`` and ``@decode_sample``: ``tfm.sample`` under the
  packed options ``%sampling`` (``rusty_ir.sampling.pack``) instead of ``tfm.argmax``;
- optionally (``verify_entry=True``) ``func.func @verify(%tokens: tensor<?xi32>, %pos)
  -> tensor<?xi32>``: the greedy next token after *every* row (``tfm.linear`` of the
  normed rows onto the vocabulary, ``tfm.row_argmax``), for speculative decoding's
  verification step (``rusty_ir.speculative``); with both, also ``func.func
  @verify_sample(%tokens, %pos, %sampling: tensor<?xWxi32>) -> tensor<?xi32>``: a token
  drawn after every row under its own row of packed options (``tfm.row_sample``), for
  sampled speculation.

The IR size does not depend on the number of layers. Weight types come from the
weight store: the element type is the storage scheme (``f32``/``f16``/``bf16``
or a ``!rquant`` type), so quantized weights stay quantized in the IR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, func, scf, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    ArrayAttr,
    BoolAttr,
    DictionaryAttr,
    FloatAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
    f64,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Region, SSAValue

from rusty_ir.dialects.quant.attrs import element_type_for_scheme
from rusty_ir.dialects.transformer import (
    AddOp,
    ArgmaxOp,
    AttentionOp,
    EmbeddingOp,
    GeluOp,
    KvCacheOp,
    LinearOp,
    LogitsOp,
    MulOp,
    RmsNormOp,
    RopeOp,
    RowArgmaxOp,
    RowSampleOp,
    SampleOp,
    SiluOp,
    SoftcapOp,
    WeightOp,
)
from rusty_ir.errors import RustyError, printable
from rusty_ir.sampling import SAMPLING_WORDS
from rusty_ir.weights import TensorView

from .config import ModelConfig
from .rope import FREQS_TENSOR, LAYER_FREQS_TENSOR

__all__ = ["KV_CACHE", "build_module", "layer_weight_names"]

KV_CACHE = "kv"
"""Symbol name of the model's KV cache."""

INDEX = IndexType()

# The per-layer tensors, in the order they are passed to @decoder_layer (suffixes of "blk.N.").
_LAYER_WEIGHTS = (
    "attn_norm.weight",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_output.weight",
    "ffn_norm.weight",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_down.weight",
)
_BIASES = ("attn_q.bias", "attn_k.bias", "attn_v.bias")
_QK_NORMS = ("attn_q_norm.weight", "attn_k_norm.weight")
_POST_NORMS = ("post_attention_norm.weight", "post_ffw_norm.weight")
_LAYER_FREQS = LAYER_FREQS_TENSOR.removeprefix("blk.{}.")


def layer_weight_names(config: ModelConfig) -> tuple[str, ...]:
    """The suffixes of the per-layer tensors (``attn_q.weight``, ...), in @decoder_layer argument order: the
    optional ones of the architecture (biases, q/k norms, post-norms) and, where layers rotate differently,
    each layer's RoPE divisors (``rope_freqs.weight``) last."""
    return (
        _LAYER_WEIGHTS
        + (_BIASES if config.qkv_bias else ())
        + (_QK_NORMS if config.qk_norm else ())
        + (_POST_NORMS if config.architecture.post_norms else ())
        + ((_LAYER_FREQS,) if config.rope_per_layer else ())
    )


def _tensor(shape: Sequence[int], elem: Attribute = f32) -> TensorType[Attribute]:
    return TensorType(elem, list(shape))


def _weight_type(view: TensorView) -> TensorType[Attribute]:
    """The IR type of a stored tensor: its shape, and its storage scheme as element type."""
    return _tensor(view.shape, element_type_for_scheme(view.scheme))


def _lookup(weights: Mapping[str, TensorView], name: str) -> TensorView:
    view = weights.get(name)
    if view is None:
        raise RustyError(f"{getattr(weights, 'source', '') or 'weight store'}: missing tensor '{name}'")
    return view


def _config_attr(config: ModelConfig) -> DictionaryAttr:
    """``tfm.config``: every hyper-parameter as a builtin attribute (None values left out)."""

    def convert(value: Any) -> Attribute | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return BoolAttr.from_bool(value)
        if isinstance(value, int):
            return IntegerAttr(value, i64)
        if isinstance(value, float):
            return FloatAttr(value, f64)
        if isinstance(value, str):
            return StringAttr(value)
        if isinstance(value, Mapping):
            items = {str(k): convert(v) for k, v in value.items()}
            return DictionaryAttr({k: v for k, v in items.items() if v is not None})
        if isinstance(value, list | tuple):
            converted = [convert(v) for v in value]
            return ArrayAttr([v for v in converted if v is not None])
        return StringAttr(str(value))

    entries: dict[str, Attribute] = {}
    for key, value in config.to_dict().items():
        attr = convert(value)
        if attr is not None:
            entries[key] = attr
    return DictionaryAttr(entries)


def _rope_factors_type(config: ModelConfig, weights: Mapping[str, TensorView]) -> TensorType[Attribute] | None:
    """The type of ``rope_freqs.weight`` (RoPE scaling's per-pair frequency divisors, see importers/rope.py)
    when the weights have it; RustyError when the config records a scaling the weights do not carry."""
    if config.rope_per_layer:  # each layer's divisors are layer tensors (``_Layers`` checks them)
        return None
    view = weights.get(FREQS_TENSOR)
    if view is None:
        if config.rope_scaling is not None:
            name = printable(config.name or config.arch)
            raise RustyError(
                f"model '{name}': rope scaling {printable(dict(config.rope_scaling), 200)} has no '{FREQS_TENSOR}' "
                "in the weights (the importers compute it; a hand-made config must add it)"
            )
        return None
    want = (config.rope_dim // 2,)
    if view.shape != want or view.scheme.name != "f32":
        raise RustyError(f"{FREQS_TENSOR} must be f32 of shape {list(want)}, got {view.scheme.name} {list(view.shape)}")
    return _weight_type(view)


def _check_supported(config: ModelConfig) -> None:
    """Refuse what the tfm ops cannot express yet, rather than compute something else."""
    name = printable(config.name or config.arch)
    if config.rope_dim != config.head_dim:
        raise RustyError(
            f"model '{name}': partial rotary embeddings (rope_dim {config.rope_dim} < head_dim {config.head_dim}) are not supported yet"
        )


class _Layers:
    """How the layers store their tensors: one type per tensor when every layer agrees (``uniform``), else each
    layer's own (mixed quantizations such as Q4_K_M keep attn_v and ffn_down in Q6_K in some layers only), and how
    they attend (``ModelConfig.layer_window``: Gemma's sliding layers interleaved with global ones).

    ``signatures`` are the distinct per-layer (type list, window) pairs, in order of first use; layer ``l`` runs the
    decoder layer function ``function(of_layer[l])``: ``@decoder_layer`` for the first, ``@decoder_layer_1``, ... for
    the others, so kernels are specialized per signature (a window is a property of the layer's ``tfm.attention``)."""

    def __init__(self, config: ModelConfig, weights: Mapping[str, TensorView]) -> None:
        self.names = layer_weight_names(config)
        if config.rope_per_layer and LAYER_FREQS_TENSOR.format(0) not in weights:
            raise RustyError(
                f"model '{printable(config.name or config.arch)}': its layers rotate differently (sliding layers {list(config.sliding_layers)}, "
                f"local RoPE base {config.rope_local_theta}), but the weights have no '{LAYER_FREQS_TENSOR.format(0)}' (the importers "
                "compute each layer's; a hand-made config must add them)"
            )
        per_layer: list[tuple[TensorType[Attribute], ...]] = []
        for layer in range(config.n_layers):
            per_layer.append(tuple(_weight_type(_lookup(weights, f"blk.{layer}.{suffix}")) for suffix in self.names))
        for i, suffix in enumerate(self.names):
            first = per_layer[0][i]
            for layer in range(1, config.n_layers):
                ty = per_layer[layer][i]
                if ty.get_shape() != first.get_shape():
                    raise RustyError(f"blk.{layer}.{suffix} has shape {list(ty.get_shape())}, blk.0.{suffix} has {list(first.get_shape())}")
        self.varying = {suffix for i, suffix in enumerate(self.names) if len({types[i] for types in per_layer}) > 1}
        """Tensors stored in different schemes by different layers: loaded by their own name in each layer."""
        keyed = [(types, config.layer_window(layer)) for layer, types in enumerate(per_layer)]
        self.signatures: list[tuple[tuple[TensorType[Attribute], ...], int | None]] = list(dict.fromkeys(keyed))
        self.of_layer = [self.signatures.index(key) for key in keyed]

    @property
    def uniform(self) -> bool:
        """One decoder layer function serves every layer (an ``scf.for`` over them)."""
        return len(self.signatures) == 1

    @staticmethod
    def function(signature: int) -> str:
        return "decoder_layer" if signature == 0 else f"decoder_layer_{signature}"

    def ffn_owner(self, signature: int) -> int:
        """The signature whose ``@..._ffn`` function serves ``signature``'s MLP half where layers are split: the first
        with the same tensor types (a window changes the attention half only)."""
        types = self.signatures[signature][0]
        return next(i for i, (t, _) in enumerate(self.signatures) if t == types)


_FFN_WEIGHTS = ("ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight")
"""The weights of a decoder layer's MLP half (``@decoder_layer*_ffn`` where layers are split, see ``split_layers``)."""


def split_layers(config: ModelConfig) -> bool:
    """Whether each decoder layer is two functions, attention then MLP (``@decoder_layer`` and ``@decoder_layer_ffn``):
    with post-norms (Gemma), so that the residual between them is a function result, stored, and the MLP's norm reads
    it. In one function the MLP's norm would read ``h + rms_norm(o)``: two chained row reductions in the prologue of
    the gate/up kernel, which the kernels' schedules (one reduction phase) do not compute."""
    return config.architecture.post_norms


def _attention_half(config: ModelConfig, h: SSAValue, pos: SSAValue, layer: SSAValue, w: Mapping[str, SSAValue],
                    ff: SSAValue | None, window: int | None = None) -> SSAValue:  # fmt: skip
    """Attention block (into the current ImplicitBuilder block): h + o(attention(rope(q), rope(k), v)) of rms_norm(h),
    with the q/k per-head norms (``qk_norm``) before RoPE and the o rows normed again with post-norms; the attention
    over the layer's sliding ``window`` (None: all positions) and soft-capped as the model says (``attn_softcap``)."""
    act = _tensor([DYNAMIC_INDEX, config.hidden])
    bias = {n: w.get(f"attn_{n}.bias") for n in "qkv"}
    n1 = RmsNormOp(h, w["attn_norm.weight"], config.rms_eps)
    q: SSAValue = LinearOp(n1, w["attn_q.weight"], _tensor([DYNAMIC_INDEX, config.q_dim]), bias=bias["q"]).result
    k: SSAValue = LinearOp(n1, w["attn_k.weight"], _tensor([DYNAMIC_INDEX, config.kv_dim]), bias=bias["k"]).result
    v = LinearOp(n1, w["attn_v.weight"], _tensor([DYNAMIC_INDEX, config.kv_dim]), bias=bias["v"])
    if config.qk_norm:  # Qwen3, Gemma 3: RMSNorm over each head of q and of k, before RoPE
        q = RmsNormOp(q, w["attn_q_norm.weight"], config.rms_eps, head_dim=config.head_dim).result
        k = RmsNormOp(k, w["attn_k_norm.weight"], config.rms_eps, head_dim=config.head_dim).result
    qr = RopeOp(q, pos, config.rope_dim, config.rope_theta, config.rope_style, ff)
    kr = RopeOp(k, pos, config.rope_dim, config.rope_theta, config.rope_style, ff)
    att = AttentionOp(
        qr, kr, v, pos, layer, cache=KV_CACHE, num_heads=config.n_heads, num_kv_heads=config.n_kv_heads,
        head_dim=config.head_dim, scale=config.attention_scale, window=window, softcap=config.attn_softcap,
    )  # fmt: skip
    o: SSAValue = LinearOp(att, w["attn_output.weight"], act).result
    if config.architecture.post_norms:
        o = RmsNormOp(o, w["post_attention_norm.weight"], config.rms_eps).result
    return AddOp(h, o).result


def _ffn_half(config: ModelConfig, h2: SSAValue, w: Mapping[str, SSAValue]) -> SSAValue:
    """MLP block: h2 + down(act(gate(n2)) * up(n2)) of n2 = rms_norm(h2), act = silu or tanh-GELU (``activation``),
    normed again with post-norms."""
    act = _tensor([DYNAMIC_INDEX, config.hidden])
    n2 = RmsNormOp(h2, w["ffn_norm.weight"], config.rms_eps)
    gate = LinearOp(n2, w["ffn_gate.weight"], _tensor([DYNAMIC_INDEX, config.ffn_hidden]))
    up = LinearOp(n2, w["ffn_up.weight"], _tensor([DYNAMIC_INDEX, config.ffn_hidden]))
    gated = GeluOp(gate, "tanh") if config.architecture.activation == "gelu_tanh" else SiluOp(gate)
    down: SSAValue = LinearOp(MulOp(gated, up), w["ffn_down.weight"], act).result
    if config.architecture.post_norms:
        down = RmsNormOp(down, w["post_ffw_norm.weight"], config.rms_eps).result
    return AddOp(h2, down).result


def _decoder_layer(
    config: ModelConfig,
    wtypes: Sequence[TensorType[Attribute]],
    factors_type: TensorType[Attribute] | None = None,
    name: str = "decoder_layer",
    window: int | None = None,
    with_ffn: bool = True,
) -> list[func.FuncOp]:
    """``@decoder_layer(%h, %pos, %layer, weights... [, %rope_freqs]) -> %h``: pre-norm attention + gated MLP,
    residuals, with what ``config.architecture`` adds (q/k norms, post-norms, GeGLU); with RoPE scaling, the
    per-pair frequency divisors come last (a layer tensor where layers rotate differently). ``name``: one function
    per distinct layer signature (``_Layers``). Where layers are split (``split_layers``): ``@name`` is the attention
    half, taking the weights but the MLP's, and ``@name_ffn(%h, mlp weights...)`` the MLP half."""
    act = _tensor([DYNAMIC_INDEX, config.hidden])
    names = layer_weight_names(config)
    extra = [factors_type] if factors_type is not None else []
    split = split_layers(config)
    attn_names = [n for n in names if not (split and n in _FFN_WEIGHTS)]
    types = dict(zip(names, wtypes, strict=True))
    block = Block(arg_types=[act, INDEX, INDEX, *(types[n] for n in attn_names), *extra])
    with ImplicitBuilder(block):
        h, pos, layer, *ws = block.args
        ff = ws.pop() if factors_type is not None else None
        w = dict(zip(attn_names, ws, strict=True))
        h2 = _attention_half(config, h, pos, layer, w, w.get(_LAYER_FREQS, ff), window)
        func.ReturnOp(h2 if split else _ffn_half(config, h2, w))
    out = [func.FuncOp(name, FunctionType.from_lists(block.arg_types, [act]), Region(block))]
    if split and with_ffn:
        ffn_names = [n for n in names if n in _FFN_WEIGHTS]
        ffn = Block(arg_types=[act, *(types[n] for n in ffn_names)])
        with ImplicitBuilder(ffn):
            func.ReturnOp(_ffn_half(config, ffn.args[0], dict(zip(ffn_names, ffn.args[1:], strict=True))))
        out.append(func.FuncOp(f"{name}_ffn", FunctionType.from_lists(ffn.arg_types, [act]), Region(ffn)))
    return out


class _EntryBuilder:
    """Emits the body shared by @prefill, @decode and @prefill_logits."""

    def __init__(
        self,
        config: ModelConfig,
        weights: Mapping[str, TensorView],
        layers: _Layers,
        factors_type: TensorType[Attribute] | None = None,
    ):
        self.config = config
        self.layers = layers
        self.factors_type = factors_type
        self.embd_type = _weight_type(_lookup(weights, "token_embd.weight"))
        self.norm_type = _weight_type(_lookup(weights, "output_norm.weight"))
        head = "token_embd.weight" if config.tied_embeddings else "output.weight"
        self.head_name = head
        self.head_type = _weight_type(_lookup(weights, head))

    def logits(self, tokens: SSAValue, pos: SSAValue, static_rows: int | None) -> SSAValue:
        """Ops (into the current ImplicitBuilder block) from token ids to the last row's logits."""
        hn = self.hidden(tokens, pos, static_rows)
        head = self.embedding if self.config.tied_embeddings else WeightOp(self.head_name, self.head_type)
        return self.softcap(LogitsOp(hn, head, _tensor([self.config.vocab])).result)

    def softcap(self, logits: SSAValue) -> SSAValue:
        """``logits``, soft-capped where the model says so (Gemma 2's ``final_logit_softcapping``)."""
        cap = self.config.logit_softcap
        return logits if cap is None else SoftcapOp(logits, cap).result

    def hidden(self, tokens: SSAValue, pos: SSAValue, static_rows: int | None) -> SSAValue:
        """Ops from token ids to the final norm's rows (``self.embedding`` is the embedding table's op)."""
        cfg = self.config
        act = _tensor([DYNAMIC_INDEX, cfg.hidden])
        # 1. Embedding. Decode's one token is cast to the dynamic token type first, so every
        #    activation of both entries has the same type (and the loop starts from a fresh value).
        emb = self.embedding = WeightOp("token_embd.weight", self.embd_type)
        if static_rows is not None:
            tokens = tensor.CastOp(tokens, _tensor([DYNAMIC_INDEX], i32)).dest
        h0: SSAValue = EmbeddingOp(tokens, emb, act, scale=cfg.embedding_scale).result
        # 2. for %l in [0, n_layers): h = @decoder_layer(h, pos, %l, blk.{%l}.* weights). When layers store a tensor
        #    in different schemes (a mixed quantization) or attend over different windows (Gemma), one call per layer
        #    instead, to its signature's function, those tensors by their own names (blk.5.attn_v.weight): a weight
        #    template has one type.
        if self.layers.uniform:
            loop = self.layer_loop(h0, pos)
        else:
            loop = h0
            for layer in range(cfg.n_layers):
                index = arith.ConstantOp.from_int_and_width(layer, INDEX)
                loop = self.layer_call(loop, pos, index.result, layer)
        # 3. The final norm; ``logits`` takes the last row's logits (output head, or the tied embedding table).
        return RmsNormOp(loop, WeightOp("output_norm.weight", self.norm_type), cfg.rms_eps).result

    def layer_weights(self, layer: SSAValue, static: int | None) -> list[SSAValue]:
        """The loaded weights of a layer, in @decoder_layer argument order: ``blk.{}.x`` templates indexed by
        ``layer``, except a mixed-scheme tensor of layer ``static``, loaded by its own name."""
        signature = self.layers.signatures[0 if static is None else self.layers.of_layer[static]][0]
        loaded: list[SSAValue] = [
            WeightOp(f"blk.{static}.{name}", ty).result
            if name in self.layers.varying
            else WeightOp(f"blk.{{}}.{name}", ty, layer=layer).result
            for name, ty in zip(self.layers.names, signature, strict=True)
        ]
        if self.factors_type is not None:
            loaded.append(WeightOp(FREQS_TENSOR, self.factors_type).result)
        return loaded

    def layer_call(self, h: SSAValue, pos: SSAValue, layer: SSAValue, static: int | None = None) -> SSAValue:
        """``@decoder_layer*(h, pos, layer, weights)`` of layer ``static`` (or of any layer of the loop); where layers
        are split, then ``@decoder_layer*_ffn(h2, mlp weights)``."""
        act = _tensor([DYNAMIC_INDEX, self.config.hidden])
        signature = 0 if static is None else self.layers.of_layer[static]
        fn = _Layers.function(signature)
        weights = self.layer_weights(layer, static)
        if not split_layers(self.config):
            return func.CallOp(fn, [h, pos, layer, *weights], [act]).res[0]
        in_mlp = [n in _FFN_WEIGHTS for n in self.layers.names] + [False] * (len(weights) - len(self.layers.names))  # RoPE divisors last
        mlp = [w for w, m in zip(weights, in_mlp, strict=True) if m]
        attention = [w for w, m in zip(weights, in_mlp, strict=True) if not m]
        h2 = func.CallOp(fn, [h, pos, layer, *attention], [act]).res[0]
        return func.CallOp(f"{_Layers.function(self.layers.ffn_owner(signature))}_ffn", [h2, *mlp], [act]).res[0]

    def layer_loop(self, h0: SSAValue, pos: SSAValue) -> SSAValue:
        """``scf.for %l = 0 to n_layers`` calling @decoder_layer with the ``blk.{}`` weights of layer ``%l``."""
        act = _tensor([DYNAMIC_INDEX, self.config.hidden])
        lo = arith.ConstantOp.from_int_and_width(0, INDEX)
        hi = arith.ConstantOp.from_int_and_width(self.config.n_layers, INDEX)
        step = arith.ConstantOp.from_int_and_width(1, INDEX)
        body = Block(arg_types=[INDEX, act])
        with ImplicitBuilder(body):
            layer, h = body.args
            scf.YieldOp(self.layer_call(h, pos, layer))
        return scf.ForOp(lo, hi, step, [h0], body).res[0]

    def verify_entry(self, sampled: bool = False) -> func.FuncOp:
        """``@verify(%tokens: tensor<?xi32>, %pos) -> tensor<?xi32>``: the greedy next token after every row
        (speculative decoding checks a step's drafted tokens against them): the final norm's rows onto
        the vocabulary (``tfm.linear``), then ``tfm.row_argmax``. ``sampled``: ``@verify_sample(%tokens, %pos,
        %sampling: tensor<?xSAMPLING_WORDSxi32>)``, a token drawn after every row under its own packed words
        (``tfm.row_sample``), for sampled speculation."""
        cfg = self.config
        token_type = _tensor([DYNAMIC_INDEX], i32)
        words = [_tensor([DYNAMIC_INDEX, SAMPLING_WORDS], i32)] if sampled else []
        block = Block(arg_types=[token_type, INDEX, *words])
        with ImplicitBuilder(block):
            tokens, pos = block.args[:2]
            hn = self.hidden(tokens, pos, None)
            head = self.embedding if cfg.tied_embeddings else WeightOp(self.head_name, self.head_type)
            logits = self.softcap(LinearOp(hn, head, _tensor([DYNAMIC_INDEX, cfg.vocab])).result)
            ids = RowSampleOp(logits, block.args[2]) if sampled else RowArgmaxOp(logits)
            func.ReturnOp(ids.result)
        name = "verify_sample" if sampled else "verify"
        return func.FuncOp(name, FunctionType.from_lists(block.arg_types, [ids.result.type]), Region(block))

    def entry(self, name: str, token_type: TensorType[Attribute], returns: str = "argmax") -> func.FuncOp:
        """An entry ``(tokens, pos) -> i32`` (``returns="argmax"``), ``(tokens, pos, sampling) -> i32``
        (``"sample"``) or ``(tokens, pos) -> logits`` (``"logits"``)."""
        static = token_type.get_shape()[0]
        extra = [_tensor([SAMPLING_WORDS], i32)] if returns == "sample" else []
        block = Block(arg_types=[token_type, INDEX, *extra])
        with ImplicitBuilder(block):
            tokens, pos = block.args[:2]
            logits = self.logits(tokens, pos, None if static == DYNAMIC_INDEX else static)
            if returns == "logits":
                func.ReturnOp(logits)
            elif returns == "sample":
                func.ReturnOp(SampleOp(logits, block.args[2]).result)
            else:
                func.ReturnOp(ArgmaxOp(logits).result)
        result_type = logits.type if returns == "logits" else i32
        return func.FuncOp(name, FunctionType.from_lists(block.arg_types, [result_type]), Region(block))


def build_module(
    config: ModelConfig,
    weights: Mapping[str, TensorView],
    *,
    logits_entry: bool = False,
    sampling_entries: bool = False,
    verify_entry: bool = False,
) -> ModuleOp:
    """The transformer-level module of a model (see the module docstring).

    ``weights`` is the model's WeightStore; only names, shapes and schemes are
    read, never tensor data. ``logits_entry`` adds ``@prefill_logits``,
    ``sampling_entries`` ``@prefill_sample`` and ``@decode_sample``, ``verify_entry``
    ``@verify`` (speculative decoding), and both ``@verify_sample`` (sampled speculation). Raises
    RustyError for what the tfm level cannot express yet (partial rotary). Layers
    that store a tensor in different schemes (mixed quantizations) get one
    decoder layer function per distinct signature and one call per layer
    (``_Layers``). RoPE scaling arrives as the weight
    ``rope_freqs.weight`` (importers/rope.py), read by every ``tfm.rope``.
    """
    _check_supported(config)
    layers = _Layers(config, weights)
    factors_type = _rope_factors_type(config, weights)
    entries = _EntryBuilder(config, weights, layers, factors_type)
    ops = [
        KvCacheOp(KV_CACHE, config.n_layers, config.n_kv_heads, config.head_dim),
        *(
            f
            for i, (sig, window) in enumerate(layers.signatures)
            for f in _decoder_layer(config, sig, factors_type, _Layers.function(i), window, layers.ffn_owner(i) == i)
        ),
        entries.entry("prefill", _tensor([DYNAMIC_INDEX], i32)),
        entries.entry("decode", _tensor([1], i32)),
    ]
    if logits_entry:
        ops.append(entries.entry("prefill_logits", _tensor([DYNAMIC_INDEX], i32), returns="logits"))
    if sampling_entries:
        ops.append(entries.entry("prefill_sample", _tensor([DYNAMIC_INDEX], i32), returns="sample"))
        ops.append(entries.entry("decode_sample", _tensor([1], i32), returns="sample"))
    if verify_entry:
        ops.append(entries.verify_entry())
        if sampling_entries:
            ops.append(entries.verify_entry(sampled=True))
    module = ModuleOp(ops, attributes={"tfm.config": _config_attr(config)})
    module.verify()
    return module
