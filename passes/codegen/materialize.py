"""Materializing tensor values element by element: how fusion becomes code.

A region's body is tensor-level IR. ``Materializer.element(b, value, idx)``
emits, at builder ``b``, the scalar IR that computes ``value[idx]``:

1. a value the strategy has already computed (a reduction's per-row result, a
   contraction's accumulator) is returned as bound in ``known``;
2. a tensor read from a buffer (``bufferization.to_tensor`` of a kernel
   argument) is a ``memref.load``, or a ``rquant.load`` for stored weights;
3. an elementwise ``linalg.generic`` is its body cloned at ``idx``: each input is
   materialized at its indexing map applied to ``idx``, ``linalg.index`` is
   the loop index, and a ``tensor.extract`` in the body is materialized at its
   indices (a gather);
4. ``rquant.dequantize`` decodes its input at ``idx``; ``tensor.extract_slice``
   shifts ``idx`` by the offsets; ``linalg.fill`` is its scalar.

Nothing is cached across calls: a producer read at several indices is
recomputed at each (cheap next to the memory traffic it saves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, bufferization, memref, tensor
from xdsl.dialects.builtin import IntegerAttr, MemRefType, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.dialects.quant import DequantizeOp, DotBlockOp, LoadBlockOp, LoadCodesOp, LoadOp, ToTensorOp, kernel_block
from rusty_ir.dialects.quant.storage import buffer_scheme
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.dispatch.analysis import Kind, defined_within, kind, maps
from rusty_ir.weights import Scheme

Known = Callable[[IRBuilder, Sequence[SSAValue]], SSAValue]


def uniform(value: SSAValue) -> Known:
    """A ``Materializer.known`` entry that is ``value`` at every index (a reduced total, a row's result)."""
    return lambda _b, _idx: value


@dataclass(frozen=True)
class WeightRef:
    """A stored weight a kernel reads: its buffer (raw words), scheme and ``[rows, K]`` shape (vectors: ``[1, K]``).

    Reads are ``quant`` ops (``weight-layout`` may still change the layout they
    read; ``lower-quant-loads`` expands them)."""

    buffer: SSAValue
    scheme: Scheme
    shape: tuple[int, int]

    @property
    def block(self) -> int:
        """Values one ``load_block`` decodes."""
        return kernel_block(self.scheme)

    def element(self, b: IRBuilder, row: SSAValue, col: SSAValue) -> SSAValue:
        return b.value(LoadOp([self.buffer], row, col, self.scheme.name, self.shape))

    def load_block(self, b: IRBuilder, row: SSAValue, blk: SSAValue) -> tuple[SSAValue, SSAValue, list[SSAValue]]:
        """(scale, offset, codes) of block ``blk`` of ``row``: value j = scale * codes[j] + offset."""
        op = b.insert(LoadBlockOp([self.buffer], row, blk, self.scheme.name, self.shape))
        assert isinstance(op, LoadBlockOp)
        return op.scale, op.offset, list(op.values)

    def load_codes(self, b: IRBuilder, row: SSAValue, blk: SSAValue) -> tuple[SSAValue, SSAValue, list[SSAValue]]:
        """(scale, offset, code words) of block ``blk`` of ``row``: codes packed four to a word as signed bytes,
        value j = scale * code_j + offset (``rquant.load_codes``)."""
        op = b.insert(LoadCodesOp([self.buffer], row, blk, self.scheme.name, self.shape))
        assert isinstance(op, LoadCodesOp)
        return op.scale, op.offset, list(op.words)

    def dot_block(
        self, b: IRBuilder, row: SSAValue, blk: SSAValue, acts: Sequence[SSAValue], asum: SSAValue
    ) -> tuple[SSAValue, SSAValue, SSAValue]:
        """(scale, offset, sum_j codes[j] * a_j) of block ``blk`` of ``row`` against int8 activations (``rquant.dot_block``)."""
        op = b.insert(DotBlockOp([self.buffer], row, blk, acts, asum, self.scheme.name, self.shape))
        assert isinstance(op, DotBlockOp)
        return op.scale, op.offset, op.dot


def static_shape(value: SSAValue) -> tuple[int, ...]:
    ty = value.type
    assert isinstance(ty, TensorType | MemRefType)
    return tuple(ty.get_shape())


class Materializer:
    """Element-wise evaluation of one region's tensor values inside its kernel."""

    def __init__(self, args: dict[SSAValue, SSAValue]) -> None:
        self.args = args
        """Region block argument -> kernel block argument."""
        self.known: dict[SSAValue, Known] = {}
        """Values the strategy computed itself, by their element function."""

    # --- where a tensor lives ---------------------------------------------------------------------
    def buffer(self, value: SSAValue) -> SSAValue | None:
        """The kernel buffer a tensor is read from, if it is one (``to_tensor`` of an argument)."""
        owner = value.owner
        if isinstance(owner, bufferization.ToTensorOp | ToTensorOp):
            return self.args.get(owner.memref)
        if value in self.args and isinstance(value.type, MemRefType):
            return self.args[value]
        return None

    def reader(self, value: SSAValue) -> WeightRef | None:
        """The stored weight a tensor is read from (through its dequantization), if it is one."""
        owner = value.owner
        if isinstance(owner, DequantizeOp):
            return self.reader(owner.input)
        source = owner.memref if isinstance(owner, bufferization.ToTensorOp | ToTensorOp) else value
        sch = buffer_scheme(source)
        buf = self.buffer(value)
        if sch is None or buf is None:
            return None
        shape = static_shape(value)
        return WeightRef(buf, sch, (shape[0], shape[1]) if len(shape) == 2 else (1, shape[-1]))

    # --- sizes --------------------------------------------------------------------------------
    def dims(self, b: IRBuilder, value: SSAValue, args: dict[SSAValue, SSAValue] | None = None) -> list[SSAValue]:
        """The sizes of ``value`` as index values at ``b`` (dynamic ones traced to region arguments)."""
        return [self.dim(b, value, i, args) for i in range(len(static_shape(value)))]

    def dim(self, b: IRBuilder, value: SSAValue, i: int, args: dict[SSAValue, SSAValue] | None = None) -> SSAValue:
        """Size ``i`` of ``value`` (negative ``i`` counts from the end)."""
        shape = static_shape(value)
        i = i % len(shape)
        if shape[i] >= 0:
            return b.index(shape[i])
        return self._dynamic_dim(b, value, i, self.args if args is None else args)

    def _dynamic_dim(self, b: IRBuilder, value: SSAValue, i: int, args: dict[SSAValue, SSAValue]) -> SSAValue:
        op = value.owner
        if isinstance(op, linalg.GenericOp | linalg.FillOp):
            return self._dynamic_dim(b, op.outputs[_result_number(op, value)], i, args)
        if isinstance(op, tensor.EmptyOp):
            shape = static_shape(value)
            size = op.dynamic_sizes[sum(1 for d in shape[:i] if d < 0)]
            return self._index_value(b, size, args)
        if isinstance(op, AttentionOp):  # the kind ATTENTION: its result has the shape of its queries
            return self._dynamic_dim(b, op.operands[0], i, args)
        buffer = op.memref if isinstance(op, bufferization.ToTensorOp) else value
        if buffer in args and isinstance(buffer.type, MemRefType):
            # a tensor read from an argument buffer: the buffer's own size
            return b.value(memref.DimOp(args[buffer], b.index(i)))
        raise RustyError(f"cannot tell dimension {i} of a value made by '{getattr(op, 'name', 'a block argument')}'")

    def _index_value(self, b: IRBuilder, value: SSAValue, args: dict[SSAValue, SSAValue]) -> SSAValue:
        if value in args:
            return args[value]
        owner = value.owner
        if isinstance(owner, arith.ConstantOp):
            attr = owner.value
            assert isinstance(attr, IntegerAttr)
            return b.index(attr.value.data)
        if isinstance(owner, tensor.DimOp) and isinstance(owner.index.owner, arith.ConstantOp):
            # tensor.dim of a value of this region: that value's size, traced the same way
            index_attr = owner.index.owner.value
            assert isinstance(index_attr, IntegerAttr)
            return self.dim(b, owner.source, index_attr.value.data, args)
        raise RustyError(f"a size in this region is computed by '{getattr(owner, 'name', '?')}', not passed in")

    # --- elements -----------------------------------------------------------------------------
    def element(self, b: IRBuilder, value: SSAValue, idx: Sequence[SSAValue]) -> SSAValue:
        if value in self.known:
            return self.known[value](b, idx)
        if (reader := self.reader(value)) is not None:
            if len(idx) not in (1, 2):
                raise RustyError("stored weights are vectors or [rows, columns] matrices")
            return reader.element(b, idx[0], idx[1]) if len(idx) == 2 else reader.element(b, b.index(0), idx[0])
        if (buf := self.buffer(value)) is not None:
            return b.value(_load(buf, idx))
        op = value.owner
        if isinstance(op, linalg.GenericOp):
            op_kind = kind(op)
            if op_kind is not Kind.ELEMENTWISE:
                assert op_kind is not None  # every linalg.generic has a kind
                raise RustyError(f"a {op_kind.value} result is read before its kernel phase computed it", op)
            return self.generic_at(b, op, idx)[_result_number(op, value)]
        if isinstance(op, DequantizeOp):
            return self.element(b, op.input, idx)
        if isinstance(op, linalg.FillOp):
            return self._index_or_scalar(b, op.inputs[0])
        if isinstance(op, tensor.ExtractSliceOp):
            return self.element(b, op.source, self._slice_indices(b, op, idx))
        raise RustyError(f"cannot compute elements of a value made by '{getattr(op, 'name', 'a block argument')}' here")

    def generic_at(self, b: IRBuilder, op: linalg.GenericOp, loop: Sequence[SSAValue], acc: Sequence[SSAValue] = ()) -> list[SSAValue]:
        """The body of ``op`` at loop indices ``loop`` (accumulators ``acc`` for reductions): its yields."""
        block = op.body.block
        mapping: dict[SSAValue, SSAValue] = {}
        for arg, value, amap in zip(block.args, op.inputs, maps(op)):
            if arg.uses:
                mapping[arg] = self.element(b, value, apply_map(b, amap, loop))
        for arg, a in zip(block.args[len(op.inputs) :], acc):
            mapping[arg] = a
        yielded: list[SSAValue] = []
        for inner in block.ops:
            if isinstance(inner, linalg.YieldOp):
                yielded = [mapping.get(v, v) for v in inner.arguments]
            elif isinstance(inner, linalg.IndexOp):
                mapping[inner.result] = loop[inner.dim.value.data]
            elif isinstance(inner, tensor.ExtractOp):
                mapping[inner.result] = self.element(b, inner.tensor, [mapping.get(i, i) for i in inner.indices])
            elif isinstance(inner, arith.ConstantOp):
                mapping[inner.result] = b.value(inner.clone())
            elif isinstance(inner, arith.ExtFOp) and mapping.get(inner.input, inner.input).type == inner.result.type:
                mapping[inner.result] = mapping.get(inner.input, inner.input)  # a stored f16/bf16 weight reads as f32 already
            else:
                for operand in inner.operands:
                    if operand not in mapping and not defined_within(operand, op):
                        mapping[operand] = self._index_or_scalar(b, operand)
                clone = inner.clone(value_mapper=mapping)
                b.insert(clone)
                mapping.update(zip(inner.results, clone.results))
        return yielded

    def _index_or_scalar(self, b: IRBuilder, value: SSAValue) -> SSAValue:
        """A scalar from outside a body: a region argument (pos) or a constant."""
        if value in self.args:
            return self.args[value]
        owner = value.owner
        if isinstance(owner, arith.ConstantOp):
            return b.value(owner.clone())
        raise RustyError(f"a scalar made by '{getattr(owner, 'name', '?')}' is not available in the kernel")

    def _slice_indices(self, b: IRBuilder, op: tensor.ExtractSliceOp, idx: Sequence[SSAValue]) -> list[SSAValue]:
        dyn_offsets = iter(op.offsets)
        offsets = [
            b.index(o) if o != tensor.DYNAMIC_INDEX else self._index_or_scalar(b, next(dyn_offsets)) for o in op.static_offsets.get_values()
        ]
        sizes = list(op.static_sizes.get_values())
        dropped = len(sizes) - len(idx)
        out: list[SSAValue] = []
        it = iter(idx)
        for off, size in zip(offsets, sizes):
            if size == 1 and dropped > 0:
                out.append(off)
                dropped -= 1
            else:
                out.append(b.addi(off, next(it)))
        return out


def _result_number(op: Operation, value: SSAValue) -> int:
    """Which result of ``op`` ``value`` is."""
    results: list[SSAValue] = list(op.results)
    return results.index(value)


def apply_map(b: IRBuilder, amap: AffineMap, loop: Sequence[SSAValue]) -> list[SSAValue]:
    out: list[SSAValue] = []
    for expr in amap.results:
        if isinstance(expr, AffineDimExpr):
            out.append(loop[expr.position])
        elif isinstance(expr, AffineConstantExpr):
            out.append(b.index(expr.value))
        else:
            raise RustyError(f"indexing map result {expr} is not a dimension or a constant")
    return out


def _load(buf: SSAValue, idx: Sequence[SSAValue]) -> Operation:
    from xdsl.dialects import memref

    return memref.LoadOp.get(buf, idx)


__all__ = ["Known", "Materializer", "WeightRef", "apply_map", "static_shape", "uniform"]
