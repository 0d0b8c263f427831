"""lower-upstream-linalg: upstream linalg's named ops become the ``linalg.generic``s that ``form-dispatches`` groups.

Matches, at the tensor level (the ops of ``rusty_ir.dialects.linalg_ext.upstream`` and xDSL's ``linalg``):

- elementwise ops (``linalg.elementwise``, ``linalg.map``, ``linalg.transpose``, ``linalg.broadcast``,
  ``linalg.copy`` and xDSL's named ``add``/``sub``/``mul``/``exp``/``log``/``sqrt``/``max``/``min``/``select``):
  one all-parallel generic with the op's indexing maps and body;
- contractions (``linalg.matmul`` with any ``indexing_maps`` that are permutations, ``linalg.matvec``,
  ``linalg.batch_matmul``): the form the contraction schedules take, ``out[i, j] += x[i, k] * w[j, k]``
  (``out[j] += x[k] * w[j, k]`` for a vector): an operand whose map does not end in the reduction dim is
  transposed first by an elementwise generic, the one indexed by the output's last dim is the weight, and the
  sum starts from a zero fill, the init being added after (the op's ``C +=``). A batch is unrolled: one 2-D
  contraction per batch index over ``tensor.extract_slice``s, gathered by a generic that selects on
  ``linalg.index``;
- ``linalg.softmax`` over the last dim: a max reduction, ``exp(x - max)``, a sum and a division (upstream's
  decomposition), each a generic.

``linalg.fill`` and ``linalg.generic`` are left as they are. Anything else of ``linalg`` (convolutions, pooling,
``linalg.reduce``, a softmax over another dim, a contraction whose maps are not permutations) is a located error:
``form-dispatches`` would otherwise leave it outside every kernel.

The rewrites are patterns, exported as ``UPSTREAM_LINALG_PATTERNS`` (and ``upstream_linalg_patterns()``) for a
pass that wants them in its own walker. Precondition: static shapes on the ops rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from xdsl.context import Context
from xdsl.dialects import arith, math, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    DenseArrayBase,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    ShapedType,
    TensorType,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.rewriter import InsertPoint

from rusty_ir.dialects.linalg_ext.upstream import BatchMatmulOp, ElementwiseOp, MapOp, MatmulOp, MatvecOp, SoftmaxOp
from rusty_ir.errors import RustyError

_ELEMENTWISE = (ElementwiseOp, linalg.TransposeOp, linalg.CopyOp, linalg.AddOp, linalg.SubOp, linalg.MulOp,
                linalg.ExpOp, linalg.LogOp, linalg.SqrtOp, linalg.MaxOp, linalg.MinOp, linalg.SelectOp)  # fmt: skip
"""Named ops whose maps and body say everything: one all-parallel generic each."""
KEPT = (linalg.GenericOp, linalg.FillOp, linalg.YieldOp, linalg.IndexOp)
"""linalg ops form-dispatches takes as they are; any other left after this pass is an error there."""

Build = Callable[[Sequence[SSAValue]], tuple[list[Operation], SSAValue]]
"""Builds a body from its block arguments: (the ops, the value yielded)."""


def _shape(value: SSAValue) -> list[int]:
    ty = value.type
    assert isinstance(ty, ShapedType)
    return list(ty.get_shape())


def _elem(value: SSAValue) -> Attribute:
    ty = value.type
    return ty.element_type if isinstance(ty, TensorType | MemRefType) else ty


def _iterators(n: int, reduction: bool = False) -> list[Attribute]:
    its: list[Attribute] = [IteratorTypeAttr.parallel()] * n
    return [*its[:-1], IteratorTypeAttr.reduction()] if reduction else its


def _empty(elem: Attribute, shape: Sequence[int]) -> tensor.EmptyOp:
    return tensor.EmptyOp([], TensorType(elem, list(shape)))


def _generic(ins: Sequence[SSAValue], init: SSAValue, maps: Sequence[AffineMap], iterators: Sequence[Attribute],
             body: Region) -> linalg.GenericOp:  # fmt: skip
    return linalg.GenericOp(ins, [init], body, [AffineMapAttr(m) for m in maps], iterators, [init.type])


def _region(types: Sequence[Attribute], build: Build) -> Region:
    block = Block(arg_types=types)
    ops, value = build(block.args)
    block.add_ops([*ops, linalg.YieldOp(value)])
    return Region(block)


def _fill(elem: Attribute, shape: Sequence[int], value: float) -> list[Operation]:
    """tensor.empty, the constant and the linalg.fill (last) of ``shape`` with ``value``."""
    empty = _empty(elem, shape)
    c = arith.ConstantOp(FloatAttr(value, cast(AnyFloat, elem)))
    return [empty, c, linalg.FillOp([c.result], [empty.tensor], [empty.tensor.type])]


def _is_zero_fill(value: SSAValue) -> bool:
    owner = value.owner
    if not isinstance(owner, linalg.FillOp):
        return False
    c = owner.inputs[0].owner
    return isinstance(c, arith.ConstantOp) and isinstance(c.value, FloatAttr | IntegerAttr) and c.value.value.data == 0


def _insert(rewriter: PatternRewriter, at: Operation, ops: Sequence[Operation]) -> SSAValue:
    """Insert ``ops`` before ``at``; the last one's first result."""
    rewriter.insert_op(list(ops), InsertPoint.before(at))
    return ops[-1].results[0]


class GeneralizeElementwise(RewritePattern):
    """An elementwise named op (``_ELEMENTWISE``), ``linalg.broadcast`` or ``linalg.map`` becomes a generic with its
    maps and body."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        if isinstance(op, MapOp):
            maps = [AffineMap.identity(len(_shape(op.init)))] * (len(op.inputs) + 1)
            ins, init, body = list(op.inputs), op.init, op.mapper
        elif isinstance(op, linalg.BroadcastOp):  # not a structured op in xDSL: its maps from ``dimensions``
            rank, added = len(_shape(op.init)), set(op.dimensions.get_values())
            kept = tuple(AffineDimExpr(d) for d in range(rank) if d not in added)
            maps = [AffineMap(rank, 0, kept), AffineMap.identity(rank)]
            ins, init, body = [op.input], op.init, op.hidden_region
        elif isinstance(op, _ELEMENTWISE):
            assert isinstance(op, LinalgStructuredOperation)
            if len(op.outputs) != 1:
                raise RustyError(f"lower-upstream-linalg: '{op.name}' with {len(op.outputs)} outputs is not handled", op)
            maps = [m.data for m in op.get_indexing_maps().data]
            ins, init, body = list(op.inputs), op.outputs[0], op.body
        else:
            return
        if not isinstance(init.type, TensorType):
            raise RustyError(f"lower-upstream-linalg: '{op.name}' on buffers is not handled (this is a tensor-level pass)", op)
        rewriter.replace(op, _generic(ins, init, maps, _iterators(len(_shape(init))), body.clone()))


def _dims(m: AffineMap, op: Operation) -> list[int]:
    """The loop dims a projected-permutation map reads, in order (a located error for any other map)."""
    dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    if len(dims) != len(m.results) or len(set(dims)) != len(dims):
        raise RustyError(f"lower-upstream-linalg: '{op.name}' indexing map {m} is not a permutation of loop dims", op)
    return dims


def _transposed(rewriter: PatternRewriter, at: Operation, value: SSAValue) -> SSAValue:
    """``value`` (2-D) transposed by an elementwise generic inserted before ``at``."""
    rows, cols = _shape(value)
    empty = _empty(_elem(value), [cols, rows])
    body = _region([_elem(value)] * 2, lambda a: ([], a[0]))
    swap = AffineMap.from_callable(lambda i, j: (j, i))
    return _insert(rewriter, at, [empty, _generic([value], empty.tensor, [swap, AffineMap.identity(2)], _iterators(2), body)])


@dataclass
class _Contraction:
    """A matmul-like op's pieces: two inputs (value, dims read), the init, the body, the reduction dim."""

    op: Operation
    inputs: list[tuple[SSAValue, list[int]]]
    out_dims: list[int]
    reduction: int
    body: Block


def _contract_2d(rewriter: PatternRewriter, c: _Contraction, at: Operation) -> SSAValue:
    """``c`` (output ``[i, j]`` or ``[j]``) as the schedules' contraction, from a zero fill: its result."""
    op, r, j = c.op, c.reduction, c.out_dims[-1]
    w_index = [n for n, (_, dims) in enumerate(c.inputs) if j in dims]
    if len(w_index) != 1:
        raise RustyError(f"lower-upstream-linalg: '{op.name}': exactly one input must be indexed by the output's last dim", op)
    (w, w_dims), (x, x_dims) = c.inputs[w_index[0]], c.inputs[1 - w_index[0]]
    rows = c.out_dims[:-1]
    if sorted(w_dims) != sorted([j, r]) or sorted(x_dims) != sorted([*rows, r]):
        raise RustyError(f"lower-upstream-linalg: '{op.name}': the inputs' maps are not those of a matrix product", op)
    if w_dims != [j, r]:
        w = _transposed(rewriter, at, w)
    if x_dims != [*rows, r]:
        x = _transposed(rewriter, at, x)
    out_elem = c.body.args[-1].type
    out_shape = [_shape(x)[0], _shape(w)[0]] if rows else [_shape(w)[0]]
    init = _insert(rewriter, at, _fill(out_elem, out_shape, 0.0))
    if rows:
        maps = [AffineMap.from_callable(f) for f in (lambda i, n, k: (i, k), lambda i, n, k: (n, k), lambda i, n, k: (i, n))]
    else:
        maps = [AffineMap.from_callable(f) for f in (lambda n, k: (k,), lambda n, k: (n, k), lambda n, k: (n,))]
    order = [1 - w_index[0], w_index[0], 2]  # the new body's arguments: x, w, acc
    block = Block(arg_types=[c.body.args[i].type for i in order])
    mapper: dict[SSAValue, SSAValue] = {c.body.args[i]: block.args[n] for n, i in enumerate(order)}
    for inner in c.body.ops:
        block.add_op(inner.clone(value_mapper=mapper))
    return _insert(rewriter, at, [_generic([x, w], init, maps, _iterators(len(maps[0].results) + 1, True), Region(block))])


def _add_init(rewriter: PatternRewriter, at: Operation, acc: SSAValue, init: SSAValue) -> SSAValue:
    """``acc + init`` (the named op's ``C +=``) unless ``init`` is a zero fill."""
    if _is_zero_fill(init):
        return acc
    ints = isinstance(_elem(acc), IntegerType)
    add = arith.AddiOp if ints else arith.AddfOp
    body = _region([_elem(acc), _elem(init), _elem(init)], lambda a: ([s := add(a[0], a[1])], s.result))
    rank = len(_shape(acc))
    return _insert(rewriter, at, [_generic([acc, init], init, [AffineMap.identity(rank)] * 3, _iterators(rank), body)])


class LowerContraction(RewritePattern):
    """``linalg.matmul``/``matvec``/``batch_matmul`` become the schedules' contraction (the module docstring)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        if not isinstance(op, MatmulOp | MatvecOp | BatchMatmulOp):
            return
        init = op.outputs[0]
        if not isinstance(init.type, TensorType) or len(op.inputs) != 2:
            raise RustyError(f"lower-upstream-linalg: '{op.name}' on buffers is not handled (this is a tensor-level pass)", op)
        maps = [m.data for m in op.get_indexing_maps().data]
        iterators = [it.data.value for it in op.get_iterator_types().data]
        reduction = [n for n, it in enumerate(iterators) if it == "reduction"]
        dims = [_dims(m, op) for m in maps]
        c = _Contraction(op, list(zip(op.inputs, dims[:2])), dims[2], reduction[0], op.body.block)
        if isinstance(op, BatchMatmulOp):
            acc = _batched(rewriter, c)
        else:
            acc = _contract_2d(rewriter, c, op)
        rewriter.replace(op, [], [_add_init(rewriter, op, acc, init)])
        _erase_if_dead(rewriter, init)


def _erase_if_dead(rewriter: PatternRewriter, value: SSAValue) -> None:
    """Erase the zero fill (and its tensor.empty and constant) a contraction no longer reads: the host keeps no
    tensor op without a user (rusty-bufferize takes none)."""
    owner = value.owner
    if isinstance(owner, linalg.FillOp | tensor.EmptyOp | arith.ConstantOp) and not any(r.uses for r in owner.results):
        operands = list(owner.operands)
        rewriter.erase(owner)
        for v in operands:
            _erase_if_dead(rewriter, v)


def _batched(rewriter: PatternRewriter, c: _Contraction) -> SSAValue:
    """A batch matmul (batch dim first in every map) as one 2-D contraction per batch index, gathered."""
    op = c.op
    batch = c.out_dims[0]
    if any(dims[0] != batch for _, dims in c.inputs):
        raise RustyError(f"lower-upstream-linalg: '{op.name}': the batch dim must be every operand's first", op)
    count = _shape(c.inputs[0][0])[0]
    parts: list[SSAValue] = []
    for b in range(count):
        sliced = []
        for value, dims in c.inputs:
            shape = _shape(value)
            piece = tensor.ExtractSliceOp.build(
                operands=[value, [], [], []], result_types=[TensorType(_elem(value), shape[1:])],
                properties={"static_offsets": DenseArrayBase.from_list(i64, [b, 0, 0]),
                            "static_sizes": DenseArrayBase.from_list(i64, [1, *shape[1:]]),
                            "static_strides": DenseArrayBase.from_list(i64, [1, 1, 1])})  # fmt: skip
            sliced.append((_insert(rewriter, op, [piece]), [d - 1 for d in dims[1:]]))
        parts.append(_contract_2d(rewriter, _Contraction(op, sliced, [d - 1 for d in c.out_dims[1:]], c.reduction - 1, c.body), op))
    return _gather(rewriter, op, parts)


def _gather(rewriter: PatternRewriter, at: Operation, parts: list[SSAValue]) -> SSAValue:
    """``out[b, i, j] = parts[b][i, j]``: one elementwise generic selecting on ``linalg.index 0``."""
    elem, (m, n) = _elem(parts[0]), _shape(parts[0])
    empty = _empty(elem, [len(parts), m, n])

    def build(args: Sequence[SSAValue]) -> tuple[list[Operation], SSAValue]:
        index = linalg.IndexOp(0)
        ops: list[Operation] = [index]
        value = args[len(parts) - 1]
        for b in range(len(parts) - 2, -1, -1):
            k = arith.ConstantOp(IntegerAttr(b, IndexType()))
            eq = arith.CmpiOp(index.result, k.result, "eq")
            sel = arith.SelectOp(eq.result, args[b], value)
            ops += [k, eq, sel]
            value = sel.result
        return ops, value

    body = _region([elem] * (len(parts) + 1), build)
    read = AffineMap.from_callable(lambda b, i, j: (i, j))
    maps = [read] * len(parts) + [AffineMap.identity(3)]
    return _insert(rewriter, at, [empty, _generic(parts, empty.tensor, maps, _iterators(3), body)])


class DecomposeSoftmax(RewritePattern):
    """``linalg.softmax`` over the last dim: max, ``exp(x - max)``, sum, divide (upstream's decomposition)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /) -> None:
        if not isinstance(op, SoftmaxOp):
            return
        x = op.input
        shape, elem = _shape(x), _elem(x)
        rank = len(shape)
        if op.dimension.value.data != rank - 1 or not isinstance(x.type, TensorType):
            raise RustyError("lower-upstream-linalg: linalg.softmax is handled on tensors over their last dim only", op)
        ident, row = AffineMap.identity(rank), AffineMap(rank, 0, tuple(AffineDimExpr(d) for d in range(rank - 1)))

        def reduce(value: SSAValue, start: float, fn: Callable[[SSAValue, SSAValue], Operation]) -> SSAValue:
            init = _insert(rewriter, op, _fill(elem, shape[:-1], start))
            body = _region([elem, elem], lambda a: ([s := fn(a[0], a[1])], s.results[0]))
            return _insert(rewriter, op, [_generic([value], init, [ident, row], _iterators(rank, True), body)])

        def per_row(value: SSAValue, rowv: SSAValue, fn: Build, out: SSAValue) -> SSAValue:
            body = _region([elem] * 3, fn)
            return _insert(rewriter, op, [_generic([value, rowv], out, [ident, row, ident], _iterators(rank), body)])

        top = reduce(x, float("-inf"), arith.MaximumfOp)
        empty = _insert(rewriter, op, [_empty(elem, shape)])
        e = per_row(x, top, lambda a: ([d := arith.SubfOp(a[0], a[1]), x2 := math.ExpOp(d.result)], x2.result), empty)
        total = reduce(e, 0.0, arith.AddfOp)
        out = per_row(e, total, lambda a: ([q := arith.DivfOp(a[0], a[1])], q.result), op.output)
        rewriter.replace(op, [], [out])


UPSTREAM_LINALG_PATTERNS: tuple[type[RewritePattern], ...] = (GeneralizeElementwise, LowerContraction, DecomposeSoftmax)
"""The pattern classes of this pass, in the order it applies them."""


def upstream_linalg_patterns() -> list[RewritePattern]:
    """Fresh instances of ``UPSTREAM_LINALG_PATTERNS``, for a ``GreedyRewritePatternApplier`` of another pass."""
    return [p() for p in UPSTREAM_LINALG_PATTERNS]


def unhandled_linalg(op: Operation) -> Operation | None:
    """The first op nested in ``op`` of dialect ``linalg`` that neither this pass nor form-dispatches handles."""
    for inner in op.walk():
        if inner.name.startswith("linalg.") and not isinstance(inner, KEPT):
            return inner
    return None


@dataclass(frozen=True)
class LowerUpstreamLinalgPass(ModulePass):
    """Rewrite upstream linalg's named ops into generics the kernels take (module docstring); fail, located, on
    any linalg op left that form-dispatches would not place in a kernel."""

    name = "lower-upstream-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(upstream_linalg_patterns(), dce_enabled=False))
        walker.rewrite_module(op)
        left = unhandled_linalg(op)
        if left is not None:
            raise RustyError(f"lower-upstream-linalg: '{left.name}' is not supported (no kernel schedule takes it; "
                             "linalg.generic, fill, matmul, batch_matmul, matvec, transpose, broadcast, map, elementwise "
                             "and softmax are)", left)  # fmt: skip
