"""Operations of the ``tfm`` (transformer) dialect: model-level ops on 2-D activations.

Conventions shared by every op (see docs/architecture.md, "Transformer level"):

- Activations are ``tensor<?xNxf32>``: one row per token, the sequence length
  dynamic. Heads are attributes, never tensor dimensions.
- Weights come from ``tfm.weight`` and have static shapes; their element type
  is the storage scheme (f32, f16, bf16 or a ``!rquant`` block type).
  Matrices are ``[out, in]`` as in GGUF and Hugging Face.
- Verifiers check the static dims that must agree; a ``?`` agrees with anything.

Size: over 600 lines because it holds the dialect's op definitions, one class per op with its docstring,
assembly format and verifier (``TFM_OPS``); the shared shape checks are helpers at the top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I32,
    I64,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
    f32,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import HasParent, MemoryReadEffect, MemoryWriteEffect, Pure, SymbolOpInterface, SymbolTable
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant.attrs import BlockQuantType, check_block_divisible, storage_scheme
from rusty_ir.sampling import SAMPLING_WORDS

ROPE_STYLES = ("interleaved", "half")
"""``tfm.rope`` styles: llama.cpp's adjacent pairs, or Hugging Face/NeoX halves."""

GELU_APPROXIMATIONS = ("none", "tanh")
"""``tfm.gelu`` variants: the exact erf form, or the tanh approximation."""


# --- verifier helpers ---------------------------------------------------------------------------


def _shape(op: IRDLOperation, what: str, ty: Attribute, rank: int) -> tuple[int, ...]:
    """The shape of ``ty`` (-1 for ``?``), after checking it is a tensor of ``rank`` dims."""
    if not isinstance(ty, TensorType):
        raise VerifyException(f"{what} must be a tensor, got {ty}")
    shape = tuple(ty.get_shape())
    if len(shape) != rank:
        raise VerifyException(f"{what} must have rank {rank}, got {ty}")
    return shape


def _activation(op: IRDLOperation, what: str, ty: Attribute, rank: int = 2) -> tuple[int, ...]:
    """Check ``ty`` is an f32 tensor of ``rank`` dims (an activation); return its shape."""
    shape = _shape(op, what, ty, rank)
    assert isinstance(ty, TensorType)
    if not isinstance(ty.element_type, Float32Type):
        raise VerifyException(f"{what} must have element type f32, got {ty}")
    return shape


def _weight(op: IRDLOperation, what: str, ty: Attribute, rank: int, allow_quant: bool = True) -> tuple[int, ...]:
    """Check ``ty`` is a weight tensor (f32/f16/bf16 or, if allowed, a quant type); return its shape."""
    shape = _shape(op, what, ty, rank)
    assert isinstance(ty, TensorType)
    elem: Attribute = ty.element_type
    if storage_scheme(elem) is None or (not allow_quant and isinstance(elem, BlockQuantType)):
        kinds = "f32, f16, bf16 or a !rquant type" if allow_quant else "f32, f16 or bf16"
        raise VerifyException(f"{what} must have element type {kinds}, got {ty}")
    check_block_divisible(what, ty)
    return shape


def _agree(a: int, b: int) -> bool:
    """Two dims agree unless both are static and differ."""
    return a < 0 or b < 0 or a == b


def _dim(d: int) -> str:
    return "?" if d < 0 else str(d)


def _require_agree(op: IRDLOperation, a: int, a_what: str, b: int, b_what: str) -> None:
    if not _agree(a, b):
        raise VerifyException(f"{a_what} ({_dim(a)}) must equal {b_what} ({_dim(b)})")


def _positive(op: IRDLOperation, attr_name: str, value: int | float) -> None:
    if value <= 0:
        raise VerifyException(f"{attr_name} must be positive, got {value}")


def _int(value: int) -> IntegerAttr[IntegerType]:
    return IntegerAttr(value, i64)


# --- symbols and weights ------------------------------------------------------------------------


@irdl_op_definition
class KvCacheOp(IRDLOperation):
    """Declare a key/value cache: one K and one V buffer per layer.

    Semantics: a module-level symbol. For each of ``num_layers`` layers the cache
    holds K and V rows of ``num_kv_heads * head_dim`` f32 values, one row per
    position (row-major: position, then kv head, then dim). The number of rows
    (the context length) is a runtime option, not part of the IR, so one
    compiled model serves any context. ``tfm.attention`` writes and reads it.

    Pipeline: created by the importers, one per model; lowering turns it into
    buffers of the host schedule (paged on the GPU).

    Example:
        tfm.kv_cache @kv {head_dim = 64 : i64, num_kv_heads = 3 : i64, num_layers = 30 : i64}
    """

    name = "tfm.kv_cache"

    sym_name = prop_def(SymbolNameConstraint())
    num_layers = prop_def(IntegerAttr[I64])
    num_kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])

    traits = traits_def(SymbolOpInterface(), HasParent(ModuleOp))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$sym_name attr-dict"

    def __init__(self, sym_name: str, num_layers: int, num_kv_heads: int, head_dim: int) -> None:
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "num_layers": _int(num_layers),
                "num_kv_heads": _int(num_kv_heads),
                "head_dim": _int(head_dim),
            }
        )

    @property
    def row_width(self) -> int:
        """Values per cache row: ``num_kv_heads * head_dim``."""
        return self.num_kv_heads.value.data * self.head_dim.value.data

    def verify_(self) -> None:
        for attr_name in ("num_layers", "num_kv_heads", "head_dim"):
            _positive(self, attr_name, getattr(self, attr_name).value.data)


@irdl_op_definition
class WeightOp(IRDLOperation):
    """Name a tensor of the weight store.

    Semantics: the value is the stored tensor called ``weight_name``, never a
    constant in the IR. With a ``layer`` operand the name is a template holding
    exactly one ``{}``, replaced by the layer index (``blk.{}.attn_q.weight`` at
    layer 3 is ``blk.3.attn_q.weight``); without one it holds none. The result
    type is static; its element type is how the tensor is stored (f32, f16,
    bf16 or a ``!rquant`` block type), so a quantized weight stays quantized
    until the op that consumes it.

    Pipeline: created by the importers; lowering maps it to a binding of the
    weight's bytes, which the runtime uploads from the memory-mapped file.

    Example:
        %emb = tfm.weight "token_embd.weight" : tensor<49152x576x!rquant.q8_0>
        %wq = tfm.weight "blk.{}.attn_q.weight"[%layer] : tensor<576x576x!rquant.q4_1>
    """

    name = "tfm.weight"

    weight_name = prop_def(StringAttr)
    layer = opt_operand_def(IndexType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$weight_name (`[` $layer^ `]`)? attr-dict `:` type($result)"

    def __init__(self, weight_name: str, result_type: Attribute, layer: SSAValue | Operation | None = None) -> None:
        super().__init__(
            operands=[[layer] if layer is not None else []],
            properties={"weight_name": StringAttr(weight_name)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        ty = self.result.type
        if not isinstance(ty, TensorType):
            raise VerifyException(f"result must be a tensor, got {ty}")
        shape = tuple(ty.get_shape())
        _weight(self, "result", ty, len(shape))
        if any(d < 0 for d in shape):
            raise VerifyException(f"weight '{self.weight_name.data}' must have a static shape, got {ty}")
        holes = self.weight_name.data.count("{}")
        if self.layer is not None and holes != 1:
            raise VerifyException(f"a layer-indexed weight name must contain exactly one '{{}}', got '{self.weight_name.data}'")
        if self.layer is None and holes != 0:
            raise VerifyException(f"weight name '{self.weight_name.data}' contains '{{}}' but no layer operand is given")


# --- the decoder ops ----------------------------------------------------------------------------


@irdl_op_definition
class EmbeddingOp(IRDLOperation):
    """Look up the embedding row of each token.

    Semantics: ``result[r, :] = float(table[tokens[r], :])``; the table is
    ``[vocab, dim]`` and may be quantized (rows are dequantized). With the
    optional ``scale`` (f32) every value is multiplied by it, in f32 (Gemma
    scales its embeddings by sqrt(hidden), not the tied output head). A token id
    outside ``[0, vocab)`` is undefined behaviour (the reference interpreter
    raises).

    Pipeline: first op of ``@prefill``/``@decode``; lowered to a gather (fused
    with the dequantization of the rows it reads, and the scale).

    Example:
        %h = tfm.embedding %tokens, %emb : tensor<?xi32>, tensor<49152x576x!rquant.q8_0> -> tensor<?x576xf32>
        %g = tfm.embedding %tokens, %emb {scale = 8.000000e+00 : f32} : tensor<?xi32>, tensor<400x64xf32> -> tensor<?x64xf32>
    """

    name = "tfm.embedding"

    tokens = operand_def(TensorType)
    table = operand_def(TensorType)
    scale = opt_prop_def(FloatAttr[Float32Type])
    """Multiply every value by this (absent: 1)."""
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$tokens `,` $table attr-dict `:` type($tokens) `,` type($table) `->` type($result)"

    def __init__(
        self, tokens: SSAValue | Operation, table: SSAValue | Operation, result_type: Attribute, scale: float | None = None
    ) -> None:
        props: dict[str, Attribute] = {} if scale is None else {"scale": FloatAttr(scale, f32)}
        super().__init__(operands=[tokens, table], properties=props, result_types=[result_type])

    @property
    def factor(self) -> float | None:
        """``scale`` as a float, or None."""
        return None if self.scale is None else self.scale.value.data

    def verify_(self) -> None:
        if self.factor is not None and not math.isfinite(self.factor):
            raise VerifyException(f"scale must be finite, got {self.factor}")
        (seq,) = _shape(self, "tokens", self.tokens.type, 1)
        assert isinstance(self.tokens.type, TensorType)
        if self.tokens.type.element_type != i32:
            raise VerifyException(f"tokens must have element type i32, got {self.tokens.type}")
        _, dim = _weight(self, "table", self.table.type, 2)
        out_seq, out_dim = _activation(self, "result", self.result.type)
        _require_agree(self, out_seq, "result rows", seq, "the number of tokens")
        _require_agree(self, out_dim, "result width", dim, "the table's row length")


@irdl_op_definition
class RmsNormOp(IRDLOperation):
    """Root-mean-square normalisation of each row, scaled by a weight.

    Semantics (as Hugging Face, in f32):
    ``y[r, :] = x[r, :] * rsqrt(mean(x[r, :]^2) + epsilon) * w``.
    With ``head_dim = D`` (optional) each row is normalised per head instead: every group of
    ``D`` consecutive values ``x[r, hD : (h+1)D]`` on its own, all with the same ``w`` of length
    ``D`` (Qwen3's and Gemma 3's q/k norms; the row width is a multiple of ``D``).

    Pipeline: before attention and MLP in each layer and before the logits;
    lowered to a row reduction, usually fused as the prologue of the next matmul. The per-head
    form (after the q/k projections, before RoPE) lowers to a row reduction over ``[rows, heads, D]``.

    Example:
        %n = tfm.rms_norm %h, %w {epsilon = 1.000000e-05 : f32} : tensor<?x576xf32>, tensor<576xf32> -> tensor<?x576xf32>
        %qn = tfm.rms_norm %q, %wqn {epsilon = 1.000000e-06 : f32, head_dim = 64 : i64} : tensor<?x1024xf32>, tensor<64xf32> -> tensor<?x1024xf32>
    """

    name = "tfm.rms_norm"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    epsilon = prop_def(FloatAttr[Float32Type])
    head_dim = opt_prop_def(IntegerAttr[I64])
    """Normalise each group of this many consecutive values of a row on its own (absent: the whole row)."""
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, weight: SSAValue | Operation, epsilon: float, head_dim: int | None = None) -> None:
        input_value = SSAValue.get(input)
        props: dict[str, Attribute] = {"epsilon": FloatAttr(epsilon, f32)}
        if head_dim is not None:
            props["head_dim"] = _int(head_dim)
        super().__init__(operands=[input_value, weight], properties=props, result_types=[input_value.type])

    @property
    def group(self) -> int | None:
        """``head_dim`` as an int, or None when the whole row is normalised."""
        return None if self.head_dim is None else self.head_dim.value.data

    def verify_(self) -> None:
        _, dim = _activation(self, "input", self.input.type)
        (wdim,) = _weight(self, "weight", self.weight.type, 1, allow_quant=False)
        group = self.group
        if group is None:
            _require_agree(self, wdim, "weight length", dim, "the input width")
        else:
            _positive(self, "head_dim", group)
            _require_agree(self, wdim, "weight length", group, "head_dim")
            if dim >= 0 and dim % group:
                raise VerifyException(f"input width ({dim}) must be a multiple of head_dim ({group})")
        if self.result.type != self.input.type:
            raise VerifyException(f"result type {self.result.type} must equal input type {self.input.type}")
        if self.epsilon.value.data < 0:
            raise VerifyException(f"epsilon must be non-negative, got {self.epsilon.value.data}")


@irdl_op_definition
class LinearOp(IRDLOperation):
    """Dense layer: ``y = x @ W^T (+ bias)``.

    Semantics: ``x`` is ``[S, in]``, ``W`` is ``[out, in]`` (GGUF/Hugging Face
    order), the optional bias is ``[out]``; ``y[r, o] = sum_k x[r, k] * W[o, k] + bias[o]``.
    ``W`` may be stored as f32, f16, bf16 or a ``!rquant`` block type: it is
    dequantized to f32 (blocks run along ``in``); accumulation is f32.

    Pipeline: the q/k/v/o projections and the MLP; lowered to a GEMV (decode,
    S = 1) or a tiled GEMM (prefill), with the dequantization fused into the
    weight loads.

    Example:
        %q = tfm.linear %n, %wq : tensor<?x576xf32>, tensor<576x576x!rquant.q4_1> -> tensor<?x576xf32>
        %k = tfm.linear %n, %wk, %bk : tensor<?x576xf32>, tensor<192x576xf16>, tensor<192xf32> -> tensor<?x192xf32>
    """

    name = "tfm.linear"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,` type($weight) (`,` type($bias)^)? `->` type($result)"

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        result_type: Attribute,
        bias: SSAValue | Operation | None = None,
    ) -> None:
        super().__init__(operands=[input, weight, [bias] if bias is not None else []], result_types=[result_type])

    def verify_(self) -> None:
        seq, k = _activation(self, "input", self.input.type)
        n, wk = _weight(self, "weight", self.weight.type, 2)
        out_seq, out_n = _activation(self, "result", self.result.type)
        _require_agree(self, wk, "weight columns (in features)", k, "the input width")
        _require_agree(self, out_n, "result width", n, "weight rows (out features)")
        _require_agree(self, out_seq, "result rows", seq, "input rows")
        if self.bias is not None:
            (bn,) = _weight(self, "bias", self.bias.type, 1, allow_quant=False)
            _require_agree(self, bn, "bias length", n, "weight rows (out features)")


@irdl_op_definition
class RopeOp(IRDLOperation):
    """Rotary position embedding of every head of every row.

    Semantics: ``x`` is ``[S, heads * head_dim]``; row ``r`` has position
    ``pos + r``. Within each head, pairs of dims are rotated by the angle
    ``p * theta^(-2i / head_dim)`` for pair ``i`` in ``[0, head_dim / 2)``:

    - ``style = "interleaved"`` (llama.cpp, GGUF llama): pair ``i`` is ``(x[2i], x[2i+1])``;
    - ``style = "half"`` (Hugging Face, NeoX): pair ``i`` is ``(x[i], x[i + head_dim/2])``.

    ``(a, b) -> (a cos - b sin, a sin + b cos)``, in f32.

    With the optional ``freq_factors`` operand (a ``[head_dim / 2]`` f32 tensor,
    llama.cpp's ``rope_freqs.weight``), pair ``i``'s frequency is divided by
    ``freq_factors[i]``: ``p * theta^(-2i / head_dim) / freq_factors[i]``. Every
    static RoPE scaling is such a division (``linear``: the factor for every
    pair; ``llama3``: per-pair factors), so the importers turn the scaling into
    this tensor and one lowering serves them all.

    Pipeline: applied to q and k before ``tfm.attention``; lowered to an
    elementwise kernel (fused with the q/k projection epilogue when possible).

    Example:
        %qr = tfm.rope %q, %pos {head_dim = 64 : i64, style = "half", theta = 1.000000e+04 : f32} : tensor<?x576xf32> -> tensor<?x576xf32>
        %kr = tfm.rope %k, %pos factors %ff {head_dim = 64 : i64, style = "half", theta = 5.000000e+05 : f32} : tensor<?x192xf32>, tensor<32xf32> -> tensor<?x192xf32>
    """

    name = "tfm.rope"

    input = operand_def(TensorType)
    pos = operand_def(IndexType)
    head_dim = prop_def(IntegerAttr[I64])
    theta = prop_def(FloatAttr[Float32Type])
    style = prop_def(StringAttr)
    freq_factors = opt_operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $pos (`factors` $freq_factors^)? attr-dict `:` type($input) (`,` type($freq_factors)^)? `->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        pos: SSAValue | Operation,
        head_dim: int,
        theta: float,
        style: str,
        freq_factors: SSAValue | Operation | None = None,
    ) -> None:
        input_value = SSAValue.get(input)
        super().__init__(
            operands=[input_value, pos, [freq_factors] if freq_factors is not None else []],
            properties={"head_dim": _int(head_dim), "theta": FloatAttr(theta, f32), "style": StringAttr(style)},
            result_types=[input_value.type],
        )

    def verify_(self) -> None:
        _, width = _activation(self, "input", self.input.type)
        head_dim = self.head_dim.value.data
        _positive(self, "head_dim", head_dim)
        if head_dim % 2:
            raise VerifyException(f"head_dim must be even, got {head_dim}")
        if width >= 0 and width % head_dim:
            raise VerifyException(f"input width {width} is not a multiple of head_dim {head_dim}")
        _positive(self, "theta", self.theta.value.data)
        if self.style.data not in ROPE_STYLES:
            raise VerifyException(f"style must be one of {', '.join(ROPE_STYLES)}, got '{self.style.data}'")
        if self.result.type != self.input.type:
            raise VerifyException(f"result type {self.result.type} must equal input type {self.input.type}")
        if self.freq_factors is not None:
            ty = self.freq_factors.type
            if not isinstance(ty, TensorType) or not isinstance(ty.element_type, Float32Type):
                raise VerifyException(f"freq_factors must be a tensor of f32, got {ty}")
            if tuple(ty.get_shape()) != (head_dim // 2,):
                raise VerifyException(f"freq_factors must be tensor<{head_dim // 2}xf32> (one per pair of head_dim {head_dim}), got {ty}")


@irdl_op_definition
class AttentionOp(IRDLOperation):
    """Causal grouped-query attention against a KV cache.

    Semantics, for ``S`` new rows starting at position ``pos`` of layer ``layer``:

    1. Write ``k[r]`` and ``v[r]`` into the cache ``@cache`` of that layer at
       position ``pos + r``, for r in ``[0, S)``.
    2. Row ``r`` of ``q`` attends over cache positions ``0 .. pos + r``
       (causal): for query head ``h``, with kv head ``g = h / (num_heads / num_kv_heads)``,
       ``out[r, h] = softmax(scale * q[r, h] . K[0..pos+r, g]) @ V[0..pos+r, g]``,
       in f32 with max-subtraction.
    3. Optional ``window = W`` (sliding-window attention, Mistral's ``sliding_window``, Gemma's sliding
       layers): row ``r`` sees only positions ``t`` with ``t > pos + r - W`` (the last ``W`` positions,
       itself included), as transformers and llama.cpp mask them. Optional ``softcap = c`` (Gemma 2's
       ``attn_logit_softcapping``): the scaled scores become ``c * tanh(s / c)`` before the mask and
       the softmax.

    Reading a cache position that was never written, or writing past the
    runtime context length, is an error of the reference interpreter. Not
    ``Pure``: the op writes the cache.

    Pipeline: once per decoder layer; lowered to a cache-update kernel plus an
    attention kernel (flash-decoding style at S = 1).

    Example:
        %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 64 : i64, num_heads = 9 : i64, num_kv_heads = 3 : i64, scale = 1.250000e-01 : f32} : tensor<?x576xf32>, tensor<?x192xf32>, tensor<?x192xf32> -> tensor<?x576xf32>
        %o = tfm.attention %q, %k, %v at %pos in @kv[%layer] {head_dim = 256 : i64, num_heads = 8 : i64, num_kv_heads = 4 : i64, scale = 6.250000e-02 : f32, softcap = 5.000000e+01 : f32, window = 4096 : i64} : tensor<?x2048xf32>, tensor<?x1024xf32>, tensor<?x1024xf32> -> tensor<?x2048xf32>
    """

    name = "tfm.attention"

    query = operand_def(TensorType)
    key = operand_def(TensorType)
    value = operand_def(TensorType)
    pos = operand_def(IndexType)
    layer = operand_def(IndexType)
    cache = prop_def(SymbolRefAttr)
    num_heads = prop_def(IntegerAttr[I64])
    num_kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    scale = prop_def(FloatAttr[Float32Type])
    window = opt_prop_def(IntegerAttr[I64])
    """Sliding-window attention: each row sees its last ``window`` positions (itself included); absent: all."""
    softcap = opt_prop_def(FloatAttr[Float32Type])
    """Attention-logit soft-capping: scaled scores become ``softcap * tanh(s / softcap)``; absent: none."""
    result = result_def(TensorType)

    traits = traits_def(MemoryReadEffect(), MemoryWriteEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$query `,` $key `,` $value `at` $pos `in` $cache `[` $layer `]` attr-dict "
        "`:` type($query) `,` type($key) `,` type($value) `->` type($result)"
    )

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        value: SSAValue | Operation,
        pos: SSAValue | Operation,
        layer: SSAValue | Operation,
        *,
        cache: str,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        window: int | None = None,
        softcap: float | None = None,
    ) -> None:
        query_value = SSAValue.get(query)
        super().__init__(
            operands=[query_value, key, value, pos, layer],
            properties={
                "cache": SymbolRefAttr(cache),
                "num_heads": _int(num_heads),
                "num_kv_heads": _int(num_kv_heads),
                "head_dim": _int(head_dim),
                "scale": FloatAttr(scale, f32),
                **({} if window is None else {"window": _int(window)}),
                **({} if softcap is None else {"softcap": FloatAttr(softcap, f32)}),
            },
            result_types=[query_value.type],
        )

    def verify_(self) -> None:
        heads, kv_heads, head_dim = self.num_heads.value.data, self.num_kv_heads.value.data, self.head_dim.value.data
        for attr_name, value in (("num_heads", heads), ("num_kv_heads", kv_heads), ("head_dim", head_dim)):
            _positive(self, attr_name, value)
        if heads % kv_heads:
            raise VerifyException(f"num_heads ({heads}) must be a multiple of num_kv_heads ({kv_heads})")
        _positive(self, "scale", self.scale.value.data)
        if self.window is not None:
            _positive(self, "window", self.window.value.data)
        if self.softcap is not None and not (math.isfinite(self.softcap.value.data) and self.softcap.value.data > 0):
            raise VerifyException(f"softcap must be a finite number above 0, got {self.softcap.value.data}")
        q_seq, q_width = _activation(self, "query", self.query.type)
        k_seq, k_width = _activation(self, "key", self.key.type)
        v_seq, v_width = _activation(self, "value", self.value.type)
        _require_agree(self, q_width, "query width", heads * head_dim, "num_heads * head_dim")
        _require_agree(self, k_width, "key width", kv_heads * head_dim, "num_kv_heads * head_dim")
        _require_agree(self, v_width, "value width", kv_heads * head_dim, "num_kv_heads * head_dim")
        _require_agree(self, k_seq, "key rows", q_seq, "query rows")
        _require_agree(self, v_seq, "value rows", q_seq, "query rows")
        if self.result.type != self.query.type:
            raise VerifyException(f"result type {self.result.type} must equal query type {self.query.type}")
        cache = self.cache_op()
        if cache.num_kv_heads.value.data != kv_heads or cache.head_dim.value.data != head_dim:
            raise VerifyException(
                f"num_kv_heads = {kv_heads}, head_dim = {head_dim} do not match cache {self.cache} "
                f"(num_kv_heads = {cache.num_kv_heads.value.data}, head_dim = {cache.head_dim.value.data})"
            )

    def cache_op(self) -> KvCacheOp:
        """The ``tfm.kv_cache`` op that ``cache`` names; VerifyException if there is none."""
        try:
            found = SymbolTable.lookup_symbol(self, self.cache)
        except ValueError:
            found = None
        if not isinstance(found, KvCacheOp):
            what = "is not a tfm.kv_cache" if found is not None else "does not exist"
            raise VerifyException(f"cache symbol {self.cache} {what}")
        return found


# --- elementwise and reductions -----------------------------------------------------------------


class _UnaryF32Op(IRDLOperation):
    """Shared shape of the f32 ops whose operand and result have one type."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())

    def __init__(self, input: SSAValue | Operation, properties: dict[str, Attribute] | None = None) -> None:
        input_value = SSAValue.get(input)
        super().__init__(operands=[input_value], result_types=[input_value.type], properties=properties or {})

    def verify_(self) -> None:
        assert isinstance(self.input.type, TensorType)
        _activation(self, "input", self.input.type, max(1, self.input.type.get_num_dims()))


@irdl_op_definition
class SiluOp(_UnaryF32Op):
    """SiLU (swish): ``y = x * sigmoid(x)``, elementwise, in f32.

    Pipeline: the gate of a SwiGLU MLP (``silu(gate) * up``); fused into the
    epilogue of the gate projection.

    Example:
        %a = tfm.silu %g : tensor<?x1536xf32>
    """

    name = "tfm.silu"
    assembly_format = "$input attr-dict `:` type($input)"


@irdl_op_definition
class GeluOp(_UnaryF32Op):
    """GELU, elementwise, in f32.

    Semantics: ``approximate = "none"``: ``0.5 x (1 + erf(x / sqrt(2)))``;
    ``approximate = "tanh"``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Pipeline: the MLP activation of GPT-2/Gemma-style models; fused into the
    epilogue of the up projection.

    Example:
        %a = tfm.gelu %u {approximate = "tanh"} : tensor<?x1536xf32>
    """

    name = "tfm.gelu"
    approximate = prop_def(StringAttr)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue | Operation, approximate: str = "none") -> None:
        super().__init__(input, {"approximate": StringAttr(approximate)})

    def verify_(self) -> None:
        super().verify_()
        if self.approximate.data not in GELU_APPROXIMATIONS:
            raise VerifyException(f"approximate must be one of {', '.join(GELU_APPROXIMATIONS)}, got '{self.approximate.data}'")


@irdl_op_definition
class SoftcapOp(_UnaryF32Op):
    """Tanh soft-capping, elementwise, in f32: ``y = cap * tanh(x / cap)`` (values squashed into ``(-cap, cap)``).

    Pipeline: Gemma 2's final-logit soft-capping (``final_logit_softcapping``) on the logits, before
    ``tfm.argmax``/``tfm.sample`` (and the rows of ``@verify``); lowered to one elementwise generic.

    Example:
        %c = tfm.softcap %l {cap = 3.000000e+01 : f32} : tensor<49152xf32>
    """

    name = "tfm.softcap"
    cap = prop_def(FloatAttr[Float32Type])
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue | Operation, cap: float) -> None:
        super().__init__(input, {"cap": FloatAttr(cap, f32)})

    def verify_(self) -> None:
        super().verify_()
        cap = self.cap.value.data
        if not (math.isfinite(cap) and cap > 0):
            raise VerifyException(f"cap must be a finite number above 0, got {cap}")


@irdl_op_definition
class SoftmaxOp(_UnaryF32Op):
    """Softmax over the last dimension, in f32 with max-subtraction.

    Semantics: ``y[..., j] = exp(x[..., j] - m) / sum_k exp(x[..., k] - m)``, ``m = max_k x[..., k]``.

    Pipeline: sampling and models that expose attention scores; the softmax
    inside ``tfm.attention`` is part of that op.

    Example:
        %p = tfm.softmax %l : tensor<49152xf32>
    """

    name = "tfm.softmax"
    assembly_format = "$input attr-dict `:` type($input)"


class _BinaryF32Op(IRDLOperation):
    """Shared shape of the elementwise f32 ops on two operands of one type."""

    T: ClassVar = VarConstraint("T", base(TensorType))
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation) -> None:
        lhs_value = SSAValue.get(lhs)
        super().__init__(operands=[lhs_value, rhs], result_types=[lhs_value.type])

    def verify_(self) -> None:
        assert isinstance(self.lhs.type, TensorType)
        _activation(self, "operands", self.lhs.type, max(1, self.lhs.type.get_num_dims()))


@irdl_op_definition
class MulOp(_BinaryF32Op):
    """Elementwise product of two f32 tensors of the same type.

    Pipeline: the SwiGLU product ``silu(gate) * up``; fused into the projection epilogue.

    Example:
        %m = tfm.mul %a, %u : tensor<?x1536xf32>
    """

    name = "tfm.mul"


@irdl_op_definition
class AddOp(_BinaryF32Op):
    """Elementwise sum of two f32 tensors of the same type.

    Pipeline: the residual connections; fused into the epilogue of the o/down projection.

    Example:
        %h2 = tfm.add %h, %o : tensor<?x576xf32>
    """

    name = "tfm.add"


@irdl_op_definition
class LogitsOp(IRDLOperation):
    """Vocabulary logits of the last row: ``l = W @ h[S-1, :]``.

    Semantics: ``h`` is ``[S, D]``, ``W`` is ``[V, D]`` (the output head, or the
    tied embedding table), possibly quantized; the result is the ``[V]`` logits
    of the last row only, since generation needs no other.

    Pipeline: after the final norm; lowered to one GEMV over the vocabulary.

    Example:
        %l = tfm.logits %hn, %wout : tensor<?x576xf32>, tensor<49152x576x!rquant.q8_0> -> tensor<49152xf32>
    """

    name = "tfm.logits"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, weight: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[input, weight], result_types=[result_type])

    def verify_(self) -> None:
        _, dim = _activation(self, "input", self.input.type)
        vocab, wdim = _weight(self, "weight", self.weight.type, 2)
        (out_vocab,) = _activation(self, "result", self.result.type, 1)
        _require_agree(self, wdim, "weight columns", dim, "the input width")
        _require_agree(self, out_vocab, "result length", vocab, "weight rows (vocabulary)")


@irdl_op_definition
class ArgmaxOp(IRDLOperation):
    """Index of the largest value of a vector (the first one on ties), as i32.

    Pipeline: greedy sampling after ``tfm.logits``; runs on the GPU so that only
    the token id is read back.

    Example:
        %t = tfm.argmax %l : tensor<49152xf32> -> i32
    """

    name = "tfm.argmax"

    input = operand_def(TensorType)
    result = result_def(I32)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation) -> None:
        super().__init__(operands=[input], result_types=[i32])

    def verify_(self) -> None:
        (n,) = _activation(self, "input", self.input.type, 1)
        if n == 0:
            raise VerifyException("input must not be empty")


def _token_per_row(op: RowArgmaxOp | RowSampleOp) -> int:
    """Check a row op's f32 ``[S, V]`` input (rows not empty) and its i32 ``[S]`` result: one token per row; ``S``."""
    rows, n = _activation(op, "input", op.input.type)
    if n == 0:
        raise VerifyException("input rows must not be empty")
    ty = op.result.type
    if not isinstance(ty, TensorType) or ty.element_type != i32 or len(ty.get_shape()) != 1:
        raise VerifyException(f"result must be a 1-D i32 tensor, got {ty}")
    _require_agree(op, ty.get_shape()[0], "result length", rows, "input rows")
    return rows


@irdl_op_definition
class RowArgmaxOp(IRDLOperation):
    """Index of the largest value of every row (the first one on ties), as i32: ``t[r] = argmax(x[r, :])``.

    Semantics: ``x`` is ``[S, V]`` f32, the result ``[S]`` i32; row ``r``'s value is what ``tfm.argmax``
    gives for ``x[r, :]``.

    Pipeline: speculative decoding's verification (``@verify``: the greedy next token after every
    position of a multi-token step, after a ``tfm.linear`` of every row onto the vocabulary); lowered
    to ``linalg_ext.argmax`` of the rows, a workgroup per row, so only the ``S`` token ids leave the GPU.

    Example:
        %t = tfm.row_argmax %l : tensor<?x49152xf32> -> tensor<?xi32>
    """

    name = "tfm.row_argmax"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation) -> None:
        ty = SSAValue.get(input).type
        assert isinstance(ty, TensorType)
        super().__init__(operands=[input], result_types=[TensorType(i32, [ty.get_shape()[0]])])

    def verify_(self) -> None:
        _token_per_row(self)


@irdl_op_definition
class SampleOp(IRDLOperation):
    """A token drawn from a vector of logits under sampling options, as i32.

    Semantics: ``params`` is the packed ``rusty_ir.sampling`` vector (``SAMPLING_WORDS``
    int32 words, floats as their bits): temperature, top-k, top-p, min-p, the
    repetition/presence/frequency penalties with the (id, count) pairs they apply to,
    and the uniform number ``u`` in [0, 1) the host drew for this token. The result
    is what ``rusty_ir.sampling.sample_token`` computes: penalties, temperature (0 =
    the smallest id of the largest logit), the kept set ``z >= max(tau_k, tau_p,
    tau_min)``, then the token whose running weight in ascending id order passes
    ``u`` times the kept total. The draw is deterministic given ``u``: the host's
    seeded generator makes a run reproducible.

    Pipeline: the sampled twin of ``tfm.argmax`` after ``tfm.logits`` in the
    ``@prefill_sample``/``@decode_sample`` entries (``build_module(...,
    sampling_entries=True)``); runs on the GPU so that only the token id is read back.

    Example:
        %t = tfm.sample %l, %p : tensor<49152xf32>, tensor<521xi32> -> i32
    """

    name = "tfm.sample"

    input = operand_def(TensorType)
    params = operand_def(TensorType)
    result = result_def(I32)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $params attr-dict `:` type($input) `,` type($params) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, params: SSAValue | Operation) -> None:
        super().__init__(operands=[input, params], result_types=[i32])

    def verify_(self) -> None:
        (n,) = _activation(self, "input", self.input.type, 1)
        if n == 0:
            raise VerifyException("input must not be empty")
        if self.params.type != TensorType(i32, [SAMPLING_WORDS]):
            raise VerifyException(f"params must be tensor<{SAMPLING_WORDS}xi32> (rusty_ir.sampling.pack), got {self.params.type}")


@irdl_op_definition
class RowSampleOp(IRDLOperation):
    """A token drawn from every row of logits, each under its own packed sampling options, as i32.

    Semantics: ``x`` is ``[S, V]`` f32 and ``params`` ``[S, SAMPLING_WORDS]`` i32, the result ``[S]`` i32;
    row ``r``'s value is what ``tfm.sample`` gives for ``x[r, :]`` under ``params[r, :]`` (its own uniform
    number and penalty window).

    Pipeline: sampled speculative decoding's verification (``@verify_sample``: a token drawn after every
    position of a multi-token step, the drafted tokens kept while they equal the draws, which is the
    rejection rule for a deterministic drafter, rusty_ir/speculative.py); lowered to ``linalg_ext.sample``
    of the rows, a workgroup per row, so only the ``S`` token ids leave the GPU, not ``S x V`` logits.

    Example:
        %t = tfm.row_sample %l, %p : tensor<?x49152xf32>, tensor<?x521xi32> -> tensor<?xi32>
    """

    name = "tfm.row_sample"

    input = operand_def(TensorType)
    params = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $params attr-dict `:` type($input) `,` type($params) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, params: SSAValue | Operation) -> None:
        ty = SSAValue.get(input).type
        assert isinstance(ty, TensorType)
        super().__init__(operands=[input, params], result_types=[TensorType(i32, [ty.get_shape()[0]])])

    def verify_(self) -> None:
        rows = _token_per_row(self)
        p = self.params.type
        if not isinstance(p, TensorType) or p.element_type != i32 or len(p.get_shape()) != 2 or p.get_shape()[1] != SAMPLING_WORDS:
            raise VerifyException(f"params must be tensor<?x{SAMPLING_WORDS}xi32> (rusty_ir.sampling.pack, a row per input row), got {p}")
        _require_agree(self, p.get_shape()[0], "params rows", rows, "input rows")


TFM_OPS: Sequence[type[IRDLOperation]] = (
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
    SoftmaxOp,
    WeightOp,
)
"""Every op of the dialect, alphabetical by op name."""
