"""What the two contraction schedules (gemv.py, gemm.py) share: the region's contraction, its activation
payload, its prologue reductions and its epilogue.

A contraction region computes ``out[b, n] = sum_k x'[b, k] * W[n, k]`` for one
or more weights ``W`` sharing ``x'`` (gate/up siblings), where ``x'`` is the
activation with its fused producers applied (``lhs``), possibly after row
reductions of the activation (the RMSNorm prologue, ``prologue``), and the
results flow through fused consumers into the region's outputs (``epilogue``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import FloatAttr
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.ir.affine import AffineMap

from rusty_ir.dialects.linalg_ext import CacheAppendOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import INDEX, IRBuilder
from rusty_ir.passes.codegen.common import outputs
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.kv_cache import cache_row, store_cache
from rusty_ir.passes.codegen.materialize import Materializer, WeightRef, apply_map, static_shape, uniform
from rusty_ir.passes.dispatch.analysis import Kind, is_mac, kind, maps, reduction_dims


def _computed_from(value: SSAValue, sources: set[SSAValue], inputs: Callable[[Operation], Sequence[SSAValue]]) -> bool:
    """Whether ``value`` is computed from any of ``sources``, walking back through ``inputs(op)`` of each
    defining op (an empty list ends the walk there)."""
    seen: set[SSAValue] = set()
    todo = [value]
    while todo:
        v = todo.pop()
        if v in sources:
            return True
        if v in seen:
            continue
        seen.add(v)
        if isinstance(v.owner, Operation):
            todo.extend(inputs(v.owner))
    return False


class Template:
    """Scalar IR built once in a detached block over placeholder arguments, then cloned where it is used.

    ``values`` are the block's yielded values; ``emit(b, args, which)`` clones
    only the ops value ``which`` needs, with the placeholders replaced."""

    def __init__(self, arg_count: int, build: Callable[[IRBuilder, Sequence[SSAValue]], Sequence[SSAValue]]) -> None:
        self.block = Block(arg_types=[INDEX] * arg_count)
        self.values = list(build(IRBuilder(self.block), self.block.args))

    def depends_on(self, value: SSAValue, args: set[SSAValue]) -> bool:
        """Whether ``value`` (of this template) is computed from any of ``args``."""
        return _computed_from(value, args, lambda op: op.operands if op.parent_block() is self.block else ())

    def emit(self, b: IRBuilder, args: Sequence[SSAValue], value: SSAValue) -> SSAValue:
        """``value`` computed at ``b`` with the block's arguments bound to ``args``."""
        mapping: dict[SSAValue, SSAValue] = dict(zip(self.block.args, args))
        needed: set[Operation] = set()
        todo = [value]
        while todo:
            v = todo.pop()
            owner = v.owner
            if isinstance(owner, Operation) and owner.parent_block() is self.block and owner not in needed:
                needed.add(owner)
                todo.extend(owner.operands)
                for region in owner.regions:
                    for op in region.walk():
                        todo.extend(o for o in op.operands)
        for op in self.block.ops:
            if op in needed:
                clone = op.clone(value_mapper=mapping)
                b.insert(clone)
                mapping.update(zip(op.results, clone.results))
        return mapping.get(value, value)


def _factors(value: SSAValue) -> list[SSAValue]:
    owner = value.owner
    if isinstance(owner, arith.MulfOp):
        return _factors(owner.lhs) + _factors(owner.rhs)
    return [value]


@dataclass
class Contraction:
    """One contraction region, analysed."""

    kernel: Kernel
    mat: Materializer
    ops: list[Operation]
    root: linalg.GenericOp
    weights: list[SSAValue]
    refs: list[WeightRef | None]
    prologue: list[linalg.GenericOp]
    n_total: int
    k_total: int
    batched: bool
    lhs: Template
    """Over (token, k, prologue values...): yields [lhs] or, factored, [core, row scale]."""
    factored: bool
    """lhs(t, k) = core(t, k) * scale(prologue values of t): the scale can be applied after the sum over k."""
    mac: bool
    """The body is ``acc + x * w`` for every weight, so a block's scale can be applied once per block."""

    @property
    def n_out(self) -> int:
        return len(self.root.outputs)

    @property
    def zero_init(self) -> bool:
        """Whether every output's accumulator starts at a literal 0 (a zero fill): nothing to add after the sum."""
        for out in self.root.outputs:
            fill = out.owner
            if not isinstance(fill, linalg.FillOp):
                return False
            cst = fill.inputs[0].owner
            if not (isinstance(cst, arith.ConstantOp) and isinstance(cst.value, FloatAttr) and cst.value.value.data == 0.0):
                return False
        return True

    @property
    def block(self) -> int:
        """K values per weight step: the weights' common decoding block (4 for plain f32 buffers)."""
        blocks = {r.block if r is not None else 4 for r in self.refs}
        return blocks.pop() if len(blocks) == 1 else 4

    def batch_size(self, b: IRBuilder, args: dict[SSAValue, SSAValue] | None = None) -> SSAValue:
        """The tokens (batch extent), at ``b`` (kernel body by default; ``args`` for the grid)."""
        if not self.batched:
            return b.index(1)
        return self.mat.dim(b, self.root.results[0], 0, args)

    def lhs_value(self, b: IRBuilder, token: SSAValue, k: SSAValue, prologue: Sequence[SSAValue]) -> SSAValue:
        """The activation at (token, k), or when factored its core (``row_scale`` is applied after the sum)."""
        return self.lhs.emit(b, [token, k, *prologue], self.lhs.values[0])

    def full_lhs_value(self, b: IRBuilder, token: SSAValue, k: SSAValue, prologue: Sequence[SSAValue]) -> SSAValue:
        """The activation at (token, k), the row scale included."""
        value = self.lhs_value(b, token, k, prologue)
        scale = self.row_scale(b, token, prologue)
        return value if scale is None else b.mulf(value, scale)

    def row_scale(self, b: IRBuilder, token: SSAValue, prologue: Sequence[SSAValue]) -> SSAValue | None:
        """The factored row scale of ``token`` (None when not factored)."""
        if not self.factored:
            return None
        return self.lhs.emit(b, [token, b.index(0), *prologue], self.lhs.values[1])

    @staticmethod
    def _rows(red: linalg.GenericOp, b: IRBuilder, token: SSAValue) -> list[SSAValue]:
        """The reduction's row index for ``token`` (the one row of a ``[1]`` reduction, as the logits read)."""
        rank = len(static_shape(red.results[0]))
        return [token] if rank == 1 and static_shape(red.results[0])[0] != 1 else [b.index(0)] * rank

    def reduction_element(self, b: IRBuilder, red: linalg.GenericOp, token: SSAValue, k: SSAValue, acc: SSAValue) -> SSAValue:
        """One step of a prologue reduction at (token, k): the new accumulator."""
        return self.mat.generic_at(b, red, [*self._rows(red, b, token), k], [acc])[0]

    def reduction_init(self, b: IRBuilder, red: linalg.GenericOp, token: SSAValue) -> SSAValue:
        return self.mat.element(b, red.outputs[0], self._rows(red, b, token))

    def init(self, b: IRBuilder, i: int, token: SSAValue, n: SSAValue) -> SSAValue:
        """The initial accumulator of output ``i`` (its fill value) at (token, n)."""
        return self.mat.element(b, self.root.outputs[i], [token, n] if self.batched else [n])

    def _mine(self, value: SSAValue) -> bool:
        """Whether a region value is computed from this contraction's results (a region may hold several)."""
        return _computed_from(value, set(self.root.results),
                              lambda op: [o for inner in op.walk() for o in inner.operands] if op in self.ops else ())  # fmt: skip

    def store_outputs(
        self, b: IRBuilder, token: SSAValue, n: SSAValue, known: Callable[[int, IRBuilder, Sequence[SSAValue]], SSAValue]
    ) -> None:
        """Materialize and store this contraction's region outputs at (token, n), and append its keys and values
        to the KV cache where the region does; ``known(i, b, idx)`` gives result ``i``'s value at index ``idx``
        (the epilogue may read a neighbour row, as RoPE reads its partner)."""
        for i, result in enumerate(self.root.results):
            self.mat.known[result] = partial(known, i)
        idx = [token, n] if self.batched else [n]
        for value, buf in outputs(self.kernel, self.ops):
            if self._mine(value):
                b.insert(memref.StoreOp.get(self.mat.element(b, value, idx), buf, idx))
        for op in self.ops:
            if isinstance(op, CacheAppendOp) and self._mine(op.keys):
                table = None if op.block_table is None else self.mat.args[op.block_table]
                row = cache_row(b, op, table, b.addi(self.mat.args[op.pos], token))
                for src, cache in ((op.keys, op.k_cache), (op.values, op.v_cache)):
                    store_cache(b, self.mat.element(b, src, idx), self.mat.args[cache], row, n)


def by_segment(b: IRBuilder, tile: SSAValue, tiles: Sequence[int], body: Callable[[IRBuilder, int, SSAValue], None]) -> None:
    """Run ``body(builder, i, local tile)`` for the segment (contraction ``i`` of a region holding several) that owns
    workgroup tile ``tile`` of their concatenated ranges (``tiles[i]`` tiles each): a chain of ``scf.if`` on
    ``tile``, which is uniform over the workgroup, so collective ops may sit inside."""
    if len(tiles) == 1:
        body(b, 0, tile)
        return

    def segment(sb: IRBuilder, i: int, local: SSAValue) -> list[SSAValue]:
        body(sb, i, local)
        return []  # the scf.if yields nothing

    def chain(cb: IRBuilder, i: int, start: int) -> list[SSAValue]:
        local = cb.subi(tile, cb.index(start)) if start else tile
        if i == len(tiles) - 1:
            return segment(cb, i, local)
        cb.if_then(cb.cmpi("ult", tile, cb.index(start + tiles[i])), lambda tb: segment(tb, i, local),
                   lambda eb: chain(eb, i + 1, start + tiles[i]))  # fmt: skip
        return []

    chain(b, 0, 0)


def analyse_all(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[Contraction]:
    """Every contraction of a region, in order (``merge-dispatches`` may put several in one)."""
    roots = [op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION]
    return [analyse(kernel, mat, ops, root) for root in roots]


def analyse(kernel: Kernel, mat: Materializer, ops: Sequence[Operation], root: linalg.GenericOp | None = None) -> Contraction:
    """The (first, or ``root``) contraction of a region (raises RustyError for shapes the schedules do not handle)."""
    if root is None:
        root = next(op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION)
    out_shape = static_shape(root.results[0])
    batched = len(out_shape) == 2
    if len(out_shape) not in (1, 2):
        raise RustyError("a contraction has at most one batch dim (tokens)", root)
    x, weights = root.inputs[0], list(root.inputs[1:])
    k_total = static_shape(x)[-1]
    if reduction_dims(root) != [len(out_shape)] or any(static_shape(w)[-1] != k_total for w in weights):
        raise RustyError("a contraction must reduce its last loop dim over the inputs' last dim", root)
    n_total = out_shape[-1]
    refs = [mat.reader(w) for w in weights]
    prologue = [op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.ROW_REDUCTION and _feeds(op, root, ops)]
    for red in prologue:
        if len(static_shape(red.results[0])) != (1 if batched else 0) and not all(d == 1 for d in static_shape(red.results[0])):
            raise RustyError("a prologue reduction must be per token of its contraction", red)
    x_map: AffineMap = maps(root)[0]

    def build(b: IRBuilder, args: Sequence[SSAValue]) -> list[SSAValue]:
        token, k, *reduced = args
        for red, value in zip(prologue, reduced):
            mat.known[red.results[0]] = uniform(value)
        loop = [token, b.index(0), k] if batched else [b.index(0), k]
        return [mat.element(b, x, apply_map(b, x_map, loop))]

    lhs = Template(2 + len(prologue), build)
    for red in prologue:
        mat.known.pop(red.results[0], None)
    mac = is_mac(root)
    factored = bool(prologue) and mac and _factor(lhs)  # a linear body: the row scale may move past the sum
    return Contraction(kernel, mat, list(ops), root, weights, refs, prologue, n_total, k_total, batched, lhs, factored, mac)


def _feeds(producer: Operation, root: Operation, ops: Sequence[Operation]) -> bool:
    """Whether ``producer``'s results reach ``root``'s activation within the region."""
    todo, seen = [root.operands[0]], set()
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        owner = v.owner
        if owner is producer:
            return True
        if isinstance(owner, Operation) and owner in ops:
            todo.extend(o for inner in owner.walk() for o in inner.operands)
    return False


def _factor(lhs: Template) -> bool:
    """Split lhs into core(token, k) * scale(prologue values) when its product's factors allow; True if so."""
    _, k, *reduced = lhs.block.args
    value = lhs.values[0]
    core: list[SSAValue] = []
    scale: list[SSAValue] = []
    for f in _factors(value):
        by_reduction = lhs.depends_on(f, set(reduced))
        by_k = lhs.depends_on(f, {k})
        if by_reduction and by_k:
            return False
        (scale if by_reduction else core).append(f)
    if not scale:
        return False
    b = IRBuilder(lhs.block)
    one = b.f32(1.0)
    core_v = core[0] if core else one
    for f in core[1:]:
        core_v = b.mulf(core_v, f)
    scale_v = scale[0]
    for f in scale[1:]:
        scale_v = b.mulf(scale_v, f)
    lhs.values = [core_v, scale_v]
    return True


__all__ = ["Contraction", "Template", "analyse", "analyse_all", "by_segment"]
