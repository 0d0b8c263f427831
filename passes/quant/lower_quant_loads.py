"""lower-quant-loads: ``rquant.load`` and ``rquant.load_block`` become word loads and bit arithmetic.

A stored weight is bound as 32-bit words holding its exact bytes
(``rusty_ir/weights.py`` defines each layout): as stored (``blocks``), or codes
and f16 scales apart (``split``). Codes become floats with the exponent trick:
OR-ing a code ``c < 2^23`` into the bits of ``2^23`` gives the float ``2^23 + c``
exactly, so subtracting a constant gives ``c - zero_point`` in two integer-free
float ops, where an int-to-float conversion is a slower instruction on GPUs.

The GGUF schemes whose blocks are not "f16 scale(s), then codes" (Q5_0, Q5_1, the
K-quants) are decoded by ``_Fields`` decoders (``_DECODERS``): each reads the
fields of one kernel block (``quant.kernel_block``: 32 values, a K-quant
super-block's ``block % 8``-th) at the byte offsets llama.cpp's format puts
them, for the 32 values of a ``load_block`` (words loaded once, fields taken
out with constant shifts) or the one value of a ``load`` (byte loads).
IQ4_NL has Q4_0's layout; its nibbles index ``IQ4_NL_VALUES``, packed into
four constant words.

The rewrites are patterns, one per quant load op, exported as ``QUANT_LOAD_PATTERNS`` (and
``quant_load_patterns()``) for a pass that wants them in its own walker.

Size: just over 600 lines because it holds the decoder of every scheme's block layout and the four patterns
sharing them: one lowering, read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import Float16Type, MemRefType, ModuleOp, i32
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from rusty_ir.dialects.gpu.ops import Dot4I8Op, UnpackF16Op
from rusty_ir.dialects.quant.ops import DotBlockOp, LoadBlockOp, LoadCodesOp, LoadOp, kernel_block
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.weights import IQ4_NL_VALUES, K_QUANTS, Scheme, split_layout

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
    """Schemes laid out as Q4_0/Q4_1 (f16 scale [and minimum], byte i holding values i and i + block/2)."""
    return sch.name in ("q4_0", "q4_1", "iq4_nl") or sch.name.startswith("int4")


def _signed32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


IQ4_NL_WORDS = tuple(_signed32(sum((IQ4_NL_VALUES[4 * w + i] + 128) << (8 * i) for i in range(4))) for w in range(4))
"""``IQ4_NL_VALUES`` + 128 as unsigned bytes, four to a word: value ``c`` is byte ``c % 4`` of word ``c // 4``."""


def _nibble_code(b: IRBuilder, sch: Scheme, nibble: SSAValue) -> SSAValue:
    """A 4-bit code as the f32 ``rquant.load_block`` returns: ``nibble - zero point``, or IQ4_NL's grid value."""
    if sch.name != "iq4_nl":
        return code_float(b, nibble, _zero_point(sch))
    quarter = b.shrui(nibble, b.i32(2))
    words = [b.i32(w) for w in IQ4_NL_WORDS]
    word = b.select(
        b.cmpi("eq", quarter, b.i32(0)),
        words[0],
        b.select(b.cmpi("eq", quarter, b.i32(1)), words[1], b.select(b.cmpi("eq", quarter, b.i32(2)), words[2], words[3])),
    )
    byte = b.andi(b.shrui(word, b.muli(b.andi(nibble, b.i32(3)), b.i32(8))), b.i32(0xFF))
    return code_float(b, byte, 128)


Lane = int | SSAValue
"""A value's position in its 32-value kernel block: a constant (``load_block``) or a value (``load``)."""


class _Run:
    """``count`` bytes of a weight from byte ``start``, read as fields of byte ``l``.

    With constant lanes (``load_block``) its words are loaded once (``_code_words``) and fields come out with
    constant shifts; a dynamic shift is applied to each word once. With a dynamic lane (``load``) each field is
    one byte load."""

    def __init__(self, b: IRBuilder, words: SSAValue, start: SSAValue, count: int, aligned: bool, dynamic: bool) -> None:
        self.b, self.buffer, self.start = b, words, start
        self.words = None if dynamic else _code_words(b, words, start, count // 4, aligned)
        self.shifted: dict[object, list[SSAValue]] = {}

    def field(self, lane: Lane, shift: int | SSAValue, mask: int) -> SSAValue:
        """``(byte[lane] >> shift) & mask`` as i32 (``shift`` below 8, an i32 value or a constant)."""
        b = self.b
        amount = shift if isinstance(shift, SSAValue) else b.i32(shift)
        if self.words is None:
            assert isinstance(lane, SSAValue)
            byte = _byte_of(b, self.buffer, b.addi(self.start, lane))
            return b.andi(byte if isinstance(shift, int) and shift == 0 else b.shrui(byte, amount), b.i32(mask))
        assert isinstance(lane, int)
        key = shift if isinstance(shift, int) else id(shift)
        if key not in self.shifted:
            self.shifted[key] = self.words if isinstance(shift, int) and shift == 0 else [b.shrui(w, amount) for w in self.words]
        word = self.shifted[key][lane // 4]
        return b.andi(b.shrui(word, b.i32(8 * (lane % 4))) if lane % 4 else word, b.i32(mask))


def _cast32(b: IRBuilder, x: SSAValue) -> SSAValue:
    return b.index_cast(x, i32)


def _lane_lt(b: IRBuilder, lane: Lane, n: int, yes: SSAValue, no: SSAValue) -> SSAValue:
    """``yes`` for lanes below ``n``, else ``no`` (chosen here for a constant lane, at run time otherwise)."""
    if isinstance(lane, int):
        return yes if lane < n else no
    return b.select(b.cmpi("ult", lane, b.index(n)), yes, no)


def _lane_index(b: IRBuilder, lane: Lane, div: int, mod: int | None = None) -> SSAValue:
    """``lane // div`` (or ``lane % mod``) as an index value."""
    if isinstance(lane, int):
        return b.index(lane // div if mod is None else lane % mod)
    return b.divui(lane, b.index(div)) if mod is None else b.remui(lane, b.index(mod))


@dataclass
class _Fields:
    """What a decoder needs: the builder, the weight's words, the block's addressing and whether lanes are dynamic."""

    b: IRBuilder
    words: SSAValue
    sch: Scheme
    row: SSAValue
    blk: SSAValue
    """The 32-value kernel block's index in its row."""
    k: int
    dynamic: bool

    def base(self) -> tuple[SSAValue, SSAValue]:
        """(byte offset of the block or super-block, kernel block within a K-quant super-block (index))."""
        b, sch = self.b, self.sch
        if sch.name not in K_QUANTS:
            index = b.addi(b.muli(self.row, b.index(self.k // sch.block)), self.blk)
            return b.muli(index, b.index(sch.block_bytes)), b.index(0)
        per = sch.block // 32
        sb = b.addi(b.muli(self.row, b.index(self.k // sch.block)), b.divui(self.blk, b.index(per)))
        return b.muli(sb, b.index(sch.block_bytes)), b.remui(self.blk, b.index(per))

    def run(self, start: SSAValue, count: int) -> _Run:
        aligned = self.sch.block_bytes % 4 == 0
        return _Run(self.b, self.words, start, count, aligned, self.dynamic)

    def byte(self, at: SSAValue) -> SSAValue:
        return _byte_of(self.b, self.words, at)

    def half(self, at: SSAValue) -> SSAValue:
        return _half_at_byte(self.b, self.words, at)


Decoded = tuple[SSAValue, SSAValue | None, list[SSAValue]]
"""(scale, offset or None, codes of the lanes): value = scale * code (+ offset)."""


def _decode_q5(f: _Fields, lanes: list[Lane]) -> Decoded:
    """Q5_0 (d, 4 bytes of fifth bits, 16 bytes of nibbles; code - 16) and Q5_1 (d, m, the same; code + m)."""
    b = f.b
    base, _ = f.base()
    one = f.sch.name == "q5_1"
    scale = f.half(base)
    minimum = f.half(b.addi(base, b.index(2))) if one else None
    at_qh = b.addi(base, b.index(4 if one else 2))
    (qh,) = _code_words(b, f.words, at_qh, 1, f.sch.block_bytes % 4 == 0)
    qs = f.run(b.addi(base, b.index(8 if one else 6)), 16)
    codes = []
    for lane in lanes:
        if isinstance(lane, int):
            nibble = qs.field(lane % 16, 4 * (lane // 16), 0xF)
            high = b.andi(b.shrui(qh, b.i32(lane)), b.i32(1))
        else:
            nibble = qs.field(b.remui(lane, b.index(16)), _cast32(b, b.muli(b.divui(lane, b.index(16)), b.index(4))), 0xF)
            high = b.andi(b.shrui(qh, _cast32(b, lane)), b.i32(1))
        codes.append(code_float(b, b.ori(nibble, b.shli(high, b.i32(4))), 0 if one else 16))
    return scale, minimum, codes


def _k4_scale_min(f: _Fields, at: SSAValue, i: SSAValue) -> tuple[SSAValue, SSAValue]:
    """Q4_K/Q5_K sub-block ``i``'s 6-bit scale and minimum from the 12 packed bytes at ``at``: for i < 4 the low 6
    bits of bytes i and i + 4; else byte i + 4's nibbles below the top 2 bits of bytes i - 4 and i."""
    b = f.b
    a = f.byte(b.addi(at, i))
    c = f.byte(b.addi(at, b.addi(i, b.index(4))))
    e = f.byte(b.addi(at, b.remui(i, b.index(4))))
    low = b.cmpi("ult", i, b.index(4))

    def top(v: SSAValue) -> SSAValue:
        return b.shli(b.shrui(v, b.i32(6)), b.i32(4))

    sc = b.select(low, b.andi(a, b.i32(63)), b.ori(b.andi(c, b.i32(15)), top(e)))
    m = b.select(low, b.andi(c, b.i32(63)), b.ori(b.shrui(c, b.i32(4)), top(a)))
    return sc, m


def _decode_q45_k(f: _Fields, lanes: list[Lane]) -> Decoded:
    """Q4_K (d, dmin, 12 bytes of scales, 128 of nibbles) and Q5_K (the same with 32 bytes of fifth bits before the
    nibbles): sub-block i's 32 values are the low (i even) or high nibbles of 32 bytes from 32 * (i // 2), fifth bit i
    of byte l; value = d * sc_i * q - dmin * m_i."""
    b = f.b
    base, i = f.base()
    five = f.sch.name == "q5_k"
    sc, m = _k4_scale_min(f, b.addi(base, b.index(4)), i)
    scale = b.mulf(f.half(base), code_float(b, sc, 0))
    offset = b.negf(b.mulf(f.half(b.addi(base, b.index(2))), code_float(b, m, 0)))
    qs = f.run(b.addi(base, b.addi(b.index(48 if five else 16), b.muli(b.divui(i, b.index(2)), b.index(32)))), 32)
    shift = _cast32(b, b.muli(b.remui(i, b.index(2)), b.index(4)))
    qh = f.run(b.addi(base, b.index(16)), 32) if five else None
    codes = []
    for lane in lanes:
        code = qs.field(lane, shift, 0xF)
        if qh is not None:
            code = b.ori(code, b.shli(qh.field(lane, _cast32(b, i), 1), b.i32(4)))
        codes.append(code_float(b, code, 0))
    return scale, offset, codes


def _decode_q6_k(f: _Fields, lanes: list[Lane]) -> Decoded:
    """Q6_K (128 bytes of low nibbles, 64 of high 2-bit pairs, 16 signed scales, d): kernel block i = 4h + g takes
    nibbles (g // 2) of bytes 64h + 32(g % 2) + l, bit pair g of byte 128 + 32h + l, scales 2i and 2i + 1 (lanes
    below and from 16); value = d * sc * (q - 32): scale d, code sc * (q - 32), an exact integer."""
    b = f.b
    base, i = f.base()
    h, g = b.divui(i, b.index(4)), b.remui(i, b.index(4))
    ql = f.run(b.addi(base, b.addi(b.muli(h, b.index(64)), b.muli(b.remui(g, b.index(2)), b.index(32)))), 32)
    qh = f.run(b.addi(base, b.addi(b.index(128), b.muli(h, b.index(32)))), 32)
    low_shift = _cast32(b, b.muli(b.divui(g, b.index(2)), b.index(4)))
    high_shift = _cast32(b, b.muli(g, b.index(2)))
    at_sc = b.addi(base, b.addi(b.index(192), b.muli(i, b.index(2))))
    scs = [code_float(b, b.xori(f.byte(b.addi(at_sc, b.index(t)) if t else at_sc), b.i32(0x80)), 128) for t in (0, 1)]
    codes = []
    for lane in lanes:
        q = b.ori(ql.field(lane, low_shift, 0xF), b.shli(qh.field(lane, high_shift, 3), b.i32(4)))
        codes.append(b.mulf(code_float(b, q, 32), _lane_lt(b, lane, 16, *scs)))
    return f.half(b.addi(base, b.index(208))), None, codes


def _decode_q3_k(f: _Fields, lanes: list[Lane]) -> Decoded:
    """Q3_K (32 bytes of high-bit masks, 64 of 2-bit codes, 12 of packed 6-bit scales, d): kernel block i = 4h + j
    takes bit pair j of bytes 32 + 32h + l and mask bit i of byte l (q = pair - 4 where the bit is clear), scales
    2i and 2i + 1 (scale s: low nibble of byte s % 8 (high for s >= 8) and bit pair s // 4 of byte 8 + s % 4, minus
    32); value = d * sc * q: scale d, code sc * q."""
    b = f.b
    base, i = f.base()
    hm = f.run(base, 32)
    qs = f.run(b.addi(base, b.addi(b.index(32), b.muli(b.divui(i, b.index(4)), b.index(32)))), 32)
    shift = _cast32(b, b.muli(b.remui(i, b.index(4)), b.index(2)))
    at_sc = b.addi(base, b.index(96))
    scs = []
    for t in (0, 1):
        s = b.addi(b.muli(i, b.index(2)), b.index(t)) if t else b.muli(i, b.index(2))
        low = b.andi(
            b.shrui(f.byte(b.addi(at_sc, b.remui(s, b.index(8)))), _cast32(b, b.muli(b.divui(s, b.index(8)), b.index(4)))), b.i32(15)
        )
        high = b.andi(
            b.shrui(
                f.byte(b.addi(at_sc, b.addi(b.index(8), b.remui(s, b.index(4))))), _cast32(b, b.muli(b.divui(s, b.index(4)), b.index(2)))
            ),
            b.i32(3),
        )
        scs.append(code_float(b, b.ori(low, b.shli(high, b.i32(4))), 32))
    codes = []
    for lane in lanes:
        q = b.ori(qs.field(lane, shift, 3), b.shli(hm.field(lane, _cast32(b, i), 1), b.i32(2)))
        codes.append(b.mulf(code_float(b, q, 4), _lane_lt(b, lane, 16, *scs)))
    return f.half(b.addi(base, b.index(108))), None, codes


def _decode_q2_k(f: _Fields, lanes: list[Lane]) -> Decoded:
    """Q2_K (16 bytes of 4-bit scale and minimum pairs, 64 of 2-bit codes, d, dmin): kernel block i = 4h + j takes bit
    pair j of bytes 16 + 32h + l, scale bytes 2i and 2i + 1 (lanes below and from 16); value = d * (sc & 15) * q -
    dmin * (sc >> 4). Two minimums per block: scale 1, offset 0 and the codes are the values."""
    b = f.b
    base, i = f.base()
    d, dmin = f.half(b.addi(base, b.index(80))), f.half(b.addi(base, b.index(82)))
    qs = f.run(b.addi(base, b.addi(b.index(16), b.muli(b.divui(i, b.index(4)), b.index(32)))), 32)
    shift = _cast32(b, b.muli(b.remui(i, b.index(4)), b.index(2)))
    pairs = []
    for t in (0, 1):
        sc = f.byte(b.addi(base, b.addi(b.muli(i, b.index(2)), b.index(t))))
        pairs.append((b.mulf(d, code_float(b, b.andi(sc, b.i32(15)), 0)), b.mulf(dmin, code_float(b, b.shrui(sc, b.i32(4)), 0))))
    codes = []
    for lane in lanes:
        dl = _lane_lt(b, lane, 16, pairs[0][0], pairs[1][0])
        ml = _lane_lt(b, lane, 16, pairs[0][1], pairs[1][1])
        codes.append(b.subf(b.mulf(dl, code_float(b, qs.field(lane, shift, 3), 0)), ml))
    return b.f32(1.0), None, codes


_DECODERS = {"q5_0": _decode_q5, "q5_1": _decode_q5, "q2_k": _decode_q2_k, "q3_k": _decode_q3_k, "q4_k": _decode_q45_k,
             "q5_k": _decode_q45_k, "q6_k": _decode_q6_k}  # fmt: skip
"""Decoders of the schemes whose blocks are read field by field (module docstring)."""


def _fields(op: LoadOp | LoadBlockOp, b: IRBuilder, blk: SSAValue, dynamic: bool) -> _Fields:
    (words,) = op.buffers
    return _Fields(b, words, op.scheme, op.row, blk, op.weight_shape[1], dynamic)


@dataclass(frozen=True)
class _Weight:
    """Addressing of one bound weight: where block ``blk`` of ``row`` starts, in its layout."""

    op: LoadOp | LoadBlockOp | DotBlockOp | LoadCodesOp

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
    if sch.name in _DECODERS:
        blk, lane = b.divui(col, b.index(kernel_block(sch))), b.remui(col, b.index(kernel_block(sch)))
        scale, offset, (code,) = _DECODERS[sch.name](_fields(op, b, blk, True), [lane])
        value = b.mulf(scale, code)
        return b.addf(value, offset) if offset is not None else value
    blk = b.divui(col, b.index(sch.block))
    j = b.remui(col, b.index(sch.block))
    scale, minimum, codes, at = w.header(b, row, blk)
    if _four_bit(sch):
        half = sch.block // 2
        hi = b.cmpi("uge", j, b.index(half))
        byte = _byte_of(b, codes, b.addi(at, b.select(hi, b.subi(j, b.index(half)), j)))
        nibble = b.andi(b.shrui(byte, b.select(hi, b.i32(4), b.i32(0))), b.i32(0xF))
        q = _nibble_code(b, sch, nibble)
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
        (buffer,) = op.buffers
        k = op.weight_shape[1]
        first = b.addi(b.muli(op.row, b.index(k)), b.muli(op.col, b.index(count)))  # the block's first element
        word0 = b.divui(first, b.index(4 // (16 // count)))  # 16 bytes: 4 words of 1 float or 2 halves each
        raw = [_word(b, buffer, b.addi(word0, b.index(i))) for i in range(4)]
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
    if sch.name in _DECODERS:
        scale, minimum, values = _DECODERS[sch.name](_fields(op, b, op.col, False), list(range(count)))
        return [scale, minimum if minimum is not None else zero, *values]
    scale, minimum, codes, at = w.header(b, op.row, op.col)
    offset = minimum if minimum is not None else zero
    if _four_bit(sch):
        half = sch.block // 2
        words = _code_words(b, codes, at, half // 4, w.code_alignment())
        lo = [_nibble_code(b, sch, b.andi(b.shrui(words[i // 4], b.i32(8 * (i % 4))), b.i32(0xF))) for i in range(half)]
        hi = [_nibble_code(b, sch, b.andi(b.shrui(words[i // 4], b.i32(8 * (i % 4) + 4)), b.i32(0xF))) for i in range(half)]
        return [scale, offset, *lo, *hi]
    words = _code_words(b, codes, at, sch.block // 4, w.code_alignment())
    qs = [
        code_float(b, b.xori(b.andi(b.shrui(words[j // 4], b.i32(8 * (j % 4))), b.i32(0xFF)), b.i32(0x80)), 128) for j in range(sch.block)
    ]
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


def _lower_codes(op: LoadCodesOp, b: IRBuilder) -> list[SSAValue]:
    """[scale, offset, words]: 4-bit codes as bytes (the low nibbles' words, then the high ones'), their zero point
    moved into the offset; signed bytes as they are."""
    w = _Weight(op)
    sch = w.sch
    scale, minimum, codes, at = w.header(b, op.row, op.col)
    offset = minimum if minimum is not None else b.f32(0.0)
    if not _four_bit(sch):
        return [scale, offset, *_code_words(b, codes, at, sch.block // 4, w.code_alignment())]
    words = _code_words(b, codes, at, sch.block // 8, w.code_alignment())
    lo = [b.andi(word, b.i32(NIBBLES)) for word in words]
    hi = [b.andi(b.shrui(word, b.i32(4)), b.i32(NIBBLES)) for word in words]
    zero = _zero_point(sch)
    if zero:
        offset = b.subf(offset, b.mulf(scale, b.f32(float(zero))))
    return [scale, offset, *lo, *hi]


def _replace(op: LoadOp | LoadBlockOp | DotBlockOp | LoadCodesOp, rewriter: PatternRewriter,
             lower: Callable[[IRBuilder], list[SSAValue]]) -> None:  # fmt: skip
    """Build ``op``'s expansion before it with ``lower`` and replace its results by the values returned (their
    names are left as built: a located error names the op)."""
    try:
        new = lower(IRBuilder(InsertPoint.before(op)))
    except RustyError as err:
        raise RustyError(f"{op.name}: {err}", op) from None
    for old, value in zip(op.results, new, strict=True):
        rewriter.replace_all_uses_with(old, value)
    rewriter.erase(op)


class LowerLoad(RewritePattern):
    """``rquant.load`` (one element of a weight) becomes its word or byte loads and arithmetic: the element's f32
    value (``scale * code + minimum``, a float scheme's value as it is)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LoadOp, rewriter: PatternRewriter, /) -> None:
        _replace(op, rewriter, lambda b: [_lower_element(op, b)])


class LowerLoadBlock(RewritePattern):
    """``rquant.load_block`` (one kernel block of a weight) becomes the block's word loads and bit arithmetic:
    scale, offset and the block's codes as f32 (a float scheme: 1, 0 and its 4 words' values)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LoadBlockOp, rewriter: PatternRewriter, /) -> None:
        _replace(op, rewriter, lambda b: _lower_block(op, b))


class LowerDotBlock(RewritePattern):
    """``rquant.dot_block`` becomes the block's code words, one ``rgpu.dot4_i8`` per word with the activation words
    and their sum (4-bit codes masked into bytes, the zero point taken off through ``asum``): scale, offset, dot."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: DotBlockOp, rewriter: PatternRewriter, /) -> None:
        _replace(op, rewriter, lambda b: _lower_dot(op, b))


class LowerLoadCodes(RewritePattern):
    """``rquant.load_codes`` becomes the block's code words (4-bit codes masked into bytes, the low nibbles' words
    first): scale, offset (the zero point moved into it) and the words."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: LoadCodesOp, rewriter: PatternRewriter, /) -> None:
        _replace(op, rewriter, lambda b: _lower_codes(op, b))


QUANT_LOAD_PATTERNS: tuple[type[RewritePattern], ...] = (LowerLoad, LowerLoadBlock, LowerDotBlock, LowerLoadCodes)
"""The pattern classes of ``lower-quant-loads``, one per quant load op: each replaces its op by word loads and
bit arithmetic inserted before it, touching nothing else (the order they run in does not matter)."""


def quant_load_patterns() -> list[RewritePattern]:
    """Fresh instances of ``QUANT_LOAD_PATTERNS``, for a ``GreedyRewritePatternApplier`` of another pass."""
    return [p() for p in QUANT_LOAD_PATTERNS]


@dataclass(frozen=True)
class LowerQuantLoadsPass(ModulePass):
    """Expands every ``rquant.load``, ``rquant.load_block``, ``rquant.dot_block`` and ``rquant.load_codes`` into
    ``memref.load``s of words and bit arithmetic.

    Matches: ``rquant.load`` / ``rquant.load_block`` / ``rquant.dot_block`` / ``rquant.load_codes`` (inside
    kernels). Produces:
    ``memref.load`` of i32 words (or f16 scales), shifts, masks,
    ``rgpu.unpack_f16`` for f16 scales held in words, and codes turned into
    floats with the 2^23 exponent trick (``code_float``); for ``dot_block``,
    ``rgpu.dot4_i8`` of the code bytes (4-bit codes masked into bytes) and the
    activation words; for ``load_codes``, the code words (4-bit codes masked into bytes). Consecutive words of
    one block are loaded by consecutive ``memref.load``s for ``vectorize`` to
    merge. Pre-conditions: the loads' layouts are final (after ``weight-layout``).
    """

    name = "lower-quant-loads"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(quant_load_patterns(), dce_enabled=False), apply_recursively=False)
        walker.rewrite_module(op)


__all__ = ["LowerQuantLoadsPass", "QUANT_LOAD_PATTERNS", "LowerDotBlock", "LowerLoad", "LowerLoadBlock", "LowerLoadCodes",
           "code_float", "quant_load_patterns"]  # fmt: skip
