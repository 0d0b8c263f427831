"""distribute-to-gpu-ids: ``tiled.forall`` loops become workgroup and invocation ids, guards and strided loops.

The rewrite is a pattern, ``DistributeForall``, exported as ``DISTRIBUTE_PATTERNS`` (and
``distribute_patterns()``) for a pass that wants it in its own walker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, gpu
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from rusty_ir.dialects.tiled import ForallOp, KernelOp
from rusty_ir.errors import RustyError
from rusty_ir.narrow import terminator
from rusty_ir.passes.builder import IRBuilder


def constant_index(value: SSAValue) -> int | None:
    """The value of an ``arith.constant`` index, or None."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def linear_invocation(b: IRBuilder, workgroup: Sequence[int]) -> SSAValue:
    """The invocation's linear index in its workgroup (x fastest)."""
    x, y, z = workgroup
    tid = b.value(gpu.ThreadIdOp(gpu.DimensionAttr(gpu.DimensionEnum("x"))))
    if y * z == 1:
        return tid
    ty = b.value(gpu.ThreadIdOp(gpu.DimensionAttr(gpu.DimensionEnum("y"))))
    linear = b.addi(b.muli(ty, b.index(x)), tid)
    if z == 1:
        return linear
    tz = b.value(gpu.ThreadIdOp(gpu.DimensionAttr(gpu.DimensionEnum("z"))))
    return b.addi(b.muli(tz, b.index(x * y)), linear)


def delinearize(b: IRBuilder, linear: SSAValue, extents: Sequence[SSAValue]) -> list[SSAValue]:
    """Row-major coordinates of ``linear`` in ``extents`` (the last varies fastest; the first is not divided)."""
    idx: list[SSAValue] = []
    for extent in reversed(extents[1:]):
        idx.append(b.remui(linear, extent))
        linear = b.divui(linear, extent)
    idx.append(linear)
    return list(reversed(idx))


def _distribute_workgroups(forall: ForallOp, rewriter: PatternRewriter) -> None:
    b = IRBuilder(InsertPoint.before(forall))
    bounds = list(forall.upper_bounds)
    dims = "xyz"
    if len(bounds) == 1:  # a 1-D grid may be folded into y past the per-dimension limit
        bx = b.value(gpu.BlockIdOp(gpu.DimensionAttr(gpu.DimensionEnum("x"))))
        by = b.value(gpu.BlockIdOp(gpu.DimensionAttr(gpu.DimensionEnum("y"))))
        gx = b.value(gpu.GridDimOp(gpu.DimensionAttr(gpu.DimensionEnum("x"))))
        iv = b.addi(b.muli(by, gx), bx)
        _guarded(forall, rewriter, b, b.cmpi("ult", iv, bounds[0]), [iv])
        return
    ivs = [b.value(gpu.BlockIdOp(gpu.DimensionAttr(gpu.DimensionEnum(dims[i])))) for i in range(len(bounds))]
    _move_body(forall, rewriter, b, ivs)


def _move_body(forall: ForallOp, rewriter: PatternRewriter, b: IRBuilder, ivs: Sequence[SSAValue]) -> None:
    """The forall's body, its ivs replaced by ``ivs``, moved to ``b``'s insertion point; the forall erased."""
    block = forall.body.block
    rewriter.erase(terminator(block))  # tiled.yield
    rewriter.inline_block(block, b.builder.insertion_point, ivs)
    rewriter.erase(forall)


def _guarded(forall: ForallOp, rewriter: PatternRewriter, b: IRBuilder, cond: SSAValue, ivs: Sequence[SSAValue]) -> None:
    holder: list[IRBuilder] = []

    def then(ib: IRBuilder) -> list[SSAValue]:
        holder.append(ib)
        return []

    b.if_then(cond, then)
    inner = holder[0]
    inner.builder.insertion_point = InsertPoint.before(terminator(inner.builder.insertion_point.block))  # before scf.yield
    _move_body(forall, rewriter, inner, ivs)


def _distribute_invocations(forall: ForallOp, kernel: KernelOp, rewriter: PatternRewriter) -> None:
    b = IRBuilder(InsertPoint.before(forall))
    threads = kernel.threads
    bounds = list(forall.upper_bounds)
    static = [constant_index(v) for v in bounds]
    tid = linear_invocation(b, kernel.workgroup)
    total = None if None in static else 1
    for s in static:
        if total is not None and s is not None:
            total *= s
    if total is not None and total == threads:
        _move_body(forall, rewriter, b, delinearize(b, tid, bounds))
        return
    if total is not None and total < threads:
        _guarded(forall, rewriter, b, b.cmpi("ult", tid, b.index(total)), delinearize(b, tid, bounds))
        return
    extent = b.index(total) if total is not None else b.product(bounds)
    holder: list[tuple[IRBuilder, SSAValue]] = []

    def body(ib: IRBuilder, linear: SSAValue, _: Sequence[SSAValue]) -> list[SSAValue]:
        holder.append((ib, linear))
        return []

    b.for_loop(tid, extent, b.index(threads), [], body)
    inner, linear = holder[0]
    inner.builder.insertion_point = InsertPoint.before(terminator(inner.builder.insertion_point.block))
    _move_body(forall, rewriter, inner, delinearize(inner, linear, bounds))


def _enclosing_kernel(op: Operation) -> KernelOp | None:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, KernelOp):
        parent = parent.parent_op()
    return parent


class DistributeForall(RewritePattern):
    """A ``tiled.forall`` in a ``tiled.kernel`` body becomes gpu ids (the pass's docstring): a ``workgroup`` one the
    ``gpu.block_id``s (guarded when one-dimensional), an ``invocation`` one the kernel's linear invocation index,
    delinearized, its body as it is, under an ``scf.if`` or in an ``scf.for`` striding by the workgroup size. A
    forall outside a kernel is left alone."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ForallOp, rewriter: PatternRewriter, /) -> None:
        kernel = _enclosing_kernel(op)
        if kernel is None:
            return
        try:
            if op.mapping.data == "workgroup":
                _distribute_workgroups(op, rewriter)
            else:
                _distribute_invocations(op, kernel, rewriter)
        except RustyError as err:
            raise RustyError(f"distribute-to-gpu-ids: {err}", op) from None


DISTRIBUTE_PATTERNS: tuple[type[RewritePattern], ...] = (DistributeForall,)
"""The pattern classes of ``distribute-to-gpu-ids``: each forall's replacement is built where it was (the order
foralls are rewritten in does not matter)."""


def distribute_patterns() -> list[RewritePattern]:
    """Fresh instances of ``DISTRIBUTE_PATTERNS``, for a ``GreedyRewritePatternApplier`` of another pass."""
    return [p() for p in DISTRIBUTE_PATTERNS]


@dataclass(frozen=True)
class DistributeToGpuIdsPass(ModulePass):
    """Lowers every ``tiled.forall`` to ``gpu.block_id``/``gpu.thread_id`` arithmetic.

    Matches: ``tiled.forall`` inside ``tiled.kernel`` bodies. Produces:

    - ``workgroup``: the ivs are ``gpu.block_id`` x, y, z; a one-dimensional
      one is ``block_id.y * grid_dim.x + block_id.x`` under a guard (the grid
      may fold a long range into y);
    - ``invocation``: the iteration space, linearized row-major, against the
      workgroup's linear invocation index: the ivs directly when it has as many
      points as invocations, under an ``scf.if`` when fewer, an ``scf.for``
      striding by the workgroup size when more (or dynamic).

    Pre-conditions: collective ops (``tiled.promote``, ``tiled.reduce``) are
    lowered first: an invocation forall with a guard or a loop must not
    contain a barrier.
    """

    name = "distribute-to-gpu-ids"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(distribute_patterns(), dce_enabled=False), apply_recursively=False)
        walker.rewrite_module(op)


__all__ = ["DISTRIBUTE_PATTERNS", "DistributeForall", "DistributeToGpuIdsPass", "constant_index", "delinearize", "distribute_patterns",
           "linear_invocation"]  # fmt: skip
