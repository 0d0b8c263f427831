"""reduction-to-subgroup: ``tiled.reduce`` becomes subgroup operations, or a tree in workgroup memory.

The rewrite is a pattern, ``LowerReduce`` (for one target), exported as ``REDUCTION_PATTERNS`` (and
``reduction_patterns(target)``) for a pass that wants it in its own walker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import gpu, memref
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.dialects.gpu.ops import SubgroupAddOp, SubgroupMaxOp, SubgroupMinOp, SubgroupShuffleXorOp
from rusty_ir.dialects.tiled import WORKGROUP_SPACE, KernelOp, ReduceOp
from rusty_ir.errors import RustyError
from rusty_ir.narrow import first_op
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.tiling.distribute_to_gpu_ids import linear_invocation
from rusty_ir.targets import TargetDescription

INT_MAX = 2**31 - 1

Combine = Callable[[IRBuilder, Sequence[SSAValue], Sequence[SSAValue]], list[SSAValue]]


def _combiner(kind: str) -> Combine:
    """How two partial results of ``kind`` (tuples of values) combine."""
    if kind == "add":
        return lambda b, x, y: [b.addf(p, q) for p, q in zip(x, y)]
    if kind == "max":
        return lambda b, x, y: [b.maximumf(p, q) for p, q in zip(x, y)]
    if kind == "min":
        return lambda b, x, y: [b.minimumf(p, q) for p, q in zip(x, y)]

    def argmax(b: IRBuilder, x: Sequence[SSAValue], y: Sequence[SSAValue]) -> list[SSAValue]:
        (va, ia), (vb, ib) = x, y
        take = b.ori(b.cmpf("ogt", vb, va), b.andi(b.cmpf("oeq", vb, va), b.cmpi("slt", ib, ia)))
        return [b.select(take, vb, va), b.select(take, ib, ia)]

    return argmax


def _scratch(kernel: KernelOp, elem: Attribute, size: int) -> SSAValue:
    """A workgroup-memory array at the top of the kernel body."""
    alloca = memref.AllocaOp.get(elem, shape=[size], memory_space=IntegerAttr(WORKGROUP_SPACE, i64))
    block = kernel.body.block
    block.insert_op_before(alloca, first_op(block))
    return alloca.memref


def _load(b: IRBuilder, buf: SSAValue, index: SSAValue) -> SSAValue:
    return b.value(memref.LoadOp.get(buf, [index]))


def _store(b: IRBuilder, value: SSAValue, buf: SSAValue, index: SSAValue) -> None:
    b.insert(memref.StoreOp.get(value, buf, [index]))


def _barrier(b: IRBuilder) -> None:
    b.insert(gpu.BarrierOp())


def _subgroup(b: IRBuilder, kind: str, values: Sequence[SSAValue]) -> list[SSAValue]:
    """Each value reduced over the invocation's subgroup."""
    if kind == "argmax":
        value, index = values
        best = b.value(SubgroupMaxOp(value))
        candidate = b.select(b.cmpf("oeq", value, best), index, b.i32(INT_MAX))
        return [best, b.value(SubgroupMinOp(candidate))]
    op = {"add": SubgroupAddOp, "max": SubgroupMaxOp, "min": SubgroupMinOp}[kind]
    return [b.value(op(v)) for v in values]


def _butterfly(b: IRBuilder, kind: str, values: Sequence[SSAValue], width: int) -> list[SSAValue]:
    """Each value combined over its group of ``width`` neighbouring lanes of a subgroup (a power of two below the
    subgroup size): ``log2(width)`` exchanges with the lane ``xor`` 1, 2, 4, ...; every lane ends with the result."""
    combine = _combiner(kind)
    out = list(values)
    mask = 1
    while mask < width:
        out = combine(b, out, [b.value(SubgroupShuffleXorOp(v, mask)) for v in out])
        mask *= 2
    return out


def _through_memory(b: IRBuilder, kernel: KernelOp, values: Sequence[SSAValue], slots: int, count: int, slot: SSAValue,
                    gather: Callable[[IRBuilder, int], SSAValue], combine: Combine, writer: SSAValue | None) -> list[SSAValue]:  # fmt: skip
    """Write ``values`` at ``slot`` of ``slots``-long scratch arrays (by ``writer`` invocations only, when given),
    barrier, then each invocation combines the ``count`` slots ``gather(b, j)`` (j = 0..count-1) in order;
    barrier (the scratch is reused)."""
    bufs = [_scratch(kernel, v.type, slots) for v in values]

    def write(ib: IRBuilder) -> list[SSAValue]:
        for v, buf in zip(values, bufs):
            _store(ib, v, buf, slot)
        return []

    if writer is None:
        write(b)
    else:
        b.if_then(writer, write)
    _barrier(b)
    total = [_load(b, buf, gather(b, 0)) for buf in bufs]
    for j in range(1, count):
        total = combine(b, total, [_load(b, buf, gather(b, j)) for buf in bufs])
    _barrier(b)
    return total


def _tree(b: IRBuilder, kernel: KernelOp, kind: str, values: Sequence[SSAValue], width: int, tid: SSAValue) -> list[SSAValue]:
    """Halving steps in workgroup memory with a barrier each; every invocation reads its group's first slot."""
    combine = _combiner(kind)
    bufs = [_scratch(kernel, v.type, kernel.threads) for v in values]
    for v, buf in zip(values, bufs):
        _store(b, v, buf, tid)
    _barrier(b)
    lane = b.remui(tid, b.index(width))
    stride = width // 2
    while stride >= 1:
        s = b.index(stride)

        def step(ib: IRBuilder, s: SSAValue = s) -> list[SSAValue]:
            other = ib.addi(tid, s)
            mine = [_load(ib, buf, tid) for buf in bufs]
            theirs = [_load(ib, buf, other) for buf in bufs]
            for v, buf in zip(combine(ib, mine, theirs), bufs):
                _store(ib, v, buf, tid)
            return []

        b.if_then(b.cmpi("ult", lane, s), step)
        _barrier(b)
        stride //= 2
    first = b.subi(tid, lane)
    out = [_load(b, buf, first) for buf in bufs]
    _barrier(b)
    return out


def lower_reduce(op: ReduceOp, kernel: KernelOp, target: TargetDescription, rewriter: PatternRewriter) -> None:
    """Replace one ``tiled.reduce`` (see the pass's docstring for the choice of lowering)."""
    b = IRBuilder(InsertPoint.before(op))
    kind, width, values = op.kind.data, op.width.value.data, list(op.values)
    tid = linear_invocation(b, kernel.workgroup)
    sg = target.subgroup_size
    if width == 1:
        results = values
    elif sg and width < sg and sg % width == 0 and kernel.threads % sg == 0 and kind != "argmax":
        results = _butterfly(b, kind, values, width)
    elif sg and width % sg == 0 and kernel.threads % sg == 0:
        results = _subgroup(b, kind, values)
        if width > sg:  # the group's subgroups meet in workgroup memory
            per = width // sg
            sub = b.divui(tid, b.index(sg))
            first = b.muli(b.divui(tid, b.index(width)), b.index(per))
            results = _through_memory(b, kernel, results, kernel.threads // sg, per, sub, lambda ib, j: ib.addi(first, ib.index(j)),
                                      _combiner(kind), b.cmpi("eq", b.remui(tid, b.index(sg)), b.index(0)))  # fmt: skip
    else:
        results = _tree(b, kernel, kind, values, width, tid)
    for old, new in zip(op.results, results, strict=True):
        rewriter.replace_all_uses_with(old, new)
    rewriter.erase(op)


class LowerReduce(RewritePattern):
    """A ``tiled.reduce`` becomes, for ``target`` (the pass's docstring): a butterfly of
    ``rgpu.subgroup_shuffle_xor``, ``rgpu.subgroup_add|max|min`` (their subgroups meeting in workgroup memory
    when the group spans several), or a tree of halving steps in workgroup memory; its scratch arrays are
    ``memref.alloca``s at the top of the kernel (so the order reductions are rewritten in is the order of the
    allocas, the last first). A reduce outside a ``tiled.kernel`` is a located error."""

    def __init__(self, target: TargetDescription) -> None:
        self.target = target

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReduceOp, rewriter: PatternRewriter, /) -> None:
        lower_reduce(op, _enclosing_kernel(op), self.target, rewriter)


REDUCTION_PATTERNS: tuple[type[LowerReduce], ...] = (LowerReduce,)
"""The pattern classes of ``reduction-to-subgroup``, each built with the target description."""


def reduction_patterns(target: TargetDescription) -> list[RewritePattern]:
    """Fresh instances of ``REDUCTION_PATTERNS`` for ``target``, for a ``GreedyRewritePatternApplier`` of another
    pass."""
    return [p(target) for p in REDUCTION_PATTERNS]


@dataclass(frozen=True)
class ReductionToSubgroupPass(ModulePass):
    """Lowers every ``tiled.reduce`` by the module's target (``#rgpu.target``).

    Matches: ``tiled.reduce`` in ``tiled.kernel`` bodies. Produces, for a group
    of ``width`` invocations:

    - ``width`` a power of two below the target's fixed ``subgroup_size`` (not
      argmax): ``log2(width)`` ``rgpu.subgroup_shuffle_xor`` exchanges with
      the neighbouring lanes (a butterfly; no workgroup memory, no barrier);
    - ``width`` a multiple of the target's fixed ``subgroup_size``: one
      ``rgpu.subgroup_add|max|min`` per value (argmax: the maximum, then the
      smallest index holding it), and when the group spans several subgroups
      their results meet in workgroup memory (one barrier pair);
    - otherwise (no subgroups, or narrower groups): a tree of halving steps in
      workgroup memory, one barrier per step.

    Scratch arrays (one per value, one slot per invocation) are ``memref.alloca``
    in memory space 3 at the top of the kernel. Pre-conditions: the module has
    a target (``attach-target``); the reductions are reached uniformly.
    """

    name = "reduction-to-subgroup"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not any(isinstance(r, ReduceOp) for r in op.walk()):
            return  # no target needed
        patterns = reduction_patterns(module_target(op))
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False), apply_recursively=False).rewrite_module(op)


def _enclosing_kernel(op: Operation) -> KernelOp:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, KernelOp):
        parent = parent.parent_op()
    if parent is None:
        raise RustyError("tiled.reduce outside a tiled.kernel", op)
    return parent


__all__ = ["REDUCTION_PATTERNS", "LowerReduce", "ReductionToSubgroupPass", "lower_reduce", "reduction_patterns"]
