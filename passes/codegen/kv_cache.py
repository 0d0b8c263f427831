"""Reading and writing the KV cache inside a kernel: paged rows, f16 and q8_0 elements.

A cache row holds one position's ``W`` values (``W`` = kv heads x head dim) as

- ``f32`` or ``f16``: ``memref<?xWxf32|f16>``, read and written element by element;
- ``q8_0`` (``!rquant.q8_0``): q8_0's precision and size (signed 8-bit codes, an f16 scale per 32
  values, 1.0625 bytes a value), laid out for stores that never share a word between threads:
  the row is ``W / 4`` words of codes (4 per word, in order) followed by ``W / 64`` words of
  scales (two f16 per word: blocks ``2g`` and ``2g + 1``). From the tensor level on the buffer is
  those words, ``memref<?x(W/4 + W/64)xi32>`` (``linalg_ext.kv_cache_buffer_type``; the ops that
  take it say ``cache_element = !rquant.q8_0``), and the kernels bind it as it is; one invocation
  writes a whole 64-value group (16 code words and its scale word).

A paged cache reaches position ``t`` at row ``table[t / B] * B + t % B`` (``cache_row``).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import IntegerType, MemRefType, i32
from xdsl.ir import SSAValue

from rusty_ir.dialects.gpu.ops import PackF16Op, UnpackF16Op
from rusty_ir.dialects.linalg_ext import AttentionOp, CacheAppendOp
from rusty_ir.dialects.linalg_ext.ops import Q8_BLOCK, Q8_GROUP, q8_row_words
from rusty_ir.passes.builder import IRBuilder


def sign_extend_byte(b: IRBuilder, byte: SSAValue) -> SSAValue:
    return b.shrsi(b.shli(byte, b.i32(24)), b.i32(24))


def _row_type(cache: SSAValue) -> MemRefType:
    ty = cache.type
    assert isinstance(ty, MemRefType)
    return ty


def is_q8(cache: SSAValue) -> bool:
    """Whether a (region-level) cache value holds q8_0 rows: the words of them, ``memref<?xRxi32>`` (the
    ``linalg_ext`` verifiers allow a cache of i32 words only with ``cache_element = !rquant.q8_0``)."""
    return isinstance(_row_type(cache).element_type, IntegerType)


def _code_words(cache: SSAValue) -> int:
    """Words of codes of a q8_0 cache row (``W / 4`` of its ``W / 4 + W / 64`` words), the first of its scales."""
    words = _row_type(cache).get_shape()[1]
    codes = words * 16 // 17
    assert q8_row_words(4 * codes) == words, f"not the words of a q8_0 row: {cache.type}"
    return codes


def cache_row(b: IRBuilder, op: CacheAppendOp | AttentionOp, table: SSAValue | None, t: SSAValue) -> SSAValue:
    """The cache row of position ``t``: ``t``, or ``table[t / B] * B + t % B`` for a paged cache
    (``table`` the kernel's block-table argument)."""
    if table is None or op.block_size is None:
        return t
    block = b.index(op.block_size.value.data)
    physical = b.to_index(b.value(memref.LoadOp.get(table, [b.divui(t, block)])))
    return b.addi(b.muli(physical, block), b.remui(t, block))


def cache_load(b: IRBuilder, cache: SSAValue, buf: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
    """Element ``col`` of cache row ``row`` as f32 (``cache`` the region-level value, ``buf`` the kernel's)."""
    if not is_q8(cache):
        return b.to_f32(b.value(memref.LoadOp.get(buf, [row, col])))
    word = b.value(memref.LoadOp.get(buf, [row, b.divui(col, b.index(4))]))
    shift = b.index_cast(b.muli(b.remui(col, b.index(4)), b.index(8)), i32)
    code = sign_extend_byte(b, b.andi(b.shrui(word, shift), b.i32(0xFF)))
    return b.mulf(b.sitofp(code), _q8_scale(b, cache, buf, row, col))


def _q8_scale(b: IRBuilder, cache: SSAValue, buf: SSAValue, row: SSAValue, col: SSAValue) -> SSAValue:
    """The f16 scale of the q8_0 block holding element ``col`` of row ``row``, as f32."""
    scales = b.value(memref.LoadOp.get(buf, [row, b.addi(b.index(_code_words(cache)), b.divui(col, b.index(Q8_GROUP)))]))
    half = b.index_cast(b.muli(b.remui(b.divui(col, b.index(Q8_BLOCK)), b.index(2)), b.index(16)), i32)
    return b.value(UnpackF16Op(b.shrui(scales, half), "lo"))


def cache_load_run(b: IRBuilder, cache: SSAValue, buf: SSAValue, row: SSAValue, col: SSAValue, count: int) -> list[SSAValue]:
    """Elements ``col .. col + count - 1`` of cache row ``row`` as f32. For q8_0 and ``count`` 4 (``col`` a
    multiple of 4) the four codes share one word load and one scale load; otherwise element by element."""
    if not is_q8(cache) or count != 4:
        return [cache_load(b, cache, buf, row, b.addi(col, b.index(u))) for u in range(count)]
    word = b.value(memref.LoadOp.get(buf, [row, b.divui(col, b.index(4))]))
    scale = _q8_scale(b, cache, buf, row, col)
    codes = [sign_extend_byte(b, b.andi(b.shrui(word, b.i32(8 * u)) if u else word, b.i32(0xFF))) for u in range(4)]
    return [b.mulf(b.sitofp(code), scale) for code in codes]


def store_cache(b: IRBuilder, value: SSAValue, buf: SSAValue, row: SSAValue, col: SSAValue) -> None:
    """Store an f32 ``value`` into an f32 or f16 cache row (rounded to f16 there)."""
    elem = _row_type(buf).element_type
    if value.type != elem:
        value = b.value(arith.TruncFOp(value, elem))
    b.insert(memref.StoreOp.get(value, buf, [row, col]))


def store_q8_group(b: IRBuilder, values: Sequence[SSAValue], buf: SSAValue, row: SSAValue, group: SSAValue, width: int) -> None:
    """Quantize the 64 f32 ``values`` of group ``group`` of a q8_0 row and store its 16 code words and scale word.

    Each block of 32 gets scale ``max|v| / 127`` (stored as f16) and codes ``roundeven(v * 127 / max|v|)``
    (0 for an all-zero block).
    """
    scales: list[SSAValue] = []
    for blk in range(2):
        block = values[blk * Q8_BLOCK : (blk + 1) * Q8_BLOCK]
        amax = b.absf(block[0])
        for v in block[1:]:
            amax = b.maximumf(amax, b.absf(v))
        nonzero = b.cmpf("ogt", amax, b.f32(0.0))
        inverse = b.select(nonzero, b.divf(b.f32(127.0), amax), b.f32(0.0))
        scales.append(b.divf(amax, b.f32(127.0)))
        for w in range(Q8_BLOCK // 4):
            word = None
            for k in range(4):
                code = b.value(arith.FPToSIOp(b.roundeven(b.mulf(block[4 * w + k], inverse)), i32))
                byte = b.andi(code, b.i32(0xFF))
                byte = byte if k == 0 else b.shli(byte, b.i32(8 * k))
                word = byte if word is None else b.ori(word, byte)
            assert word is not None
            col = b.addi(b.muli(group, b.index(Q8_GROUP // 4)), b.index(blk * Q8_BLOCK // 4 + w))
            b.insert(memref.StoreOp.get(word, buf, [row, col]))
    b.insert(memref.StoreOp.get(b.value(PackF16Op(scales[0], scales[1])), buf, [row, b.addi(b.index(width // 4), group)]))


__all__ = [
    "Q8_BLOCK",
    "Q8_GROUP",
    "cache_load",
    "cache_load_run",
    "cache_row",
    "is_q8",
    "q8_row_words",
    "store_cache",
    "store_q8_group",
]
