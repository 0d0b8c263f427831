"""form-dispatches: group tensor-level ops into ``dispatch.region``s, one per future kernel.

This is where fusion happens. The algorithm, per host block (a function body
or an ``scf.for`` body):

1. Roots: every op whose kind is in ``ROOT_KINDS`` (contractions, attention,
   cache appends, argmax) gets a region of its own.
2. Epilogues: an elementwise op joins the region of a root when it reads a
   value that region computes, every other computed value it reads is
   recomputable, and it has no region yet. Its own elementwise consumers may
   follow it.
3. Prologues: every region recomputes the recomputable producers it reads
   (elementwise ops, row reductions, dequantization, slices, inits), cloned,
   unless that producer already belongs to another region (then the value is
   read from that region's output buffer).
4. A recomputable op whose value is still needed outside any region that
   recomputes it (by the host, or by a region that reads it as an input)
   becomes the root of its own region; repeat from 3 until nothing changes.
5. The block is rebuilt in a topological order of regions and host ops
   (networkx), keeping the original order where possible and the order of
   memory effects (cache appends before attention, calls, returns).

Precondition: the only ``linalg`` ops are generics and fills (``lower-upstream-linalg`` rewrites upstream's
named ops first); any other is a located error, never left on the host outside every kernel.

A value read by a ``tensor.extract`` gather is never recomputed inside the
gathering region unless it is a dequantization (which can be evaluated at any
index); otherwise it is read from a buffer.

With ``fuse=false`` (a baseline for measuring fusion, ``rusty bench --fusion``)
step 1 roots a region at every elementwise op and row reduction too, step 2 is
skipped, and step 3 recomputes only what is never stored on its own:
initialisations, slices and ``rquant.dequantize`` (a quantized weight still never
becomes floats in memory). Every computed value then goes through a buffer.
The later stages lower such regions for elementwise ops, reductions and
contractions; a whole decoder layer does not lower yet, because the kernel of a
cache append that reads its keys from a buffer needs that buffer's size
(``memref.dim`` inside the kernel), which the WGSL emitter does not print.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
from xdsl.context import Context
from xdsl.dialects import arith, func, scf, tensor
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from rusty_ir.dialects.dispatch import RegionOp, YieldOp
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.dispatch.analysis import DUPLICABLE_KINDS, ROOT_KINDS, Kind, defined_within, kind, maps
from rusty_ir.passes.dispatch.lower_upstream_linalg import unhandled_linalg


@dataclass(eq=False)
class _Region:
    """A region being formed: its home ops (computed once, here) and recomputed producers."""

    index: int
    home: list[Operation] = field(default_factory=list)
    recomputed: set[Operation] = field(default_factory=set)

    @property
    def members(self) -> set[Operation]:
        return set(self.home) | self.recomputed

    def label(self) -> str:
        root = self.home[0]
        k = kind(root)
        return f"{k.value if k else root.name}_{self.index}"


def _external_values(op: Operation) -> list[SSAValue]:
    """Values that ``op`` or any op nested in it reads but that are defined outside ``op``."""
    seen: list[SSAValue] = []
    for inner in op.walk():
        for v in inner.operands:
            if not defined_within(v, op) and v not in seen:
                seen.append(v)
    return seen


def _gathered(op: Operation) -> set[SSAValue]:
    """Values that ``op`` reads at computed indices (``tensor.extract`` in a body)."""
    return {e.tensor for e in op.walk() if isinstance(e, tensor.ExtractOp)}


def _is_constant(v: SSAValue) -> bool:
    return isinstance(v.owner, arith.ConstantOp)


UNFUSED_ROOT_KINDS = ROOT_KINDS | {Kind.ELEMENTWISE, Kind.ROW_REDUCTION}
"""With ``fuse=false``: kinds that root a region of their own."""
UNFUSED_DUPLICABLE_KINDS = frozenset({Kind.DEQUANTIZE, Kind.SLICE, Kind.INIT})
"""With ``fuse=false``: kinds still recomputed inside the regions that read them."""


class _BlockFormer:
    def __init__(self, block: Block, fuse: bool = True) -> None:
        self.block = block
        self.fuse = fuse
        self.root_kinds = ROOT_KINDS if fuse else UNFUSED_ROOT_KINDS
        self.duplicable_kinds = DUPLICABLE_KINDS if fuse else UNFUSED_DUPLICABLE_KINDS
        self.ops = list(block.ops)
        self.order = {op: i for i, op in enumerate(self.ops)}
        self.home: dict[Operation, _Region] = {}
        self.regions: list[_Region] = []

    def producer(self, value: SSAValue) -> Operation | None:
        """The compute op of this block that defines ``value``, if any."""
        owner = value.owner
        if isinstance(owner, Operation) and owner.parent_block() is self.block and kind(owner) is not None:
            return owner
        return None

    def top_level(self, op: Operation) -> Operation | None:
        """The op of this block that is or contains ``op``."""
        while op.parent_block() is not self.block:
            parent = op.parent_op()
            if parent is None:
                return None
            op = parent
        return op

    def new_region(self, root: Operation) -> _Region:
        region = _Region(len(self.regions), [root])
        self.regions.append(region)
        self.home[root] = region
        return region

    def form(self) -> None:
        _forward_dims(self.block)
        self.ops = list(self.block.ops)
        self.order = {op: i for i, op in enumerate(self.ops)}
        for op in self.ops:
            if kind(op) in self.root_kinds:
                self.new_region(op)
        self.grow_epilogues()
        while True:
            for region in self.regions:
                self.grow_prologue(region)
            if not self.root_escaping_value():
                break
        self.rebuild()

    def grow_epilogues(self) -> None:
        """Step 2: elementwise ops join the region of the last root they read, in program order.

        An op E joins region R when it reads a value homed in R at the same
        index it writes (same indexing map, no gather), and everything else it
        needs is either another region's output (a buffer) or recomputable
        without R's values: a row reduction over R's output, for instance,
        cannot run inside R, whose rows are spread over many workgroups.
        Nothing joins with ``fuse=false``.
        """
        if not self.fuse:
            return
        for op in self.ops:
            if op in self.home or kind(op) is not Kind.ELEMENTWISE:
                continue
            homed = [p for v in _external_values(op) if (p := self.producer(v)) is not None and p in self.home]
            if not homed:
                continue
            region = self.home[max(homed, key=lambda p: self.order[self.home[p].home[0]])]
            if self.fits_epilogue(op, region):
                region.home.append(op)
                self.home[op] = region

    def fits_epilogue(self, op: Operation, region: _Region) -> bool:
        assert isinstance(op, linalg.GenericOp)
        out_map = maps(op)[-1]
        for value, amap in zip(op.inputs, maps(op)):
            p = self.producer(value)
            if p is None:
                continue
            if self.home.get(p) is region:
                if amap != out_map:
                    return False
            elif p not in self.home and self.reads_region(p, region):
                return False
        gathered = [self.producer(v) for v in _gathered(op)]
        return not any(p is not None and (self.home.get(p) is region or self.reads_region(p, region)) for p in gathered)

    def reads_region(self, op: Operation, region: _Region) -> bool:
        """Whether a recomputable op needs (transitively) a value homed in ``region``."""
        for v in _external_values(op):
            p = self.producer(v)
            if p is None:
                continue
            if self.home.get(p) is region or (p not in self.home and self.reads_region(p, region)):
                return True
        return False

    def grow_prologue(self, region: _Region) -> None:
        """Step 3: recompute the recomputable producers the region reads."""
        work = list(region.members)
        while work:
            op = work.pop()
            gathered = _gathered(op)
            for v in _external_values(op):
                p = self.producer(v)
                if p is None or p in region.members or p in self.home or kind(p) not in self.duplicable_kinds:
                    continue
                if v in gathered and kind(p) is not Kind.DEQUANTIZE:
                    continue
                region.recomputed.add(p)
                work.append(p)

    def root_escaping_value(self) -> bool:
        """Step 4: the last recomputable op whose value must live in a buffer roots a region.

        Going backwards lets a consumer become a root (and recompute its
        producers) before any of those producers is considered.
        """
        for op in reversed(self.ops):
            if kind(op) in (None, Kind.INIT) or op in self.home:
                continue
            for use in (u for r in op.results for u in r.uses):
                top = self.top_level(use.operation)
                holders = [r for r in self.regions if top in r.members]
                if not holders or any(op not in r.members for r in holders):
                    if kind(op) is Kind.DEQUANTIZE:
                        raise RustyError(
                            "form-dispatches: a dequantized weight would have to be stored as floats "
                            f"(it is read by '{top.name if top else '?'}', which cannot recompute it)",
                            op,
                        )
                    self.new_region(op)
                    self.grow_epilogues()
                    return True
        return False

    # --- step 5 -------------------------------------------------------------------------------
    def node(self, op: Operation) -> Operation | _Region:
        return self.home.get(op, op)

    def rebuild(self) -> None:
        recomputed = set().union(*(r.recomputed for r in self.regions)) - set(self.home)
        host = [op for op in self.ops if op not in self.home and op not in recomputed]
        stray = [op for op in host if kind(op) not in (None, Kind.INIT)]
        if stray:
            raise RustyError(f"form-dispatches: '{stray[0].name}' was left outside every region", stray[0])
        nodes: list[Operation | _Region] = [*host, *self.regions]
        key = {n: (min(self.order[o] for o in n.home) if isinstance(n, _Region) else self.order[n]) for n in nodes}
        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        for n in nodes:
            for op in sorted(n.members, key=self.order.__getitem__) if isinstance(n, _Region) else [n]:
                for v in _external_values(op):
                    p = self.producer(v) or (v.owner if isinstance(v.owner, Operation) and v.owner.parent_block() is self.block else None)
                    if p is None or (isinstance(n, _Region) and p in n.members):
                        continue
                    src = self.node(p)
                    if src is not n:
                        graph.add_edge(src, n)
        ordered_effects = sorted((n for n in nodes if _has_effects(n)), key=key.__getitem__)
        graph.add_edges_from(zip(ordered_effects, ordered_effects[1:]))
        try:
            order = list(nx.lexicographical_topological_sort(graph, key=key.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = " -> ".join(n.label() if isinstance(n, _Region) else n.name for n, _ in nx.find_cycle(graph))
            raise RustyError(f"form-dispatches: the chosen regions depend on each other in a cycle: {cycle}") from None
        terminator = self.block.last_op
        assert terminator is not None
        for n in order:
            if isinstance(n, _Region):
                self.emit_region(n, terminator)
            elif n is not terminator:
                n.detach()
                self.block.insert_op_before(n, terminator)
        for op in reversed(self.ops):
            if op in self.home or op in recomputed:
                op.detach()
                op.erase()

    def emit_region(self, region: _Region, before: Operation) -> None:
        members = sorted(region.members, key=self.order.__getitem__)
        member_set = set(members)
        captured: list[SSAValue] = []
        for op in members:
            for v in _external_values(op):
                owner = v.owner
                if (isinstance(owner, Operation) and owner in member_set) or _is_constant(v) or v in captured:
                    continue
                captured.append(v)
        outputs = [r for op in region.home for r in op.results if any(self.top_level(u.operation) not in member_set for u in r.uses)]
        body = Block(arg_types=[v.type for v in captured])
        mapping: dict[SSAValue, SSAValue] = dict(zip(captured, body.args))
        for op in members:
            for v in _external_values(op):
                if isinstance(v.owner, arith.ConstantOp) and v not in mapping:  # _is_constant
                    const = v.owner.clone()
                    body.add_op(const)
                    mapping[v] = const.results[0]
            clone = op.clone(value_mapper=mapping)
            body.add_op(clone)
            mapping.update(zip(op.results, clone.results))
        body.add_op(YieldOp([mapping[r] for r in outputs]))
        new = RegionOp(region.label(), captured, [r.type for r in outputs], body)
        self.block.insert_op_before(new, before)
        for old, res in zip(outputs, new.outputs):
            old.replace_uses_with_if(res, lambda use: self.top_level(use.operation) not in member_set)


def _dim_source(value: SSAValue, dim: int) -> SSAValue | None:
    """An index value equal to ``dim`` of ``value`` that does not need ``value`` itself."""
    op = value.owner
    if isinstance(op, linalg.GenericOp | linalg.FillOp):
        return _dim_source(op.outputs[op.results.index(value)], dim)
    if isinstance(op, AttentionOp):
        return _dim_source(op.query, dim)
    if isinstance(op, tensor.EmptyOp):
        ty = op.tensor.type
        assert isinstance(ty, TensorType)
        shape = ty.get_shape()
        if shape[dim] >= 0:
            return None
        return op.dynamic_sizes[sum(1 for d in shape[:dim] if d < 0)]
    return None


def _forward_dims(block: Block) -> None:
    """Replace ``tensor.dim`` of computed tensors by the sizes those tensors were created with.

    The host keeps only index arithmetic; a dim of a value that a region will
    recompute would otherwise force that value into a buffer.
    """
    for op in list(block.ops):
        if not isinstance(op, tensor.DimOp) or not isinstance(op.index.owner, arith.ConstantOp):
            continue
        index_attr = op.index.owner.value
        assert isinstance(index_attr, IntegerAttr)
        source = _dim_source(op.source, index_attr.value.data)
        if source is not None:
            op.result.replace_all_uses_with(source)
            op.detach()
            op.erase()


def _has_effects(node: Operation | _Region) -> bool:
    if isinstance(node, _Region):
        return any(kind(op) in (Kind.CACHE_APPEND, Kind.ATTENTION) for op in node.home)
    return isinstance(node, func.CallOp | func.ReturnOp | scf.ForOp | scf.YieldOp)


@dataclass(frozen=True)
class FormDispatchesPass(ModulePass):
    """Groups tensor-level ops into dispatch.region ops: one region per kernel, with fusion.

    Matches: the bodies of host functions and of ``scf.for`` loops in them.
    Produces: ``dispatch.region`` ops (isolated from above) holding a root
    (contraction, attention, cache append, argmax, or an op whose value must be
    materialized) with its epilogue and its recomputed producers; host ops stay
    outside. ``rquant.dequantize`` is always inside the region that consumes it,
    so no float copy of a quantized weight is ever materialized.
    Pre-conditions: tensor-level IR (after ``convert-transformer-to-tensor``), no tensor with a
    dimension of size 0 (an error at the op).
    """

    name = "form-dispatches"

    fuse: bool = True
    """true (default): fuse as described above. false: one region per compute op (every
    elementwise op and row reduction roots its own), no epilogues or recomputed
    producers except inits, slices and dequantization; the unfused baseline that
    ``rusty bench --fusion`` measures fusion against."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _refuse_empty_tensors(op)
        left = unhandled_linalg(op)
        if left is not None:  # a named op would stay on the host, outside every kernel
            raise RustyError(f"form-dispatches: '{left.name}' is not a linalg.generic or linalg.fill; run "
                             "lower-upstream-linalg first (the default pipeline does)", left)  # fmt: skip
        blocks = [b for f in op.ops if isinstance(f, func.FuncOp) and not f.is_declaration for b in _host_blocks(f.body.block)]
        for block in blocks:
            _BlockFormer(block, self.fuse).form()


def _refuse_empty_tensors(module: ModuleOp) -> None:
    """RustyError at the op for a tensor with a dimension of size 0: no kernel is generated for an empty
    iteration space (a contraction over 0 elements has no chunks to split)."""
    for inner in module.walk():
        if kind(inner) in (None, Kind.INIT):  # host ops and destinations: the computing op is named instead
            continue
        for value in (*inner.operands, *inner.results):
            if isinstance(value.type, TensorType) and 0 in value.type.get_shape():
                raise RustyError(f"form-dispatches: {value.type} has a dimension of size 0; there is no kernel for an empty tensor", inner)


def _host_blocks(block: Block) -> list[Block]:
    out = [block]
    for op in block.ops:
        if isinstance(op, scf.ForOp):
            out += _host_blocks(op.body.block)
    return out
