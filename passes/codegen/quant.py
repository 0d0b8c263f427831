"""Reading stored weights inside a kernel: byte and half loads from 32-bit words, and block dequantization.

A stored weight is bound as ``memref<Nxi32>`` holding its exact bytes
(``rusty_ir/weights.py`` defines each layout). ``WeightReader`` turns an
element index into IR that loads and decodes it. Contractions walk a weight
block by block: ``header`` loads a block's scales once, ``element`` decodes
one value of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith
from xdsl.dialects.builtin import i32
from xdsl.ir import SSAValue

from rusty_ir.dialects.gpu.ops import UnpackF16Op
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.weights import Scheme


def load_word(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    from xdsl.dialects import memref

    return b.value(memref.LoadOp.get(words, [b.divui(byte_offset, b.index(4))]))


def load_byte(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    """The unsigned byte at ``byte_offset`` as i32."""
    word = load_word(b, words, byte_offset)
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    return b.andi(b.shrui(word, shift), b.i32(0xFF))


def load_half(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    """The IEEE half at an even ``byte_offset``, as f32."""
    word = load_word(b, words, byte_offset)
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    return b.value(UnpackF16Op(b.shrui(word, shift), "lo"))


def load_bf16(b: IRBuilder, words: SSAValue, byte_offset: SSAValue) -> SSAValue:
    word = load_word(b, words, byte_offset)
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    bits = b.shli(b.andi(b.shrui(word, shift), b.i32(0xFFFF)), b.i32(16))
    return b.value(arith.BitcastOp(bits, F32))


def load_code_words(b: IRBuilder, words: SSAValue, byte_offset: SSAValue, count: int, aligned: bool) -> list[SSAValue]:
    """``count`` 32-bit words of the bytes at ``byte_offset`` (which is at least 2-byte aligned).

    Aligned offsets are plain loads. Otherwise the offset is 0 or 2 modulo 4:
    one extra word is loaded and neighbours are funnel-shifted by 16 bits
    (selected at run time, since the block's alignment depends on its index).
    A word past the end of the buffer may be read and discarded; WebGPU
    clamps out-of-bounds reads.
    """
    from xdsl.dialects import memref

    first = b.divui(byte_offset, b.index(4))
    raw = [b.value(memref.LoadOp.get(words, [b.addi(first, b.index(i))])) for i in range(count + (0 if aligned else 1))]
    if aligned:
        return raw
    shift = b.index_cast(b.muli(b.remui(byte_offset, b.index(4)), b.index(8)), i32)
    even = b.cmpi("eq", shift, b.i32(0))
    back = b.subi(b.i32(32), shift)
    return [b.select(even, raw[i], b.ori(b.shrui(raw[i], shift), b.shli(raw[i + 1], back))) for i in range(count)]


def sign_extend_byte(b: IRBuilder, byte: SSAValue) -> SSAValue:
    return b.shrsi(b.shli(byte, b.i32(24)), b.i32(24))


@dataclass(frozen=True)
class BlockHeader:
    """What a block's decoding needs once: its byte offset and scales."""

    base: SSAValue
    scale: SSAValue
    minimum: SSAValue | None = None


@dataclass(frozen=True)
class WeightReader:
    """Decodes elements of a ``[rows, row_length]`` weight stored in ``scheme``, bound as words."""

    words: SSAValue
    scheme: Scheme
    row_length: int

    @property
    def block(self) -> int:
        return self.scheme.block

    @property
    def blockwise(self) -> bool:
        return self.scheme.quantized

    def _check(self) -> None:
        if self.scheme.name in ("q4_k", "q6_k"):
            raise RustyError(f"in-kernel dequantization of {self.scheme.name} is not implemented yet (q4_0, q4_1, q8_0, int4/int8 are)")

    def header(self, b: IRBuilder, row: SSAValue, blk: SSAValue) -> BlockHeader:
        """Load block ``blk`` of ``row``'s scales."""
        self._check()
        sch = self.scheme
        row_bytes = b.index(sch.row_bytes(self.row_length))
        base = b.addi(b.muli(row, row_bytes), b.muli(blk, b.index(sch.block_bytes)))
        scale = load_half(b, self.words, base)
        minimum = load_half(b, self.words, b.addi(base, b.index(2))) if sch.name == "q4_1" else None
        return BlockHeader(base, scale, minimum)

    def element(self, b: IRBuilder, head: BlockHeader, j: SSAValue) -> SSAValue:
        """Value ``j`` (0 <= j < block) of the block described by ``head``."""
        name = self.scheme.name
        if name in ("q8_0",) or name.startswith("int8"):
            q = sign_extend_byte(b, load_byte(b, self.words, b.addi(head.base, b.addi(b.index(2), j))))
            return b.mulf(head.scale, b.sitofp(q))
        # 4-bit codes: byte i of the block holds element i (low nibble) and i + block/2 (high)
        half = self.block // 2
        codes_at = 4 if name == "q4_1" else 2
        hi = b.cmpi("uge", j, b.index(half))
        byte_index = b.select(hi, b.subi(j, b.index(half)), j)
        byte = load_byte(b, self.words, b.addi(head.base, b.addi(b.index(codes_at), byte_index)))
        nibble = b.andi(b.shrui(byte, b.select(hi, b.i32(4), b.i32(0))), b.i32(0xF))
        if name == "q4_1":
            assert head.minimum is not None
            return b.addf(b.mulf(head.scale, b.sitofp(nibble)), head.minimum)
        return b.mulf(head.scale, b.sitofp(b.subi(nibble, b.i32(8))))

    def block_values(self, b: IRBuilder, head: BlockHeader) -> list[SSAValue]:
        """All ``block`` values of a block, unrolled: each 32-bit word of codes is loaded once.

        Codes are read as whole words (``load_code_words``), so a Q4 word
        yields eight 4-bit codes and a Q8 word four bytes.
        """
        name = self.scheme.name
        block = self.block
        aligned = self.scheme.block_bytes % 4 == 0 and self.scheme.row_bytes(self.row_length) % 4 == 0
        if name == "q8_0" or name.startswith("int8"):
            words = load_code_words(b, self.words, b.addi(head.base, b.index(2)), block // 4, aligned)
            codes = [
                b.shrsi(b.shli(words[j // 4], b.i32(24 - 8 * (j % 4))), b.i32(24)) for j in range(block)
            ]  # sign-extended bytes
            return [b.mulf(head.scale, b.sitofp(q)) for q in codes]
        half = block // 2
        codes_at = 4 if name == "q4_1" else 2
        words = load_code_words(b, self.words, b.addi(head.base, b.index(codes_at)), half // 4, aligned and codes_at % 4 == 0)
        codes = [b.andi(b.shrui(words[i // 4], b.i32(8 * (i % 4))), b.i32(0xFF)) for i in range(half)]
        nibbles = [b.andi(c, b.i32(0xF)) for c in codes] + [b.shrui(c, b.i32(4)) for c in codes]
        if name == "q4_1":
            assert head.minimum is not None
            return [b.addf(b.mulf(head.scale, b.sitofp(q)), head.minimum) for q in nibbles]
        return [b.mulf(head.scale, b.sitofp(b.subi(q, b.i32(8)))) for q in nibbles]

    def at(self, b: IRBuilder, row: SSAValue, col: SSAValue) -> SSAValue:
        """The element at ``(row, col)``, for any scheme."""
        sch = self.scheme
        if not sch.quantized:
            width = 2
            offset = b.muli(b.addi(b.muli(row, b.index(self.row_length)), col), b.index(width))
            return load_bf16(b, self.words, offset) if sch.name == "bf16" else load_half(b, self.words, offset)
        blk = b.divui(col, b.index(self.block))
        return self.element(b, self.header(b, row, blk), b.remui(col, b.index(self.block)))
