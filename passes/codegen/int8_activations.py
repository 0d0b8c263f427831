"""The int8 activation blocks of ``math = dp4a`` gemvs: quantized by each workgroup into workgroup memory, by a
first kernel of the step (``prequantize = 1``, ``lower_gemv_quantize``), or by the producing region's few-token
gemv in its epilogue (``QuantizeFor``); and the prologue reductions (RMSNorm's ``sum x^2``) a whole workgroup folds.

A block is ``block / 4`` words of ``round(x / d)`` (4 signed bytes each, in K order), ``d = max |x| / 127`` (as i32
bits), the sum of its int8 values and, where it ``carries_sums``, the partial sums of the contraction's prologue
reductions, padded to ``activation_unit(block)`` words. ``gemv.py`` walks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import arith, bufferization, gpu, memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType, i32
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.ir import IRNode, Operation, OpResult, SSAValue

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.quant import DOT_SCHEMES
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.common import ILP, abs_max, int8_codes, outputs, pack_bytes, reduction_kind
from rusty_ir.passes.codegen.contraction import Contraction, analyse, analyse_all
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.dispatch.analysis import Kind, kind


def prologue_reductions(c: Contraction, b: IRBuilder, tokens: Sequence[SSAValue], linear: SSAValue) -> list[list[SSAValue]]:
    """The prologue reductions of each token, by the whole workgroup (strided partials, one tiled.reduce)."""
    kernel = c.kernel
    partials: list[SSAValue] = []
    for t in tokens:
        for red in c.prologue:
            init = c.reduction_init(b, red, t)

            def fold(ib: IRBuilder, k: SSAValue, acc: Sequence[SSAValue], red=red, t=t) -> list[SSAValue]:
                return [c.reduction_element(ib, red, t, k, acc[0])]

            # every invocation starts from the init; the tree adds them: only the first keeps it (add reductions)
            kind = reduction_kind(red)
            first = b.select(b.cmpi("eq", linear, b.index(0)), init, b.f32(0.0)) if kind == "add" else init
            partials.append(_strided_fold(b, linear, c.k_total, kernel.threads, first, b.f32(0.0) if kind == "add" else init, kind, fold))
    kinds = {reduction_kind(red) for red in c.prologue}
    if len(kinds) != 1:
        raise RustyError("prologue reductions of different kinds in one contraction are not supported", c.root)
    totals = kernel.reduce(b, kinds.pop(), partials, kernel.threads)
    p = len(c.prologue)
    return [totals[i * p : (i + 1) * p] for i in range(len(tokens))]


def _strided_fold(b: IRBuilder, start: SSAValue, total: int, stride: int, first: SSAValue, neutral: SSAValue, kind: str, fold) -> SSAValue:
    """``fold`` over k = start, start + stride, ... < total, as ``ILP`` independent chains (their loads in flight
    together) where ``ILP * stride`` divides ``total``, combined at the end by the reduction's ``kind``."""
    if total % (stride * ILP):
        return b.for_loop(start, b.index(total), b.index(stride), [first], fold)[0]

    def step(ib: IRBuilder, k: SSAValue, acc: Sequence[SSAValue]) -> list[SSAValue]:
        return [fold(ib, ib.addi(k, ib.index(u * stride)) if u else k, [acc[u]])[0] for u in range(ILP)]

    chains = b.for_loop(start, b.index(total), b.index(stride * ILP), [first] + [neutral] * (ILP - 1), step)
    out = chains[0]
    for chain in chains[1:]:
        out = {"add": b.addf, "max": b.maximumf, "min": b.minimumf}[kind](out, chain)
    return out


@dataclass(frozen=True)
class QuantizeFor:
    """The next region's int8 activation blocks written by this gemv's epilogue (``convert-dispatch-to-tiled``
    pairs a producer's few-token versions with a prequantized consumer, ``quantize_pairs``): no quantizing kernel.

    Each workgroup stages its rows of the output ``produced`` (this region's argument) in workgroup memory and
    quantizes them as the consumer would (``quantized_activations`` over the consumer's own analysis, its
    activation read from the staged rows, RMSNorm's partial sums carried): it owns whole blocks of K."""

    consumer: RegionOp
    activation: int
    """The consumer's argument that this region writes (its activation)."""
    produced: int
    """This region's argument (an output) that the consumer reads."""
    args: tuple[tuple[int, int], ...]
    """(consumer argument, this kernel's argument) of what else the consumer's activation reads (RMSNorm's weight)."""
    scratch: int
    """This kernel's argument that holds the blocks (``prequantized_scratch`` of the consumer)."""
    block: int
    """Values per int8 block (the consumer's weights' block, ``prequantized_block``)."""


def staging(kernel: Kernel, ops: Sequence[Operation], segments: Sequence[Contraction], q: QuantizeFor, tokens_per_wg: int,
             rows_per_wg: int) -> tuple[SSAValue, SSAValue]:  # fmt: skip
    """(workgroup array ``[tokens, rows]``, the output value) where the epilogue stages the rows ``QuantizeFor``
    quantizes; refuses what the pairing should not have made."""
    if len(segments) != 1 or rows_per_wg % q.block or segments[0].n_total % rows_per_wg:
        raise RustyError(
            f"a gemv that quantizes its consumer's activation must be one contraction of whole {q.block}-row blocks per workgroup",
            kernel.region,
        )
    buf = kernel.body.args[q.produced]
    value = next((v for v, out in outputs(kernel, ops) if out is buf), None)
    if value is None:
        raise RustyError(f"the region writes no output to its argument #{q.produced}", kernel.region)
    return kernel.shared([tokens_per_wg, rows_per_wg], F32), value


def quantize_staged(kernel: Kernel, b: IRBuilder, q: QuantizeFor, staged: SSAValue, linear: SSAValue, batch: SSAValue, wt: SSAValue,
                     wn: SSAValue, tokens_per_wg: int, rows_per_wg: int) -> None:  # fmt: skip
    """The consumer's int8 blocks of this workgroup's staged rows (after a barrier), into its scratch buffer: the
    consumer analysed here, its activation argument read from ``staged``, its other arguments bound to this
    kernel's (``q.args``)."""
    block_args = q.consumer.block.args
    cmat = Materializer({block_args[i]: kernel.body.args[j] for i, j in q.args})
    t0 = b.muli(wt, b.index(tokens_per_wg))

    def staged_value(sb: IRBuilder, idx: Sequence[SSAValue]) -> SSAValue:
        return load(sb, staged, [sb.subi(idx[0], t0), sb.remui(idx[-1], sb.index(rows_per_wg))])

    ops = region_ops(q.consumer)
    for op in ops:  # the consumer reads its activation through to_tensor of the argument
        if isinstance(op, bufferization.ToTensorOp) and op.memref is block_args[q.activation]:
            cmat.known[op.results[0]] = staged_value
    consumer, block = analyse(kernel, cmat, ops), q.block
    if consumer.prologue and not carries_sums(consumer, block):
        raise RustyError("the consumer's prologue needs whole rows: its activation cannot be quantized by its producer", q.consumer)
    ts = [b.minui(b.addi(t0, b.index(i)) if i else t0, b.subi(batch, b.index(1))) for i in range(tokens_per_wg)]
    per_wg = rows_per_wg // block
    first = b.muli(wn, b.index(per_wg))
    quantized_activations(consumer, b, linear, t0, ts, batch, [[] for _ in ts], block, consumer.k_total // block,
                           (kernel.body.args[q.scratch], first, per_wg), checked=True)  # fmt: skip


def activation_unit(block: int) -> int:
    """Words one quantized activation block takes in workgroup memory: its ``block / 4`` words of int8
    values, its scale (f32 bits) and the sum of its values, padded to a multiple of 4 (16-byte loads)."""
    return -(-(block // 4 + 2) // 4) * 4


def carries_sums(c: Contraction, block: int | None = None) -> bool:
    """Whether a dp4a contraction's int8 activation blocks (of ``block`` values, by default its weights' block) carry
    the partial sums of its prologue reductions (a factored prologue, e.g. RMSNorm's ``sum x^2``, of add reductions,
    with room for them after the block's words, scale and sum): the row scale then multiplies the reduced dot
    products, as in the float walk."""
    block = c.block if block is None else block
    spare = activation_unit(block) - block // 4 - 2
    return bool(c.prologue) and c.factored and len(c.prologue) <= spare and all(reduction_kind(r) == "add" for r in c.prologue)


def quantized_activations(c: Contraction, b: IRBuilder, linear: SSAValue, t0: SSAValue, t_in: Sequence[SSAValue], batch: SSAValue,
                           prologue: Sequence[Sequence[SSAValue]], block: int, blocks: int,
                           out: tuple[SSAValue, SSAValue, int] | None = None, checked: bool = False) -> SSAValue:  # fmt: skip
    """A workgroup-memory array ``[tokens, blocks * activation_unit(block)]`` of the workgroup's tokens' activations
    as int8 blocks: per block its words of ``round(x / d)`` (4 signed bytes each, in K order), ``d = max |x| / 127``
    (as i32 bits) and the sum of the int8 values; ``x`` is the full activation (fused producers and prologue row
    scale applied) or, where the blocks ``carries_sums``, its core (no row scale: the int8 codes are the same, ``d``
    is smaller by the row scale) followed by the block's partial sum of each prologue reduction (f32 bits), so that
    no kernel reads a whole row before it quantizes. All invocations quantize together: ``block / 4`` neighbouring
    invocations share a block, each reading 4 values and packing one word, their maximum and sum met by
    ``tiled.reduce`` (a block per invocation made the whole workgroup wait on the slowest chain).

    With ``out = (buffer, first, count)`` (the prequantizing kernel, or a producer's epilogue: ``QuantizeFor``)
    blocks ``first`` to ``first + count - 1`` (those below ``blocks``) go to each token's row of the host buffer
    instead, with no barrier after them. ``checked``: ``c`` is a consumer analysed in its producer's kernel (its
    weights unknown there), checked in its own."""
    if not checked and not (c.mac and all(ref is not None and ref.scheme.name in DOT_SCHEMES for ref in c.refs)):
        raise RustyError(f"math = dp4a needs a multiply-add contraction of weights stored in {', '.join(DOT_SCHEMES)}", c.root)
    kernel = c.kernel
    tokens, unit, lanes, threads = len(t_in), activation_unit(block), block // 4, kernel.threads
    sums = carries_sums(c, block)
    if threads % lanes:
        raise RustyError(f"math = dp4a: a workgroup of {threads} invocations cannot split blocks of {block} values among {lanes}", c.root)
    if out is None:
        xq, first, span = kernel.shared([tokens, blocks * unit], i32, once="int8 activations"), None, blocks  # one per region

        def put(pb: IRBuilder, value: SSAValue, tl: SSAValue, t: SSAValue, at: SSAValue) -> None:
            store(pb, value, xq, [tl, at])
    else:
        xq, first, span = out

        def put(pb: IRBuilder, value: SSAValue, tl: SSAValue, t: SSAValue, at: SSAValue) -> None:
            store(pb, value, xq, [pb.addi(pb.muli(t, pb.index(blocks * unit)), at)])

    items = tokens * span * lanes
    lane = b.remui(linear, b.index(lanes))
    for i in range(-(-items // threads)):
        item = b.addi(linear, b.index(i * threads)) if i else linear
        inside = b.cmpi("ult", item, b.index(items)) if (i + 1) * threads > items else None
        if inside is not None:
            item = b.minui(item, b.index(items - 1))  # past the last block: quantize it again, store nothing
        blk = b.remui(b.divui(item, b.index(lanes)), b.index(span))
        if first is not None:  # a run of blocks that may end past the row
            blk = b.addi(first, blk)
            if blocks % span:
                past = b.cmpi("ult", blk, b.index(blocks))
                inside = b.andi(inside, past) if inside is not None else past
                blk = b.minui(blk, b.index(blocks - 1))
        tl = b.divui(item, b.index(span * lanes)) if tokens > 1 else b.index(0)
        t = t_in[0] if tokens == 1 else b.minui(b.addi(t0, tl), b.subi(batch, b.index(1)))
        k0 = b.addi(b.muli(blk, b.index(block)), b.muli(lane, b.index(4)))
        xs, partials = _four_values(c, b, t, tl, [b.addi(k0, b.index(j)) if j else k0 for j in range(4)], prologue, sums)
        (amax,) = kernel.reduce(b, "max", [abs_max(b, xs)], lanes)
        ints = int8_codes(b, xs, amax)
        word = pack_bytes(b, ints)
        codes_sum = b.sitofp(b.addi(b.addi(ints[0], ints[1]), b.addi(ints[2], ints[3])))
        (total, *partials) = kernel.reduce(b, "add", [codes_sum, *partials], lanes)
        base = b.muli(blk, b.index(unit))

        def write(wb: IRBuilder, tl: SSAValue = tl, t: SSAValue = t, base: SSAValue = base, word: SSAValue = word,
                  amax: SSAValue = amax, total: SSAValue = total, partials: list[SSAValue] = partials) -> list[SSAValue]:  # fmt: skip
            put(wb, word, tl, t, wb.addi(base, lane))

            def stats(sb: IRBuilder) -> list[SSAValue]:
                put(sb, sb.value(arith.BitcastOp(sb.mulf(amax, sb.f32(1.0 / 127.0)), i32)), tl, t, sb.addi(base, sb.index(lanes)))
                put(sb, sb.value(arith.FPToSIOp(total, i32)), tl, t, sb.addi(base, sb.index(lanes + 1)))
                for pi, part in enumerate(partials):
                    put(sb, sb.value(arith.BitcastOp(part, i32)), tl, t, sb.addi(base, sb.index(lanes + 2 + pi)))
                return []

            wb.if_then(wb.cmpi("eq", lane, wb.index(0)), stats)
            return []

        if inside is None:
            write(b)
        else:
            b.if_then(inside, write)
    if out is None:
        b.insert(gpu.BarrierOp())
    return xq


def _four_values(c: Contraction, b: IRBuilder, t: SSAValue, tl: SSAValue, ks: Sequence[SSAValue],
                 prologue: Sequence[Sequence[SSAValue]], sums: bool) -> tuple[list[SSAValue], list[SSAValue]]:  # fmt: skip
    """The activation values of token ``t`` (the workgroup's ``tl``-th) at ``ks`` that one invocation quantizes, and,
    where the blocks carry the prologue's sums (``sums``), the values' cores and their partial prologue sums."""
    if sums:
        xs, partials = [c.lhs_value(b, t, k, []) for k in ks], []
        for red in c.prologue:
            part = b.f32(0.0)
            for k in ks:
                part = c.reduction_element(b, red, t, k, part)
            partials.append(part)
        return xs, partials
    values = prologue[0]
    for ti in range(1, len(prologue)):  # this item's token's prologue values
        values = [b.select(b.cmpi("eq", tl, b.index(ti)), mine, other) for mine, other in zip(prologue[ti], values)]
    return [c.full_lhs_value(b, t, k, values) for k in ks], []


def shared_lhs(segments: Sequence[Contraction]) -> None:
    """A prequantized gemv quantizes one activation row per token: every contraction of the region must read it."""
    first = segments[0]
    if not one_activation([c.root for c in segments]) or any(c.k_total != first.k_total or c.block != first.block for c in segments):
        raise RustyError("prequantize = 1 needs the region's contractions to share one activation input", first.root)


def one_activation(roots: Sequence[GenericOp]) -> bool:
    """Whether the contractions ``roots`` (of one region) multiply one activation: the same value, or values
    computed alike from the same ones (each contraction holds its own copy of a fused producer: the siblings of
    norm+qkv each their RMSNorm)."""
    return all(_same_value(r.inputs[0], roots[0].inputs[0]) for r in roots[1:])


def _same_value(a: SSAValue, b: SSAValue) -> bool:
    """Whether ``a`` and ``b`` are one value, or results of structurally equal ops on values that are."""
    if a is b:
        return True
    if not (isinstance(a, OpResult) and isinstance(b, OpResult)) or a.index != b.index or len(a.op.operands) != len(b.op.operands):
        return False
    context: dict[IRNode | SSAValue, IRNode | SSAValue] = {}
    if a.op.parent is not None and b.op.parent is not None:
        context[a.op.parent] = b.op.parent
    for x, y in zip(a.op.operands, b.op.operands):
        if not _same_value(x, y):
            return False
        context[x] = y
    return a.op.is_structurally_equivalent(b.op, context)


def lower_gemv_quantize(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """The first kernel of a prequantized gemv (``prequantize = 1``): a workgroup per (token, run of
    ``threads / (block / 4)`` blocks) writes them as int8 blocks (``quantized_activations``: fused producers
    applied; a prologue's partial sums carried in the blocks, or, where they cannot be, its row scale, which needs
    the whole row, reduced by each workgroup) into the token's row of the host buffer ``kernel.extra_args[0]``
    (``prequantized_scratch``); returns the grid."""
    segments = analyse_all(kernel, mat, ops)
    shared_lhs(segments)
    c = segments[0]
    if not c.batched:
        raise RustyError("prequantize = 1 needs a contraction over tokens", c.root)
    (out,) = kernel.extra_args
    block, blocks = c.block, c.k_total // c.block
    run = kernel.threads // (block // 4)
    runs = -(-blocks // run)
    g = kernel.grid_b
    grid = [c.batch_size(g, kernel.grid_args), g.index(runs), g.index(1)]
    b = kernel.b
    batch = c.batch_size(b)

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        t, r = wivs

        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            (linear,) = ivs
            prologue = prologue_reductions(c, ib, [t], linear) if c.prologue and not carries_sums(c) else [[]]
            quantized_activations(c, ib, linear, t, [t], batch, prologue, block, blocks, (out, ib.muli(r, ib.index(run)), run))

        kernel.invocations(wb, [kernel.threads], per_invocation)

    kernel.workgroups([batch, b.index(runs)], per_workgroup)
    return grid


def prequantized_scratch(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue], tokens: SSAValue) -> SSAValue:
    """The host buffer of a prequantized gemv: ``tokens * (K / block) * activation_unit(block)`` words (i32)."""
    block, k = prequantized_block(ops, args)
    size = b.muli(tokens, b.index(k // block * activation_unit(block)))
    return b.value(memref.AllocOp([size], [], MemRefType(i32, [DYNAMIC_INDEX])))


def prequantized_block(ops: Sequence[Operation], args: dict[SSAValue, SSAValue]) -> tuple[int, int]:
    """(values per int8 block, K) of a prequantized gemv's activation: its weights' block."""
    root = next(op for op in ops if isinstance(op, GenericOp) and kind(op) is Kind.CONTRACTION)
    refs = [Materializer(args).reader(w) for w in root.inputs[1:]]
    if not refs or any(r is None for r in refs):
        raise RustyError("prequantize = 1 needs stored (quantized) weights", root)
    return max(r.block for r in refs if r is not None), static_shape(root.inputs[0])[-1]


__all__ = [
    "QuantizeFor",
    "activation_unit",
    "carries_sums",
    "lower_gemv_quantize",
    "one_activation",
    "prequantized_block",
    "prequantized_scratch",
    "prologue_reductions",
    "quantize_staged",
    "quantized_activations",
    "shared_lhs",
    "staging",
]
