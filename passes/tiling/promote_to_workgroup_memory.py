"""promote-to-workgroup-memory: ``tiled.promote`` becomes a workgroup buffer, a cooperative copy and barriers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, gpu, memref, scf
from xdsl.dialects.builtin import Float16Type, IntegerAttr, MemRefType, ModuleOp, i64
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.tiled import KernelOp, PromoteOp, YieldOp
from rusty_ir.errors import RustyError
from rusty_ir.narrow import first_op, terminator
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.tiling.distribute_to_gpu_ids import linear_invocation

Point = tuple[list[SSAValue], SSAValue, SSAValue | None]
"""(buffer indices, value, guard or None) of one element an invocation stores."""


def _enclosing(op: Operation, cls: type[Operation]) -> Operation | None:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, cls | KernelOp):
        parent = parent.parent_op()
    return parent if isinstance(parent, cls) else None


def _clone_payload(b: IRBuilder, promote: PromoteOp, unit: Sequence[SSAValue], extra: dict[SSAValue, SSAValue]) -> list[SSAValue]:
    """The promote's body evaluated for one unit (values in ``extra`` replaced), inserted at ``b``: its values."""
    block = promote.body.block
    mapping: dict[SSAValue, SSAValue] = {**extra, **dict(zip(block.args, unit))}
    for op in block.ops:
        if isinstance(op, YieldOp):
            return [mapping.get(v, v) for v in op.values]
        clone = op.clone(value_mapper=mapping)
        b.insert(clone)
        mapping.update(zip(op.results, clone.results))
    raise AssertionError("a promote body ends with tiled.yield")


def _points(b: IRBuilder, promote: PromoteOp, threads: int, tid: SSAValue, extra: dict[SSAValue, SSAValue]) -> list[Point]:
    """What this invocation stores: every unit dealt to it (by linear index, in ``deal`` order), its values."""
    tile, perm, width, deal = promote.tile, promote.perm, promote.unit_size, promote.deal_order
    units = [*tile[:-1], tile[-1] // width]
    total = 1
    for u in units:
        total *= u
    elem = promote.result.type.element_type
    out: list[Point] = []
    for k in range(-(-total // threads)):
        linear = b.addi(tid, b.index(k * threads)) if k else tid
        guard = None
        if (k + 1) * threads > total:
            guard = b.cmpi("ult", linear, b.index(total))
            linear = b.minui(linear, b.index(total - 1))
        coords: list[SSAValue] = [linear] * len(units)
        rest = linear
        for dim in reversed(deal[1:]):
            coords[dim] = b.remui(rest, b.index(units[dim]))
            rest = b.divui(rest, b.index(units[dim]))
        coords[deal[0]] = rest
        values = _clone_payload(b, promote, coords, extra)
        base = b.muli(coords[-1], b.index(width)) if width > 1 else coords[-1]
        for c, value in enumerate(values):
            point = [*coords[:-1], b.addi(base, b.index(c)) if c else base]
            if isinstance(elem, Float16Type) and not isinstance(value.type, Float16Type):
                value = b.value(arith.TruncFOp(value, elem))
            out.append(([point[p] for p in perm], value, guard))
    return out


def _store(b: IRBuilder, buf: SSAValue, points: Sequence[Point]) -> None:
    for indices, value, guard in points:
        if guard is None:
            b.insert(memref.StoreOp.get(value, buf, indices))
        else:

            def store(ib: IRBuilder, v: SSAValue = value, i: Sequence[SSAValue] = indices) -> Sequence[SSAValue]:
                ib.insert(memref.StoreOp.get(v, buf, i))
                return []

            b.if_then(guard, store)


def _barrier(b: IRBuilder) -> None:
    b.insert(gpu.BarrierOp())


Shared = dict[MemRefType, list[tuple[SSAValue, list[Block]]]]
"""Workgroup buffers by type, with the blocks of the promotes using each."""


def _path(block: Block) -> dict[Operation, Region]:
    """The ops enclosing ``block``, each with its region that holds ``block``."""
    out: dict[Operation, Region] = {}
    while (region := block.parent) is not None and (op := region.parent) is not None:
        out[op] = region
        if (up := op.parent) is None:
            break
        block = up
    return out


def _exclusive(a: Block, b: Block) -> bool:
    """Whether ``a`` and ``b`` sit in different branches of one ``scf.if`` (never both run): their innermost
    common enclosing op is an ``scf.if`` holding them in different regions."""
    path = _path(a)
    for op, region in _path(b).items():
        if op in path:
            return isinstance(op, scf.IfOp) and path[op] is not region
    return False


def _alloca(kernel: KernelOp, promote: PromoteOp, shared: Shared) -> SSAValue:
    """The promote's workgroup buffer: one already made for promotes that never run with this one (the branches
    of the contractions of one region, ``by_segment``), else a new ``memref.alloca`` at the top of the kernel.
    A promote is remembered by its block, which outlives its lowering."""
    ty = promote.result.type
    assert isinstance(ty, MemRefType)
    here = promote.parent
    assert here is not None
    for buf, users in shared.setdefault(ty, []):
        if all(_exclusive(here, other) for other in users):
            users.append(here)
            return buf
    alloca = memref.AllocaOp.get(ty.element_type, shape=ty.get_shape(), memory_space=IntegerAttr(3, i64))
    if promote.result.name_hint:
        alloca.memref.name_hint = promote.result.name_hint
    block = kernel.body.block
    block.insert_op_before(alloca, first_op(block))
    shared[ty].append((alloca.memref, [here]))
    return alloca.memref


def _lower_direct(promote: PromoteOp, kernel: KernelOp, shared: Shared) -> None:
    """depth 1: [barrier when in a loop] every invocation stores its points, barrier."""
    buf = _alloca(kernel, promote, shared)
    b = IRBuilder(InsertPoint.before(promote))
    if _enclosing(promote, scf.ForOp) is not None:
        _barrier(b)  # the previous iteration's readers are done with the buffer
    tid = linear_invocation(b, kernel.workgroup)
    _store(b, buf, _points(b, promote, kernel.threads, tid, {}))
    _barrier(b)
    Rewriter.replace_op(promote, [], [buf])


def _lower_pipelined(promotes: Sequence[PromoteOp], loop: scf.ForOp, kernel: KernelOp, shared: Shared) -> None:
    """depth 2, for all pipelined promotes of one loop: the first tiles are stored before the loop; each iteration
    loads the next tiles' values where the promote was, and stores them after its last use of the buffers."""
    iv = loop.body.block.args[0]
    for promote in promotes:
        for op in promote.body.walk():
            for operand in op.operands:
                owner = operand.owner
                if isinstance(owner, Operation) and owner.parent_block() is loop.body.block:
                    raise RustyError("tiled.promote with depth 2 may read only the loop's iv and values from outside the loop", promote)
    bufs = [_alloca(kernel, p, shared) for p in promotes]
    pre = IRBuilder(InsertPoint.before(loop))
    tid = linear_invocation(pre, kernel.workgroup)
    for promote, buf in zip(promotes, bufs):
        _store(pre, buf, _points(pre, promote, kernel.threads, tid, {iv: loop.lb}))
    _barrier(pre)
    held: list[list[Point]] = []
    for promote, buf in zip(promotes, bufs):
        b = IRBuilder(InsertPoint.before(promote))
        after = b.addi(iv, loop.step)
        nxt = b.select(b.cmpi("ult", after, loop.ub), after, iv)  # the last iteration reloads its own tile
        held.append(_points(b, promote, kernel.threads, linear_invocation(b, kernel.workgroup), {iv: nxt}))
        Rewriter.replace_op(promote, [], [buf])
    end = IRBuilder(InsertPoint.before(terminator(loop.body.block)))  # before scf.yield
    _barrier(end)
    for buf, points in zip(bufs, held):
        _store(end, buf, points)
    _barrier(end)


def _dedupe_barriers(kernel: KernelOp) -> None:
    """Two barriers with nothing between them are one."""
    for block in [blk for op in kernel.body.walk() for r in op.regions for blk in r.blocks]:
        prev: Operation | None = None
        for op in list(block.ops):
            if isinstance(op, gpu.BarrierOp) and isinstance(prev, gpu.BarrierOp):
                Rewriter.erase_op(op)
                continue
            prev = op


def promote_kernel(kernel: KernelOp) -> None:
    promotes = [op for op in kernel.body.walk() if isinstance(op, PromoteOp)]
    pipelined: dict[scf.ForOp, list[PromoteOp]] = {}
    shared: Shared = {}
    for p in promotes:
        loop = p.parent_op()
        if p.depth.value.data == 2 and isinstance(loop, scf.ForOp):
            pipelined.setdefault(loop, []).append(p)
        else:
            _lower_direct(p, kernel, shared)
    for loop, group in pipelined.items():
        _lower_pipelined(group, loop, kernel, shared)
    _dedupe_barriers(kernel)


@dataclass(frozen=True)
class PromoteToWorkgroupMemoryPass(ModulePass):
    """Lowers every ``tiled.promote`` into a ``memref.alloca`` in workgroup memory and a cooperative copy.

    Matches: ``tiled.promote`` in ``tiled.kernel`` bodies. Produces: the buffer
    (``memref.alloca``, memory space 3, at the top of the kernel); each
    invocation evaluates the promote's body at its share of the tile's points
    (units of ``unit`` points along the last dim, dealt by linear invocation
    index in ``deal`` order); promotes in different branches of one ``scf.if``
    (the contractions of a merged region) share a buffer and stores the values, permuted, converted to
    the buffer's element type; barriers around the stores. With ``depth = 2``
    in an ``scf.for`` (the promote directly in its body, reading only the
    loop's iv and values from outside the loop) the copy is software-pipelined:
    the first tile is stored before the loop, each iteration computes the next
    tile's values where the promote was (their loads in flight while the
    iteration works) and stores them after a barrier at the end of the
    iteration. Barriers that end up adjacent are merged.
    Pre-conditions: promotes are reached by every invocation (collective).

    Not a pattern: a kernel's promotes are lowered together (shared buffers, one pipeline per loop, barriers merged).
    """

    name = "promote-to-workgroup-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for kernel in [k for k in op.walk() if isinstance(k, KernelOp)]:
            promote_kernel(kernel)
