"""What the schedule builders share: a region's outputs, reduction combiners, values picked by index."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, bufferization
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, i32
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue

from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.kernel import Kernel

ILP = 4
"""Independent partial results per loop step in long dot products and sums (loads in flight)."""


def outputs(kernel: Kernel, ops: Sequence[Operation]) -> list[tuple[SSAValue, SSAValue]]:
    """(tensor value, kernel buffer) for each ``materialize_in_destination`` of the region."""
    out: list[tuple[SSAValue, SSAValue]] = []
    for op in ops:
        if isinstance(op, bufferization.MaterializeInDestinationOp):
            out.append((op.source, kernel.body_args[op.dest]))
    return out


_KINDS: dict[type[Operation], str] = {arith.AddfOp: "add", arith.MaximumfOp: "max", arith.MinimumfOp: "min"}


def reduction_kind(op: linalg.GenericOp) -> str:
    """The ``tiled.reduce`` kind of a reduction body: how it folds a value into its accumulator."""
    acc = op.body.block.args[len(op.inputs)]
    uses = list(acc.uses)
    if len(uses) != 1 or type(uses[0].operation) not in _KINDS:
        raise RustyError("a reduction body must fold into its accumulator with one addf, maximumf or minimumf", op)
    return _KINDS[type(uses[0].operation)]


def pick(b: IRBuilder, index: SSAValue, candidates: Sequence[tuple[SSAValue, SSAValue]]) -> SSAValue:
    """The value an epilogue reads at ``index`` among an invocation's ``(key, value)`` candidates: consecutive rows
    (or columns) starting at an even one. ``index`` must be a key, or ``key ^ 1`` (RoPE's partner in GGUF's
    interleaved order), which is then the neighbouring candidate; any other index is a compile-time error,
    never a wrong value."""
    for key, value in candidates:
        if key is index:
            return value
    owner = index.owner
    if isinstance(owner, arith.XOrIOp) and len(candidates) % 2 == 0:
        for x, y in ((owner.lhs, owner.rhs), (owner.rhs, owner.lhs)):
            one = y.owner
            if isinstance(one, arith.ConstantOp) and isinstance(one.value, IntegerAttr | FloatAttr) and one.value.value.data == 1:
                for j, (key, _) in enumerate(candidates):
                    if key is x:
                        return candidates[j ^ 1][1]
    raise RustyError(
        "an epilogue reads a neighbour this invocation does not hold (only an element and its xor-1 partner are "
        "supported; give each invocation an even number of rows)"
    )


def clone_body(b: IRBuilder, op: linalg.GenericOp, inputs: Sequence[SSAValue], acc: Sequence[SSAValue]) -> list[SSAValue]:
    """Clone a contraction's body with scalar inputs and accumulators: the new accumulators."""
    block = op.body.block
    mapping: dict[SSAValue, SSAValue] = dict(zip(block.args, [*inputs, *acc]))
    yielded: list[SSAValue] = []
    for inner in block.ops:
        if isinstance(inner, linalg.YieldOp):
            yielded = [mapping[v] for v in inner.arguments]
            continue
        if isinstance(inner, arith.ExtFOp) and mapping.get(inner.input, inner.input).type == inner.result.type:
            mapping[inner.result] = mapping.get(inner.input, inner.input)  # a stored f16/bf16 weight reads as f32 already
            continue
        clone = inner.clone(value_mapper=mapping)
        b.insert(clone)
        mapping.update(zip(inner.results, clone.results))
    return yielded


def abs_max(b: IRBuilder, xs: Sequence[SSAValue]) -> SSAValue:
    """``max_j |xs[j]|``."""
    amax = b.absf(xs[0])
    for x in xs[1:]:
        amax = b.maximumf(amax, b.absf(x))
    return amax


def int8_codes(b: IRBuilder, xs: Sequence[SSAValue], amax: SSAValue) -> list[SSAValue]:
    """``xs`` as int8 steps of ``d = amax / 127`` (round to nearest even; all 0 when ``amax`` is 0), as i32: the
    activations of the dp4a kernels, ``x ~ d * code``."""
    inv = b.select(b.cmpf("ogt", amax, b.f32(0.0)), b.divf(b.f32(127.0), amax), b.f32(0.0))
    return [b.value(arith.FPToSIOp(b.roundeven(b.mulf(x, inv)), i32)) for x in xs]


def pack_bytes(b: IRBuilder, ints: Sequence[SSAValue]) -> SSAValue:
    """Four i32 values in [-128, 127] as one word of signed bytes (``ints[j]`` in byte j), as ``dot4I8Packed`` reads."""
    word = b.andi(ints[0], b.i32(0xFF))
    for j in range(1, len(ints)):
        word = b.ori(word, b.shli(b.andi(ints[j], b.i32(0xFF)), b.i32(8 * j)))
    return word


__all__ = ["ILP", "abs_max", "clone_body", "int8_codes", "outputs", "pack_bytes", "pick", "reduction_kind"]
