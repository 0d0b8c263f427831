"""linalg-fuse-siblings: contractions that read the same activation become one multi-output contraction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import ArrayAttr, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from rusty_ir.errors import RustyError
from rusty_ir.narrow import element_type, parent_block
from rusty_ir.passes.dispatch.analysis import Kind, kind


def _sibling_key(op: linalg.GenericOp) -> tuple[object, ...] | None:
    """Contractions with equal keys read the same activation over the same iteration space."""
    if kind(op) is not Kind.CONTRACTION or len(op.inputs) != 2 or len(op.outputs) != 1:
        return None
    maps = op.indexing_maps.data
    return (op.inputs[0], maps[0], maps[1], maps[2], op.iterator_types, op.results[0].type)


def _hoist_before(value: SSAValue, anchor: Operation) -> None:
    """Move the (pure) op defining ``value``, and what it needs, before ``anchor`` if it is after it."""
    op = value.owner
    if not isinstance(op, Operation) or op.parent_block() is not anchor.parent_block():
        return
    if anchor.is_before_in_block(op) or op is anchor:
        for operand in op.operands:
            _hoist_before(operand, anchor)
        op.detach()
        parent_block(anchor).insert_op_before(op, anchor)


def _fuse(group: list[linalg.GenericOp]) -> None:
    """Replace ``group`` by one generic with an input and an output per member.

    It goes before the first use of any member's result; the weights and
    initial values of later members (pure ops) are moved up to it if needed.
    """
    first, last = group[0], group[-1]
    weights = [g.inputs[1] for g in group]
    inits = [g.outputs[0] for g in group]
    block = Block(arg_types=[element_type(first.inputs[0]), *(element_type(w) for w in weights), *(element_type(i) for i in inits)])
    x_arg, w_args, acc_args = block.args[0], block.args[1 : 1 + len(group)], block.args[1 + len(group) :]
    yielded: list[SSAValue] = []
    for g, w_arg, acc_arg in zip(group, w_args, acc_args):
        old = g.body.block
        mapping: dict[SSAValue, SSAValue] = {old.args[0]: x_arg, old.args[1]: w_arg, old.args[2]: acc_arg}
        for op in old.ops:
            if isinstance(op, linalg.YieldOp):
                yielded += [mapping[v] for v in op.arguments]
                continue
            clone = op.clone(value_mapper=mapping)
            block.add_op(clone)
            mapping.update(zip(op.results, clone.results))
    block.add_op(linalg.YieldOp(*yielded))
    maps = first.indexing_maps.data
    fused = linalg.GenericOp(
        [first.inputs[0], *weights],
        inits,
        Region(block),
        ArrayAttr([maps[0], *([maps[1]] * len(group)), *([maps[2]] * len(group))]),
        first.iterator_types,
        [g.results[0].type for g in group],
    )
    parent = last.parent_block()
    assert parent is not None
    users = [u.operation for g in group for u in g.results[0].uses]
    tops = [_top(u, parent) for u in users]
    anchor = min((t for t in tops if t is not None), key=lambda t: list(parent.ops).index(t), default=last.next_op)
    if anchor is None:
        raise RustyError("linalg-fuse-siblings: a contraction's result has no later use point", last)
    for v in fused.operands:
        _hoist_before(v, anchor)
    parent.insert_op_before(fused, anchor)
    for g, result in zip(group, fused.results):
        g.results[0].replace_all_uses_with(result)
        g.detach()
        g.erase()


def _top(op: Operation, block: Block) -> Operation | None:
    while op.parent_block() is not block:
        parent = op.parent_op()
        if parent is None:
            return None
        op = parent
    return op


def _blocks(module: ModuleOp) -> list[Block]:
    out: list[Block] = []
    for op in module.walk():
        if isinstance(op, func.FuncOp | scf.ForOp) and op.regions and op.regions[0].blocks:
            out.append(op.regions[0].block)
    return out


@dataclass(frozen=True)
class LinalgFuseSiblingsPass(ModulePass):
    """Merges contractions that read the same activation into one contraction with several outputs.

    Matches: two or more ``linalg.generic`` contractions in one block with the
    same activation operand, indexing maps, iterators and result type (the
    gate and up projections of a SwiGLU MLP; q, k and v when they have the same
    width). Produces: one generic with the activation, every weight and every
    accumulator, whose body is the members' bodies side by side. Its epilogue
    (SiLU(gate) * up) then reads both results in the same kernel.
    Pre-conditions: tensor-level IR.

    Not a pattern: it groups the contractions of a whole block by key before fusing any (no one op decides).
    """

    name = "linalg-fuse-siblings"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for block in _blocks(op):
            groups: dict[tuple[object, ...], list[linalg.GenericOp]] = defaultdict(list)
            for inner in block.ops:
                if isinstance(inner, linalg.GenericOp) and (key := _sibling_key(inner)) is not None:
                    groups[key].append(inner)
            for group in groups.values():
                if len(group) > 1:
                    _fuse(group)
