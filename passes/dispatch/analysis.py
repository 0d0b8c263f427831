"""What the dispatch-level passes need to know about tensor-level ops: their kinds.

One classification, shared by ``linalg-fuse-siblings``, ``form-dispatches``,
``tune-workgroups`` and ``convert-dispatch-to-tiled`` so they agree on what a
contraction or a row reduction is.
"""

from __future__ import annotations

from enum import Enum

from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import AffineMapAttr, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap

from rusty_ir.dialects.dispatch.ops import RegionOp, region_ops
from rusty_ir.dialects.linalg_ext import ArgmaxOp, AttentionOp, CacheAppendOp, SampleOp
from rusty_ir.dialects.quant import DequantizeOp


class Kind(Enum):
    CONTRACTION = "contraction"
    """A generic with one trailing reduction dim read by two or more inputs (a matmul/GEMV)."""
    ROW_REDUCTION = "row_reduction"
    """A generic that reduces its trailing dim, read by one input (sums, maxima)."""
    ELEMENTWISE = "elementwise"
    """A generic with only parallel dims."""
    ATTENTION = "attention"
    CACHE_APPEND = "cache_append"
    ARGMAX = "argmax"
    SAMPLE = "sample"
    DEQUANTIZE = "dequantize"
    SLICE = "slice"
    INIT = "init"
    """tensor.empty / linalg.fill: the destination of a generic."""


def defined_within(value: SSAValue, op: Operation) -> bool:
    """Whether ``value`` is a result of ``op`` or of an op nested in it, or an argument of a nested block."""
    owner = value.owner
    scope = owner if isinstance(owner, Operation) else owner.parent_op()
    while scope is not None:
        if scope is op:
            return True
        scope = scope.parent_op()
    return False


def maps(op: linalg.GenericOp) -> list[AffineMap]:
    return [m.data for m in op.indexing_maps.data if isinstance(m, AffineMapAttr)]


def reduction_dims(op: linalg.GenericOp) -> list[int]:
    return [i for i, it in enumerate(op.iterator_types.data) if it.data.value == "reduction"]


def reads_dim(amap: AffineMap, dim: int) -> bool:
    return any(isinstance(e, AffineDimExpr) and e.position == dim for e in amap.results)


def kind(op: Operation) -> Kind | None:
    """The kind of a tensor-level compute op, or None for host ops."""
    if isinstance(op, linalg.GenericOp):
        red = reduction_dims(op)
        if not red:
            return Kind.ELEMENTWISE
        readers = [m for m in maps(op)[: len(op.inputs)] if reads_dim(m, red[-1])]
        return Kind.CONTRACTION if len(readers) >= 2 else Kind.ROW_REDUCTION
    return {
        AttentionOp: Kind.ATTENTION,
        CacheAppendOp: Kind.CACHE_APPEND,
        ArgmaxOp: Kind.ARGMAX,
        SampleOp: Kind.SAMPLE,
        DequantizeOp: Kind.DEQUANTIZE,
        tensor.ExtractSliceOp: Kind.SLICE,
        tensor.EmptyOp: Kind.INIT,
        linalg.FillOp: Kind.INIT,
    }.get(type(op))


ROOT_KINDS = frozenset({Kind.CONTRACTION, Kind.ATTENTION, Kind.CACHE_APPEND, Kind.ARGMAX, Kind.SAMPLE})
"""Kinds that always root a region of their own (never recomputed in another region)."""

DUPLICABLE_KINDS = frozenset({Kind.ELEMENTWISE, Kind.ROW_REDUCTION, Kind.DEQUANTIZE, Kind.SLICE, Kind.INIT})
"""Kinds cheap enough to recompute inside every region that reads them."""


def region_strategy(ops: list[Operation]) -> str:
    """The lowering strategy a region's ops call for (see ``#dispatch.lowering_config``)."""
    kinds = {kind(op) for op in ops}
    if Kind.SAMPLE in kinds:
        return "sample"
    if Kind.ATTENTION in kinds:
        return "attention"
    if Kind.CONTRACTION in kinds:
        return "contraction"
    if Kind.ARGMAX in kinds or Kind.ROW_REDUCTION in kinds:
        return "row"
    return "elementwise"


def root_of(ops: list[Operation]) -> Operation:
    """The op a region is built around: its attention, first contraction, or its last op."""
    for wanted in (Kind.ATTENTION, Kind.CONTRACTION, Kind.CACHE_APPEND, Kind.ARGMAX, Kind.SAMPLE):
        for op in ops:
            if kind(op) is wanted:
                return op
    return ops[-1]


def is_mac(root: linalg.GenericOp) -> bool:
    """Whether every output ``i`` of a contraction's body is ``acc_i + x * w_i`` (in either operand order): a weight
    block's scale may then be applied once per block."""
    block = root.body.block
    term = block.last_op
    assert isinstance(term, linalg.YieldOp)
    for i in range(len(root.outputs)):
        acc = block.args[len(root.inputs) + i]
        x, w = block.args[0], block.args[1 + i]
        add = term.arguments[i].owner
        if not isinstance(add, arith.AddfOp):
            return False
        mul = add.lhs.owner if add.rhs is acc else add.rhs.owner if add.lhs is acc else None
        if not (isinstance(mul, arith.MulfOp) and {mul.lhs, mul.rhs} == {x, w}):
            return False
    return True


def region_contractions(region: RegionOp) -> list[Operation]:
    """The contractions of a dispatch region, in order."""
    return [op for op in region_ops(region) if kind(op) is Kind.CONTRACTION]


def activation_source(region: RegionOp) -> SSAValue | None:
    """The region operand its (first) contraction's activation is computed from: the first tensor operand of rank 2
    with dynamic rows that the contraction's input reaches back to through the region's ops."""
    roots = region_contractions(region)
    if not roots:
        return None
    todo = [roots[0].operands[0]]
    seen: set[SSAValue] = set()
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in region.block.args:
            ty = v.type
            if isinstance(ty, TensorType) and ty.get_num_dims() == 2 and ty.get_shape()[0] < 0:
                return region.args[region.block.args.index(v)]
            continue
        owner = v.owner
        if isinstance(owner, Operation) and owner.parent_op() is region:
            todo.extend(owner.operands)
    return None
