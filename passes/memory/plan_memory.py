"""plan-memory: host buffers whose live ranges do not overlap share a slot (interval-graph colouring)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from xdsl.context import Context
from xdsl.dialects import func, memref, scf
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp, i64
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.traits import IsolatedFromAbove

SLOT_ATTR = "rusty.slot"
"""The attribute ``plan-memory`` sets on each host ``memref.alloc``: the buffer slot it lives in."""

SUMMARY_ATTR = "rusty.memory"
"""The module attribute summarising the plan: ``{allocs = A, slots = N}``."""


def _host_ops(f: func.FuncOp) -> list[Operation]:
    """The ops of a host function in program order, not entering kernels (isolated ops other than ``f``)."""
    ops: list[Operation] = []

    def visit(op: Operation) -> None:
        ops.append(op)
        if op is not f and op.has_trait(IsolatedFromAbove):
            return
        for region in op.regions:
            for block in region.blocks:
                for inner in block.ops:
                    visit(inner)

    visit(f)
    return ops


@dataclass
class _Liveness:
    """Live intervals of the allocs of one host function, in positions of ``_host_ops`` order.

    1. Number the ops; an op with regions spans its whole subtree ``[first, last]``.
    2. Aliases: a ``memref.cast`` result, and the iter block argument and result
       of an ``scf.for``, may hold any buffer that flows into them (inits and
       yielded values), found by a fixpoint.
    3. An alloc lives from its position to the end of every use of every value
       that may hold it, where a use counts at its ancestor in the deepest block
       enclosing both the alloc and the use (a buffer used in a loop body or a
       kernel region is live for the whole loop or region; a buffer allocated
       inside a loop body is live from its loop on when it escapes the loop).
    """

    f: func.FuncOp

    def __post_init__(self) -> None:
        self.ops = _host_ops(self.f)
        self.first = {op: i for i, op in enumerate(self.ops)}
        self.last: dict[Operation, int] = {}
        for op in reversed(self.ops):
            inner = [self.last[o] for r in op.regions for b in r.blocks for o in b.ops if o in self.last]
            self.last[op] = max([self.first[op], *inner])
        self.allocs = [op for op in self.ops if isinstance(op, memref.AllocOp) and op is not self.f]
        self.holds = self._aliases()

    def _aliases(self) -> dict[SSAValue, set[memref.AllocOp]]:
        holds: dict[SSAValue, set[memref.AllocOp]] = {a.memref: {a} for a in self.allocs}
        flows: list[tuple[SSAValue, SSAValue]] = []  # (source, target): target may hold what source holds
        for op in self.ops:
            if isinstance(op, memref.CastOp):
                flows.append((op.source, op.dest))
            elif isinstance(op, scf.ForOp):
                body = op.body.block
                yielded = body.last_op
                for i, init in enumerate(op.iter_args):
                    carried, result = body.args[1 + i], op.res[i]
                    flows += [(init, carried), (carried, result)]
                    if isinstance(yielded, scf.YieldOp):
                        flows += [(yielded.arguments[i], carried), (yielded.arguments[i], result)]
        changed = True
        while changed:
            changed = False
            for src, dst in flows:
                new = holds.get(src, set()) - holds.get(dst, set())
                if new:
                    holds.setdefault(dst, set()).update(new)
                    changed = True
        return holds

    def interval(self, alloc: memref.AllocOp) -> tuple[int, int]:
        start = end = self.first[alloc]
        for value, held in self.holds.items():
            if alloc not in held:
                continue
            for use in value.uses:
                if use.operation not in self.first:
                    continue  # a use inside a kernel body counts at the kernel op (an ancestor is in self.ops)
                a_anchor, u_anchor = self._anchors(alloc, use.operation)
                start = min(start, self.first[a_anchor])
                end = max(end, self.last[u_anchor])
            if isinstance(value, BlockArgument) and value.block.parent_op() in self.first:
                owner = value.block.parent_op()
                assert owner is not None
                if owner is not self.f:  # a loop's iter arg holds the buffer for the whole loop
                    a_anchor, u_anchor = self._anchors(alloc, owner)
                    start, end = min(start, self.first[a_anchor]), max(end, self.last[u_anchor])
        return start, end

    @staticmethod
    def _anchors(a: Operation, b: Operation) -> tuple[Operation, Operation]:
        """The ancestors of ``a`` and ``b`` (or themselves) in the deepest block enclosing both."""
        blocks_of_a: list[Block] = []
        op: Operation | None = a
        while op is not None and (block := op.parent_block()) is not None:
            blocks_of_a.append(block)
            op = op.parent_op()
        chain_b: dict[Block, Operation] = {}
        op = b
        while op is not None and (block := op.parent_block()) is not None:
            chain_b.setdefault(block, op)
            op = op.parent_op()
        for block in blocks_of_a:
            if block in chain_b:
                anchor_a: Operation = a
                while anchor_a.parent_block() is not block:
                    parent = anchor_a.parent_op()
                    assert parent is not None  # block encloses a: the walk up from a reaches it
                    anchor_a = parent
                return anchor_a, chain_b[block]
        raise AssertionError("ops of one function share its body block")


def colour(intervals: dict[memref.AllocOp, tuple[int, int]]) -> dict[memref.AllocOp, int]:
    """Slots for allocs so that overlapping intervals never share one, preferring a slot of the same type.

    The interference graph (networkx) of intervals is coloured greedily in order
    of interval start: for interval graphs that order uses the fewest slots (a
    new slot opens only when every slot holds a buffer live at this start), and
    any free slot keeps that bound, so a free slot last used by an alloc of the
    same type is taken first.
    """
    graph: nx.Graph[memref.AllocOp] = nx.Graph()
    graph.add_nodes_from(intervals)
    items = sorted(intervals.items(), key=lambda kv: kv[1])
    for i, (a, (_, a_end)) in enumerate(items):
        for b, (b_start, _) in items[i + 1 :]:
            if b_start > a_end:
                break
            graph.add_edge(a, b)
    slots: dict[memref.AllocOp, int] = {}
    slot_type: list[Attribute] = []
    for alloc, _ in items:
        taken = {slots[n] for n in graph.neighbors(alloc) if n in slots}
        free = [s for s in range(len(slot_type)) if s not in taken]
        same = [s for s in free if slot_type[s] == alloc.memref.type]
        if same or free:
            slots[alloc] = (same or free)[0]
        else:
            slots[alloc] = len(slot_type)
            slot_type.append(alloc.memref.type)
        slot_type[slots[alloc]] = alloc.memref.type
    return slots


@dataclass(frozen=True)
class PlanMemoryPass(ModulePass):
    """Gives every host ``memref.alloc`` a ``rusty.slot``; allocs live at the same time never share one.

    Matches: every ``memref.alloc`` of every top-level ``func.func`` (host
    functions), outside kernel bodies (``dispatch.region``/``tiled.kernel``
    bodies and other isolated ops are not entered; their operands are uses).

    Produces: ``rusty.slot = N : i64`` on each of those allocs, and the module
    attribute ``rusty.memory = {allocs = A : i64, slots = N : i64}``::

        %a = memref.alloc(%s) : memref<?x8xf32>             // %a last used by "k1"
        %b = memref.alloc(%s) : memref<?x8xf32>
        %c = memref.alloc(%s) : memref<?x8xf32>             // allocated after "k1"
        // becomes
        %a = memref.alloc(%s) {rusty.slot = 0 : i64} : memref<?x8xf32>
        %b = memref.alloc(%s) {rusty.slot = 1 : i64} : memref<?x8xf32>
        %c = memref.alloc(%s) {rusty.slot = 0 : i64} : memref<?x8xf32>

    A live range runs from the alloc to its last use in program order; a use
    nested in an op (a loop body, a kernel's operands) counts for that whole op,
    so a buffer used in a loop or passed to a call is live for all of it; values
    that may hold the buffer (loop iter args and results, ``memref.cast``) are
    uses too. Slots are numbered per module. A function that is called gets a
    range of its own (a callee runs while its caller's buffers are live); the
    functions that nothing calls, the entries, all start at the next slot and
    share it: one entry runs at a time (a step of the model runtime), and each
    step is ordered after the one before on the device's queue. The runtime
    sizes a slot by its largest alloc, so a slot may hold several shapes; the
    colouring prefers reusing a slot of the same type.

    Pre-conditions: host IR after ``rusty-bufferize`` (or at the tiled level):
    buffers are only created by ``memref.alloc`` and only escape a function as
    arguments of calls. Running the pass again recomputes every slot.

    Not a pattern: slots come from the live ranges of all of a function's allocs (an analysis, no op rewritten).
    """

    name = "plan-memory"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        functions = [f for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration]
        called = {c.callee.root_reference.data for f in functions for c in f.walk() if isinstance(c, func.CallOp)}
        next_slot = total_allocs = 0
        entries = []
        for f in functions:
            liveness = _Liveness(f)
            slots = colour({a: liveness.interval(a) for a in liveness.allocs})
            total_allocs += len(slots)
            if f.sym_name.data not in called:
                entries.append(slots)
                continue
            for alloc, slot in slots.items():
                alloc.attributes[SLOT_ATTR] = IntegerAttr(next_slot + slot, i64)
            next_slot += len(set(slots.values()))
        for slots in entries:  # after every callee's range, one range for them all
            for alloc, slot in slots.items():
                alloc.attributes[SLOT_ATTR] = IntegerAttr(next_slot + slot, i64)
        next_slot += max((len(set(slots.values())) for slots in entries), default=0)
        op.attributes[SUMMARY_ATTR] = DictionaryAttr({"allocs": IntegerAttr(total_allocs, i64), "slots": IntegerAttr(next_slot, i64)})


__all__ = ["SLOT_ATTR", "SUMMARY_ATTR", "PlanMemoryPass", "colour"]
