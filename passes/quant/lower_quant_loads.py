"""lower-quant-loads: ``quant.load`` and ``quant.load_block`` become word loads and bit arithmetic.

A stored weight is bound as 32-bit words holding its exact bytes
(``rusty_ir/weights.py`` defines each layout): as stored (``blocks``), or codes
and f16 scales apart (``split``). Codes become floats with the exponent trick:
OR-ing a code ``c < 2^23`` into the bits of ``2^23`` gives the float ``2^23 + c``
exactly, so subtracting a constant gives ``c - zero_point`` in two integer-free
float ops, where an int-to-float conversion is a slower instruction on GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import Float16Type, MemRefType, ModuleOp, i32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.gpu.ops import Dot4I8Op, UnpackF16Op
from rusty_ir.dialects.quant.ops import DotBlockOp, LoadBlockOp, LoadOp, kernel_block
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.weights import Scheme, split_layout

MAGIC = 0x4B000000
"""The bits of the float 2^23: OR-ing an integer below 2^23 into them gives 2^23 + that integer."""


def code_float(b: IRBuilder, code: SSAValue, minus: int) -> SSAValue:
    """The i32 ``code`` (0 <= code < 2^23) minus ``minus`` as an exact f32, without an int-to-float conversion."""
    bits = b.ori(code, b.i32(MAGIC))
    return b.subf(b.value(arith.BitcastOp(bits, F32)), b.f32(float(2**23 + minus)))


def _word(b: IRBuilder, words: SSAValue, index: SSAValue) -> SSAValue:
    return b.value(memref.LoadOp.get(words, [index]))


def _byte_of(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    """The unsigned byte at ``byte_offset`` as i32."""
    word = _word(b, words, b.divui(byte_offset, b.index(4)))
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    return b.andi(b.shrui(word, shift), b.i32(0xFF))


def _half(b: IRBuilder, buf: SSAValue, half_index: SSAValue) -> SSAValue:
    """The f16 value number ``half_index`` of a buffer of f16 (or of words holding two halves each), as f32."""
    ty = buf.type
    assert isinstance(ty, MemRefType)
    if isinstance(ty.element_type, Float16Type):
        return b.value(arith.ExtFOp(b.value(memref.LoadOp.get(buf, [half_index])), F32))
    word = _word(b, buf, b.divui(half_index, b.index(2)))
    shift = b.index_cast(b.muli(b.remui(half_index, b.index(2)), b.index(16)), i32)
    return b.value(UnpackF16Op(b.shrui(word, shift), "lo"))


def _half_at_byte(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    """The f16 at an even ``byte_offset`` of a buffer of words, as f32."""
    return _half(b, words, b.divui(byte_offset, b.index(2)))


def _code_words(b: IRBuilder, words: SSAValue, byte_offset: SSAValue, count: int, aligned: bool) -> list[SSAValue]:
    """``count`` words of the bytes at ``byte_offset`` (at least 2-byte aligned).

    Aligned offsets are plain consecutive loads (``vectorize`` merges them into
    16-byte loads). Otherwise the offset is 0 or 2 modulo 4: one extra word is
    loaded and neighbours are funnel-shifted by 16 bits, selected at run time
    (the block's alignment depends on its index). A word past the end may be
    read and discarded: WebGPU clamps out-of-bounds reads.
    """
    first = b.divui(byte_offset, b.index(4))
    raw = [_word(b, words, b.addi(first, b.index(i))) for i in range(count + (0 if aligned else 1))]
    if aligned:
        return raw
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    even = b.cmpi("eq", shift, b.i32(0))
    back = b.subi(b.i32(32), shift)
    return [b.select(even, raw[i], b.ori(b.shrui(raw[i], shift), b.shli(raw[i + 1], back))) for i in range(count)]


def _zero_point(sch: Scheme) -> int:
    """What a 4-bit code has subtracted before scaling (Q4_1 adds a minimum instead)."""
    return 0 if sch.name == "q4_1" else 8


def _four_bit(sch: Scheme) -> bool:
    return sch.name in ("q4_0", "q4_1") or sch.name.startswith("int4")


@dataclass(frozen=True)
class _Weight:
    """Addressing of one bound weight: where block ``blk`` of ``row`` starts, in its layout."""

    op: LoadOp | LoadBlockOp

    @property
    def sch(self) -> Scheme:
        return self.op.scheme

    @property
    def split(self) -> bool:
        return self.op.layout.data == "split"

    @property
    def blocks_per_row(self) -> int:
        return self.op.weight_shape[1] // self.sch.block

    def header(self, b: IRBuilder, row: SSAValue, blk: SSAValue) -> tuple[SSAValue, SSAValue | None, SSAValue, SSAValue]:
        """(scale, minimum or None, codes buffer, byte offset of the block's codes in it)."""
        sch = self.sch
        index = b.addi(b.muli(row, b.index(self.blocks_per_row)), blk)
        if self.split:
            layout = split_layout(sch)
            assert layout is not None
            codes, scales = self.op.buffers
            first = b.muli(index, b.index(layout.halves))
            scale = _half(b, scales, first)
            minimum = _half(b, scales, b.addi(first, b.index(1))) if layout.halves == 2 else None
            return scale, minimum, codes, b.muli(index, b.index(layout.code_bytes))
        (words,) = self.op.buffers
        base = b.muli(index, b.index(sch.block_bytes))
        scale = _half_at_byte(b, words, base)
        halves = 2 if sch.name == "q4_1" else 1
        minimum = _half_at_byte(b, words, b.addi(base, b.index(2))) if halves == 2 else None
        return scale, minimum, words, b.addi(base, b.index(2 * halves))

    def code_alignment(self) -> bool:
        """Whether every block's codes start at a multiple of 4 bytes."""
        if self.split:
            return True
        sch = self.sch
        halves = 2 if sch.name == "q4_1" else 1
        return sch.block_bytes % 4 == 0 and (2 * halves) % 4 == 0 and (self.blocks_per_row * sch.block_bytes) % 4 == 0


def _lower_element(op: LoadOp, b: IRBuilder) -> SSAValue:
    w = _Weight(op)
    sch = w.sch
    (row, col) = (op.row, op.col)
    if not sch.quantized:
        (words,) = op.buffers
        k = op.weight_shape[1]
        flat = b.addi(b.muli(row, b.index(k)), col)
        if sch.name == "f32":
            return b.value(arith.BitcastOp(_word(b, words, flat), F32))
        if sch.name == "f16":
            return _half(b, words, flat)
        word = _word(b, words, b.divui(flat, b.index(2)))  # bf16: the high 16 bits of an f32
        shift = b.index_cast(b.muli(b.remui(flat, b.index(2)), b.index(16)), i32)
        return b.value(arith.BitcastOp(b.shli(b.andi(b.shrui(word, shift), b.i32(0xFFFF)), b.i32(16)), F32))
    blk = b.divui(col, b.index(sch.block))
    j = b.remui(col, b.index(sch.block))
    scale, minimum, codes, at = w.header(b, row, blk)
    if _four_bit(sch):
        half = sch.block // 2
        hi = b.cmpi("uge", j, b.index(half))
        byte = _byte_of(b, codes, b.addi(at, b.select(hi, b.subi(j, b.index(half)), j)))
        nibble = b.andi(b.shrui(byte, b.select(hi, b.i32(4), b.i32(0))), b.i32(0xF))
        q = code_float(b, nibble, _zero_point(sch))
    else:  # signed bytes: flip the sign bit to get byte + 128 as an unsigned code
        q = code_float(b, b.xori(_byte_of(b, codes, b.addi(at, j)), b.i32(0x80)), 128)
    value = b.mulf(scale, q)
    return b.addf(value, minimum) if minimum is not None else value


def _lower_block(op: LoadBlockOp, b: IRBuilder) -> list[SSAValue]:
    """[scale, offset, q_0, ..., q_{B-1}]."""
    w = _Weight(op)
    sch = w.sch
    count = kernel_block(sch)
    one, zero = b.f32(1.0), b.f32(0.0)
    if not sch.quantized:
        (words,) = op.buffers
        k = op.weight_shape[1]
        first = b.addi(b.muli(op.row, b.index(k)), b.muli(op.col, b.index(count)))  # the block's first element
        word0 = b.divui(first, b.index(4 // (16 // count)))  # 16 bytes: 4 words of 1 float or 2 halves each
        raw = [_word(b, words, b.addi(word0, b.index(i))) for i in range(4)]
        if sch.name == "f32":
            return [one, zero, *(b.value(arith.BitcastOp(r, F32)) for r in raw)]
        values: list[SSAValue] = []
        for r in raw:
            if sch.name == "f16":
                values += [b.value(UnpackF16Op(r, "lo")), b.value(UnpackF16Op(r, "hi"))]
            else:
                values += [b.value(arith.BitcastOp(b.shli(r, b.i32(16)), F32)),
                           b.value(arith.BitcastOp(b.andi(r, b.i32(-65536)), F32))]  # fmt: skip
        return [one, zero, *values]
    scale, minimum, codes, at = w.header(b, op.row, op.col)
    offset = minimum if minimum is not None else zero
    if _four_bit(sch):
        half = sch.block // 2
        words = _code_words(b, codes, at, half // 4, w.code_alignment())
        lo = [code_float(b, b.andi(b.shrui(words[i // 4], b.i32(8 * (i % 4))), b.i32(0xF)), _zero_point(sch)) for i in range(half)]
        hi = [code_float(b, b.andi(b.shrui(words[i // 4], b.i32(8 * (i % 4) + 4)), b.i32(0xF)), _zero_point(sch)) for i in range(half)]
        return [scale, offset, *lo, *hi]
    words = _code_words(b, codes, at, sch.block // 4, w.code_alignment())
    qs = [code_float(b, b.xori(b.andi(b.shrui(words[j // 4], b.i32(8 * (j % 4))), b.i32(0xFF)), b.i32(0x80)), 128) for j in range(sch.block)]
    return [scale, offset, *qs]


NIBBLES = 0x0F0F0F0F
"""The low nibble of each byte of a word."""


def _lower_dot(op: DotBlockOp, b: IRBuilder) -> list[SSAValue]:
    """[scale, offset, dot]: 4-bit codes as bytes (their nibbles masked out, so each is 0..15 as a signed byte),
    four per ``rgpu.dot4_i8``, the zero point taken off once through ``asum``; signed bytes as they are."""
    w = _Weight(op)
    sch = w.sch
    scale, minimum, codes, at = w.header(b, op.row, op.col)
    offset = minimum if minimum is not None else b.f32(0.0)
    acts = list(op.acts)
    terms: list[SSAValue] = []
    if _four_bit(sch):
        half = len(acts) // 2  # words of the low nibbles' activations (values j < block / 2), then the high ones'
        words = _code_words(b, codes, at, half, w.code_alignment())
        for i, word in enumerate(words):
            terms.append(b.value(Dot4I8Op(b.andi(word, b.i32(NIBBLES)), acts[i])))
            terms.append(b.value(Dot4I8Op(b.andi(b.shrui(word, b.i32(4)), b.i32(NIBBLES)), acts[half + i])))
    else:
        words = _code_words(b, codes, at, len(acts), w.code_alignment())
        terms = [b.value(Dot4I8Op(word, act)) for word, act in zip(words, acts)]
    dot = terms[0]
    for t in terms[1:]:
        dot = b.addi(dot, t)
    zero = _zero_point(sch) if _four_bit(sch) else 0
    if zero:
        dot = b.subi(dot, b.muli(op.asum, b.i32(zero)))
    return [scale, offset, dot]


def lower_quant_load(op: Operation) -> None:
    """Replace one ``quant.load``, ``quant.load_block`` or ``quant.dot_block`` by its word loads and arithmetic."""
    b = IRBuilder(InsertPoint.before(op))
    try:
        if isinstance(op, DotBlockOp):
            new = _lower_dot(op, b)
        else:
            new = [_lower_element(op, b)] if isinstance(op, LoadOp) else _lower_block(op, b)  # type: ignore[arg-type]
    except RustyError as err:
        raise RustyError(f"{op.name}: {err}", op) from None
    Rewriter.replace_op(op, [], new)


@dataclass(frozen=True)
class LowerQuantLoadsPass(ModulePass):
    """Expands every ``quant.load``, ``quant.load_block`` and ``quant.dot_block`` into ``memref.load``s of words and
    bit arithmetic.

    Matches: ``quant.load`` / ``quant.load_block`` / ``quant.dot_block`` (inside kernels). Produces:
    ``memref.load`` of i32 words (or f16 scales), shifts, masks,
    ``rgpu.unpack_f16`` for f16 scales held in words, and codes turned into
    floats with the 2^23 exponent trick (``code_float``); for ``dot_block``,
    ``rgpu.dot4_i8`` of the code bytes (4-bit codes masked into bytes) and the
    activation words. Consecutive words of
    one block are loaded by consecutive ``memref.load``s for ``vectorize`` to
    merge. Pre-conditions: the loads' layouts are final (after ``weight-layout``).
    """

    name = "lower-quant-loads"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for load in [o for o in op.walk() if isinstance(o, LoadOp | LoadBlockOp | DotBlockOp)]:
            lower_quant_load(load)
