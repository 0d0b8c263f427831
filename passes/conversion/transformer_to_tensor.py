"""convert-transformer-to-tensor: rewrite every ``tfm`` op into linalg on tensors, quant and linalg_ext ops.

Size: just over 600 lines because it holds one rewrite pattern per ``tfm`` op with the generic builder and the
norm and contraction helpers they share: one conversion, read top to bottom.
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AffineMapAttr,
    Float16Type,
    Float32Type,
    FunctionType,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects import transformer as tfm
from rusty_ir.dialects.dispatch import BlockTableOp, CacheOp, KvCacheOp, WeightOp
from rusty_ir.dialects.linalg_ext import ArgmaxOp, AttentionOp, CacheAppendOp, SampleOp, kv_cache_buffer_type
from rusty_ir.dialects.linalg_ext.ops import Q8_GROUP
from rusty_ir.dialects.quant import DequantizeOp
from rusty_ir.dialects.quant.attrs import BlockQuantType, Q8_0Type
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE, KV_CACHE_TYPES

PARALLEL = IteratorTypeAttr.parallel()
REDUCTION = IteratorTypeAttr.reduction()


# --- building linalg.generic ----------------------------------------------------------------------


def _map(num_dims: int, results: Sequence[int | str]) -> AffineMapAttr:
    """An affine map over ``num_dims`` loop dims: ints pick dims, ``"0"`` is the constant 0."""
    exprs = tuple(AffineExpr.constant(0) if r == "0" else AffineExpr.dimension(int(r)) for r in results)
    return AffineMapAttr(AffineMap(num_dims, 0, exprs))


def _elem(value: SSAValue) -> Attribute:
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty.element_type


@dataclass
class Generic:
    """Builds one ``linalg.generic`` before an insertion point.

    ``dims`` is the iteration space (loop dims ``0..n-1``); ``ins`` pairs each
    input with the loop dims that index it; the output is indexed by the dims
    that are not reductions. ``body(b, args, acc)`` returns the yielded value.
    """

    b: IRBuilder
    num_dims: int
    reduction_dims: tuple[int, ...] = ()

    def build(
        self,
        ins: Sequence[tuple[SSAValue, Sequence[int | str]]],
        out_type: TensorType,
        out_sizes: Sequence[SSAValue],
        body: Callable[[IRBuilder, Sequence[SSAValue], SSAValue | None], SSAValue],
        init: float | None = None,
    ) -> SSAValue:
        out_dims = [d for d in range(self.num_dims) if d not in self.reduction_dims]
        empty = self.b.value(tensor.EmptyOp(out_sizes, out_type))
        out = empty
        if init is not None:  # reductions accumulate into a filled tensor
            out = self.b.value(linalg.FillOp([self.b.const(init, out_type.element_type)], [empty], [out_type]))
        block = Block(arg_types=[*(_elem(v) for v, _ in ins), out_type.element_type])
        inner = IRBuilder(block)
        acc = block.args[-1] if init is not None else None
        inner.insert(linalg.YieldOp(body(inner, block.args[: len(ins)], acc)))
        op = linalg.GenericOp(
            [v for v, _ in ins],
            [out],
            Region(block),
            [*(_map(self.num_dims, dims) for _, dims in ins), _map(self.num_dims, out_dims)],
            [REDUCTION if d in self.reduction_dims else PARALLEL for d in range(self.num_dims)],
            [out_type],
        )
        return self.b.value(op)


def _present(acc: SSAValue | None) -> SSAValue:
    """The accumulator a reduction body gets: present, as the reduction has an ``init``."""
    assert acc is not None
    return acc


def _as_f32(b: IRBuilder, x: SSAValue) -> SSAValue:
    return x if isinstance(x.type, Float32Type) else b.to_f32(x)


def _float_input(b: IRBuilder, weight: SSAValue) -> SSAValue:
    """A weight as something a generic can read as floats: quantized ones through rquant.dequantize."""
    ty = weight.type
    assert isinstance(ty, TensorType)
    if isinstance(ty.element_type, BlockQuantType):
        return b.value(DequantizeOp(weight, TensorType(F32, ty.get_shape())))
    return weight


def _rows(b: IRBuilder, x: SSAValue) -> list[SSAValue]:
    """The dynamic sizes of a ``?xN`` activation: its row count, or nothing when static."""
    ty = x.type
    assert isinstance(ty, TensorType)
    return [b.value(tensor.DimOp(x, b.index(0)))] if ty.get_shape()[0] < 0 else []


def _elementwise(b: IRBuilder, inputs: Sequence[SSAValue], fn: Callable[[IRBuilder, Sequence[SSAValue]], SSAValue]) -> SSAValue:
    ty = inputs[0].type
    assert isinstance(ty, TensorType)
    rank = len(ty.get_shape())
    dims = list(range(rank))
    return Generic(b, rank).build([(x, dims) for x in inputs], ty, _rows(b, inputs[0]), lambda ib, a, _: fn(ib, a))


def silu(b: IRBuilder, x: SSAValue) -> SSAValue:
    """x * sigmoid(x) = x / (1 + exp(-x))."""
    return b.divf(x, b.addf(b.f32(1.0), b.exp(b.negf(x))))


def gelu_tanh(b: IRBuilder, x: SSAValue) -> SSAValue:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    inner = b.mulf(b.f32(pymath.sqrt(2.0 / pymath.pi)), b.addf(x, b.mulf(b.f32(0.044715), b.mulf(x, b.mulf(x, x)))))
    return b.mulf(b.mulf(b.f32(0.5), x), b.addf(b.f32(1.0), b.tanh(inner)))


# --- the patterns ---------------------------------------------------------------------------------


class _Lowering(RewritePattern):
    """Base: build the replacement before the matched op with an IRBuilder."""

    def builder(self, op: Operation) -> IRBuilder:
        return IRBuilder(InsertPoint.before(op))


class WeightLowering(_Lowering):
    """``tfm.weight`` becomes ``dispatch.weight`` (same name, layer and type)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.WeightOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, WeightOp(op.weight_name.data, op.result.type, op.layer))


KV_ELEMENT_TYPES: dict[str, Attribute] = {"f32": F32, "f16": Float16Type(), "q8_0": Q8_0Type()}
"""The element type of each ``kv-cache-type`` (``rusty_ir.stages.KV_CACHE_TYPES``)."""
assert tuple(KV_ELEMENT_TYPES) == KV_CACHE_TYPES, "KV cache types out of sync with rusty_ir.stages"


@dataclass(frozen=True)
class CacheLayout:
    """How the KV cache is stored: its element type and, when paged, rows per block."""

    element_type: Attribute = F32
    block_size: int | None = None


class KvCacheLowering(_Lowering):
    """``tfm.kv_cache`` becomes ``dispatch.kv_cache`` with its row width, element type and block size."""

    def __init__(self, layout: CacheLayout) -> None:
        self.layout = layout

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.KvCacheOp, rewriter: PatternRewriter, /) -> None:
        if isinstance(self.layout.element_type, Q8_0Type) and op.row_width % Q8_GROUP:
            raise RustyError(f"a q8_0 KV cache needs rows (kv heads x head dim) of a multiple of {Q8_GROUP} values, got {op.row_width}", op)
        decl = KvCacheOp(op.sym_name.data, op.num_layers.value.data, op.row_width, self.layout.element_type, self.layout.block_size)
        rewriter.replace(op, decl)


class ElementwiseLowering(_Lowering):
    """``tfm.add/mul/silu/gelu/softcap`` become one elementwise ``linalg.generic`` each."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.AddOp | tfm.MulOp | tfm.SiluOp | tfm.GeluOp | tfm.SoftcapOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        if isinstance(op, tfm.SoftcapOp):
            cap = op.cap.value.data
            y = _elementwise(b, [op.input], lambda ib, a: ib.mulf(ib.tanh(ib.divf(a[0], ib.f32(cap))), ib.f32(cap)))
        elif isinstance(op, tfm.AddOp):
            y = _elementwise(b, [op.lhs, op.rhs], lambda ib, a: ib.addf(a[0], a[1]))
        elif isinstance(op, tfm.MulOp):
            y = _elementwise(b, [op.lhs, op.rhs], lambda ib, a: ib.mulf(a[0], a[1]))
        elif isinstance(op, tfm.SiluOp):
            y = _elementwise(b, [op.input], lambda ib, a: silu(ib, a[0]))
        else:
            if op.approximate.data != "tanh":
                raise RustyError(f'tfm.gelu with approximate = "{op.approximate.data}" needs erf, which GPU targets lack; use "tanh"', op)
            y = _elementwise(b, [op.input], lambda ib, a: gelu_tanh(ib, a[0]))
        rewriter.replace(op, [], [y])


def rms_norm(b: IRBuilder, x: SSAValue, weight: SSAValue, eps: float) -> SSAValue:
    """x * rsqrt(mean(x^2) + eps) * w over the last dim: a sum-of-squares reduction, then elementwise."""
    ty = x.type
    assert isinstance(ty, TensorType)
    width = ty.get_shape()[-1]
    rank = len(ty.get_shape())
    dims = list(range(rank))
    rows = _rows(b, x)
    ss = Generic(b, rank, (rank - 1,)).build(
        [(x, dims)],
        TensorType(F32, ty.get_shape()[:-1]),
        rows,
        lambda ib, a, acc: ib.fma(a[0], a[0], _present(acc)),
        init=0.0,
    )
    w = _float_input(b, weight)

    def normalize(ib: IRBuilder, a: Sequence[SSAValue], _: SSAValue | None) -> SSAValue:
        inv = ib.rsqrt(ib.addf(ib.divf(a[1], ib.f32(float(width))), ib.f32(eps)))
        return ib.mulf(ib.mulf(a[0], inv), _as_f32(ib, a[2]))

    return Generic(b, rank).build([(x, dims), (ss, dims[:-1]), (w, [rank - 1])], ty, rows, normalize)


def head_rms_norm(b: IRBuilder, x: SSAValue, weight: SSAValue, eps: float, head_dim: int) -> SSAValue:
    """RMSNorm of each ``head_dim`` group of a row (Qwen3's q/k norm), from generics the row schedule knows:
    ``x`` viewed as ``[rows, heads, head_dim]`` (an elementwise generic gathering ``x[s, h * head_dim + d]``),
    ``rms_norm`` over its last dim, and the ``[rows, heads * head_dim]`` result gathered back."""
    ty = x.type
    assert isinstance(ty, TensorType)
    rows_dim, width = ty.get_shape()
    heads = width // head_dim
    rows = _rows(b, x)

    def split(ib: IRBuilder, _a: Sequence[SSAValue], _acc: SSAValue | None) -> SSAValue:
        s, h, d = (ib.value(linalg.IndexOp(i)) for i in range(3))
        return ib.value(tensor.ExtractOp(x, [s, ib.addi(ib.muli(h, ib.index(head_dim)), d)], F32))

    x3 = Generic(b, 3).build([], TensorType(F32, [rows_dim, heads, head_dim]), rows, split)
    y3 = rms_norm(b, x3, weight, eps)

    def join(ib: IRBuilder, _a: Sequence[SSAValue], _acc: SSAValue | None) -> SSAValue:
        s, j = (ib.value(linalg.IndexOp(i)) for i in range(2))
        hd = ib.index(head_dim)
        return ib.value(tensor.ExtractOp(y3, [s, ib.divui(j, hd), ib.remui(j, hd)], F32))

    return Generic(b, 2).build([], ty, rows, join)


class RmsNormLowering(_Lowering):
    """``tfm.rms_norm``: a sum-of-squares row reduction, then x * rsqrt(ss / D + eps) * w (per head with ``head_dim``)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.RmsNormOp, rewriter: PatternRewriter, /) -> None:
        eps = op.epsilon.value.data
        if op.group is None:
            y = rms_norm(self.builder(op), op.input, op.weight, eps)
        else:
            y = head_rms_norm(self.builder(op), op.input, op.weight, eps, op.group)
        rewriter.replace(op, [], [y])


def contraction(
    b: IRBuilder, x: SSAValue, w: SSAValue, x_dims: Sequence[int | str], out_type: TensorType, sizes: Sequence[SSAValue]
) -> SSAValue:
    """``out[..., n] = sum_k x[..., k] * w[n, k]`` over loop dims (..., n, k), k last."""
    rank = len(out_type.get_shape()) + 1
    n, k = rank - 2, rank - 1
    wf = _float_input(b, w)
    return Generic(b, rank, (k,)).build(
        [(x, x_dims), (wf, [n, k])],
        out_type,
        sizes,
        lambda ib, a, acc: ib.fma(_as_f32(ib, a[0]), _as_f32(ib, a[1]), _present(acc)),
        init=0.0,
    )


class LinearLowering(_Lowering):
    """``tfm.linear``: a contraction over (s, n, k) reading dequantized weights, then the bias."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.LinearOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        out_ty = op.result.type
        assert isinstance(out_ty, TensorType)
        rows = _rows(b, op.input)
        y = contraction(b, op.input, op.weight, [0, 2], out_ty, rows)
        if op.bias is not None:
            bias = _float_input(b, op.bias)
            y = Generic(b, 2).build([(y, [0, 1]), (bias, [1])], out_ty, rows, lambda ib, a, _: ib.addf(a[0], _as_f32(ib, a[1])))
        rewriter.replace(op, [], [y])


class EmbeddingLowering(_Lowering):
    """``tfm.embedding``: a generic over (s, d) that gathers ``table[tokens[s], d]`` (times ``scale`` if given)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.EmbeddingOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        out_ty = op.result.type
        assert isinstance(out_ty, TensorType)
        table = _float_input(b, op.table)
        rows = [b.value(tensor.DimOp(op.tokens, b.index(0)))] if out_ty.get_shape()[0] < 0 else []

        def gather(ib: IRBuilder, a: Sequence[SSAValue], _: SSAValue | None) -> SSAValue:
            row = ib.to_index(a[0])
            col = ib.value(linalg.IndexOp(1))
            value = _as_f32(ib, ib.value(tensor.ExtractOp(table, [row, col], _elem(table))))
            return value if op.factor is None else ib.mulf(value, ib.f32(op.factor))

        y = Generic(b, 2).build([(op.tokens, [0])], out_ty, rows, gather)
        rewriter.replace(op, [], [y])


class RopeLowering(_Lowering):
    """``tfm.rope``: a generic over (s, j) that rotates each element with its pair partner.

    The partner is read with ``tensor.extract``: ``j ^ 1`` for the interleaved
    (llama.cpp) layout, ``j +- head_dim/2`` within the head for the half (NEOX)
    layout. The angle is ``(pos + s) * theta^(-2p/head_dim)`` for pair ``p``, divided by
    ``freq_factors[p]`` (gathered with ``tensor.extract``) when the op has them.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.RopeOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        x, ty = op.input, op.input.type
        assert isinstance(ty, TensorType)
        hd = op.head_dim.value.data
        theta = op.theta.value.data
        interleaved = op.style.data == "interleaved"
        pos = op.pos
        factors = None if op.freq_factors is None else _float_input(b, op.freq_factors)

        def rotate(ib: IRBuilder, a: Sequence[SSAValue], _: SSAValue | None) -> SSAValue:
            s = ib.value(linalg.IndexOp(0))
            j = ib.value(linalg.IndexOp(1))
            i = ib.remui(j, ib.index(hd))
            if interleaved:
                pair = ib.divui(i, ib.index(2))
                partner = ib.xori(j, ib.index(1))
                first = ib.cmpi("eq", ib.remui(i, ib.index(2)), ib.index(0))
            else:
                half = ib.index(hd // 2)
                first = ib.cmpi("ult", i, half)
                pair = ib.select(first, i, ib.subi(i, half))
                partner = ib.select(first, ib.addi(j, half), ib.subi(j, half))
            exponent = ib.mulf(ib.to_f32(pair), ib.f32(-2.0 / hd))
            inv_freq = ib.powf(ib.f32(theta), exponent)
            if factors is not None:
                inv_freq = ib.divf(inv_freq, _as_f32(ib, ib.value(tensor.ExtractOp(factors, [pair], _elem(factors)))))
            angle = ib.mulf(ib.to_f32(ib.addi(pos, s)), inv_freq)
            other = ib.value(tensor.ExtractOp(x, [s, partner], F32))
            sign = ib.select(first, ib.f32(-1.0), ib.f32(1.0))
            return ib.addf(ib.mulf(a[0], ib.cos(angle)), ib.mulf(ib.mulf(sign, other), ib.sin(angle)))

        y = Generic(b, 2).build([(x, [0, 1])], ty, _rows(b, x), rotate)
        rewriter.replace(op, [], [y])


class AttentionLowering(_Lowering):
    """``tfm.attention``: append K/V to the layer's cache buffers, then attend over them (through the
    block table when the cache is paged). The buffers are ``kv_cache_buffer_type``'s: a q8_0 cache's are the
    i32 words of its rows, and both ops get ``cache_element = !rquant.q8_0``."""

    def __init__(self, layout: CacheLayout) -> None:
        self.layout = layout

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.AttentionOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        width = op.num_kv_heads.value.data * op.head_dim.value.data
        buf = kv_cache_buffer_type(self.layout.element_type, width)
        stored = self.layout.element_type if isinstance(self.layout.element_type, BlockQuantType) else None
        cache = op.cache.string_value()
        kc = b.value(CacheOp(cache, "k", op.layer, buf))
        vc = b.value(CacheOp(cache, "v", op.layer, buf))
        block = self.layout.block_size
        table = None if block is None else b.value(BlockTableOp(cache))
        b.insert(CacheAppendOp(op.key, op.value, kc, vc, op.pos, table, block, cache_element=stored))
        out = b.value(
            AttentionOp(
                op.query,
                kc,
                vc,
                op.pos,
                op.num_heads.value.data,
                op.num_kv_heads.value.data,
                op.head_dim.value.data,
                op.scale.value.data,
                table,
                block,
                window=None if op.window is None else op.window.value.data,
                softcap=None if op.softcap is None else op.softcap.value.data,
                cache_element=stored,
            )
        )
        rewriter.replace(op, [], [out])


class SoftmaxLowering(_Lowering):
    """``tfm.softmax`` over the last dim: max, sum of exp(x - max), then exp(x - max) / sum."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.SoftmaxOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        x, ty = op.input, op.input.type
        assert isinstance(ty, TensorType)
        rows = _rows(b, x)
        row_ty = TensorType(F32, [ty.get_shape()[0]])
        mx = Generic(b, 2, (1,)).build([(x, [0, 1])], row_ty, rows, lambda ib, a, acc: ib.maximumf(a[0], acc), init=float("-inf"))
        total = Generic(b, 2, (1,)).build(
            [(x, [0, 1]), (mx, [0])], row_ty, rows, lambda ib, a, acc: ib.addf(ib.exp(ib.subf(a[0], a[1])), acc), init=0.0
        )
        y = Generic(b, 2).build(
            [(x, [0, 1]), (mx, [0]), (total, [0])], ty, rows, lambda ib, a, _: ib.divf(ib.exp(ib.subf(a[0], a[1])), a[2])
        )
        rewriter.replace(op, [], [y])


class LogitsLowering(_Lowering):
    """``tfm.logits``: the last row (``tensor.extract_slice``), then a contraction over (n, k).

    When the hidden state comes from a ``tfm.rms_norm`` used only here, the row
    is sliced before the norm, so only that row is normalized.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.LogitsOp, rewriter: PatternRewriter, /) -> None:
        b = self.builder(op)
        owner = op.input.owner
        norm = owner if isinstance(owner, tfm.RmsNormOp) and len(list(op.input.uses)) == 1 else None
        x = norm.input if norm is not None else op.input
        ty = x.type
        assert isinstance(ty, TensorType)
        width = ty.get_shape()[1]
        rows = b.value(tensor.DimOp(x, b.index(0)))
        last = b.value(tensor.ExtractSliceOp(x, [b.subi(rows, b.index(1)), b.index(0)], [1, width], [1, 1], TensorType(F32, [1, width])))
        if norm is not None:
            last = rms_norm(b, last, norm.weight, norm.epsilon.value.data)
        out_ty = op.result.type
        assert isinstance(out_ty, TensorType)
        y = contraction(b, last, op.weight, ["0", 1], out_ty, [])
        rewriter.replace(op, [], [y])
        if norm is not None:
            rewriter.erase(norm)


class ArgmaxLowering(_Lowering):
    """``tfm.argmax`` (an i32) becomes ``linalg_ext.argmax`` (a one-element tensor the host reads back)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.ArgmaxOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, ArgmaxOp(op.input))


class RowArgmaxLowering(_Lowering):
    """``tfm.row_argmax`` becomes ``linalg_ext.argmax`` of the rows (one i32 per row, ties to the smallest index):
    one kernel, a workgroup per row walking the vocabulary with several loads in flight, as decoding's argmax."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.RowArgmaxOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, ArgmaxOp(op.input))


class SampleLowering(_Lowering):
    """``tfm.sample`` (an i32) becomes ``linalg_ext.sample`` (a one-element tensor the host reads back)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.SampleOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, SampleOp(op.input, op.params))


class RowSampleLowering(_Lowering):
    """``tfm.row_sample`` becomes ``linalg_ext.sample`` of the rows (one i32 per row, each under its row of words):
    one kernel, a workgroup per row, as decoding's sample kernel."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tfm.RowSampleOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, SampleOp(op.input, op.params))


def patterns(layout: CacheLayout) -> tuple[RewritePattern, ...]:
    """The conversion patterns (reusable by umbrella passes), the KV cache stored as ``layout`` says."""
    return (
        WeightLowering(),
        KvCacheLowering(layout),
        ElementwiseLowering(),
        RmsNormLowering(),
        LinearLowering(),
        EmbeddingLowering(),
        RopeLowering(),
        AttentionLowering(layout),
        SoftmaxLowering(),
        LogitsLowering(),
        ArgmaxLowering(),
        RowArgmaxLowering(),
        SampleLowering(),
        RowSampleLowering(),
    )


def _fix_function_types(module: ModuleOp) -> None:
    """Functions whose returns changed type (argmax, sample: i32 -> tensor<1xi32>) get new signatures.

    Calls to them are rebuilt with the new result types, which can change the
    returns of their callers in turn, so this repeats until nothing changes.
    """
    changed = True
    while changed:
        changed = False
        for f in module.ops:
            if not isinstance(f, func.FuncOp) or f.is_declaration:
                continue
            ret = f.body.block.last_op
            assert isinstance(ret, func.ReturnOp)
            new = FunctionType.from_lists(f.function_type.inputs.data, [v.type for v in ret.arguments])
            if new == f.function_type:
                continue
            f.function_type = new
            changed = True
            for call in list(module.walk()):
                if isinstance(call, func.CallOp) and call.callee.string_value() == f.sym_name.data:
                    Rewriter.replace_op(call, func.CallOp(call.callee, call.arguments, new.outputs.data))


def _check_shapes(module: ModuleOp) -> None:
    """RustyError, located at the op, for a tfm tensor this lowering cannot handle: only the leading (token)
    dimension may be dynamic (the kernels are generated for static rows), and no dimension may be 0."""
    for inner in module.walk():
        if inner.dialect_name() != "tfm":
            continue
        for value in (*inner.operands, *inner.results):
            if not isinstance(value.type, TensorType):
                continue
            shape = value.type.get_shape()
            if any(d == DYNAMIC_INDEX for d in shape[1:]) or 0 in shape:
                raise RustyError(
                    f"convert-transformer-to-tensor: {value.type} is not supported: only the leading (token) "
                    "dimension may be dynamic, and no dimension may be 0",
                    inner,
                )


@dataclass(frozen=True)
class ConvertTransformerToTensorPass(ModulePass):
    """Rewrites every ``tfm`` op into linalg on tensors, rquant.dequantize and linalg_ext ops.

    Matches: all ``tfm`` ops. Produces: ``linalg.generic`` (elementwise ops,
    row reductions, contractions over (..., n, k) reading weights through
    ``rquant.dequantize``), ``tensor.extract`` gathers (embedding, RoPE pairs),
    ``linalg_ext.cache_append``/``attention``/``argmax``/``sample``, and
    ``dispatch.weight``/``kv_cache``/``cache``/``block_table`` for the host's
    resources. No ``tfm`` op remains. Pre-conditions: the module verifies; tfm
    tensors have static, non-zero dimensions except the leading (token) one.

    The KV cache is paged by default (blocks of ``kv-block-size`` positions
    handed out by the runtime as the sequence grows, read through a block
    table) and holds ``kv-cache-type`` values.
    """

    name = "convert-transformer-to-tensor"

    kv_cache_type: str = "f32"
    """What the KV cache holds: f32; f16 (half the memory; needs the adapter's shader-f16 feature); or
    q8_0 (8-bit codes with an f16 scale per 32 values, 0.27 of f32; rows of a multiple of 64 values).
    Attention computes in f32 either way."""

    kv_block_size: int = DEFAULT_KV_BLOCK_SIZE
    """Positions per block of the paged KV cache; 0 = not paged (every layer's K and V buffers sized for
    the whole context when the model is loaded)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.kv_cache_type not in KV_ELEMENT_TYPES:
            raise RustyError(
                f"convert-transformer-to-tensor: kv-cache-type must be one of {', '.join(KV_ELEMENT_TYPES)}, got '{self.kv_cache_type}'"
            )
        if self.kv_block_size < 0:
            raise RustyError(f"convert-transformer-to-tensor: kv-block-size must be 0 (not paged) or positive, got {self.kv_block_size}")
        _check_shapes(op)
        layout = CacheLayout(KV_ELEMENT_TYPES[self.kv_cache_type], self.kv_block_size or None)
        # logits first: they may absorb the rms_norm that feeds them (see LogitsLowering)
        PatternRewriteWalker(LogitsLowering(), apply_recursively=False).rewrite_module(op)
        PatternRewriteWalker(GreedyRewritePatternApplier(list(patterns(layout))), apply_recursively=False).rewrite_module(op)
        _fix_function_types(op)
        for inner in op.walk():
            if inner.dialect_name() == "tfm":
                raise RustyError(f"convert-transformer-to-tensor: '{inner.name}' has no lowering", inner)


__all__ = ["CacheLayout", "ConvertTransformerToTensorPass", "patterns", "contraction", "gelu_tanh", "silu"]
