"""Ops of the ``linalg_ext`` dialect."""

from __future__ import annotations

import math

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    Float16Type,
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    TensorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import MemoryReadEffect, MemoryWriteEffect, Pure
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant.attrs import BlockQuantType, Q8_0Type
from rusty_ir.narrow import element_type
from rusty_ir.sampling import SAMPLING_WORDS


def _rows_of(value: SSAValue, what: str) -> tuple[int, int]:
    ty = value.type
    if not isinstance(ty, TensorType | MemRefType) or len(ty.get_shape()) != 2:
        raise VerifyException(f"{what} must be a 2-D tensor or memref, got {ty}")
    rows, width = ty.get_shape()
    return rows, width


def _int(v: int) -> IntegerAttr:
    return IntegerAttr(v, i64)


BLOCK_TABLE_TYPE = MemRefType(i32, [DYNAMIC_INDEX])
"""A paged KV cache's block table: entry ``b`` is the physical block holding positions ``b*B .. b*B+B-1``."""


def cache_rows(block_size: int | None) -> str:
    """How a position reaches its cache row, for the ops' docs and errors."""
    return "row t" if block_size is None else f"row table[t / {block_size}] * {block_size} + t % {block_size}"


Q8_BLOCK = 32
"""Values per f16 scale of a q8_0 KV cache row."""
Q8_GROUP = 2 * Q8_BLOCK
"""Values of a q8_0 KV cache row that share a scale word (two blocks); a row holds a whole number of them."""


def q8_row_words(width: int) -> int:
    """32-bit words of a q8_0 KV cache row of ``width`` values: ``width / 4`` words of codes (4 per word, in
    order), then ``width / 64`` words of scales (two f16 per word); ``width`` must be a multiple of 64."""
    if width <= 0 or width % Q8_GROUP:
        raise ValueError(f"a q8_0 KV cache needs rows of a positive multiple of {Q8_GROUP} values, got {width}")
    return width // 4 + width // Q8_GROUP


def kv_cache_buffer_type(element_type: Attribute, width: int) -> MemRefType:
    """The buffer of one layer's K (or V) cache whose rows hold ``width`` values of ``element_type``:
    ``memref<?xWxf32>``/``memref<?xWxf16>``, or for ``!rquant.q8_0`` the words of its rows,
    ``memref<?x(W/4 + W/64)xi32>`` (``q8_row_words``; upstream memrefs take only builtin element types, so the
    scheme travels as the ops' ``cache_element`` property and ``dispatch.kv_cache``'s ``element_type``)."""
    if isinstance(element_type, Q8_0Type):
        return MemRefType(i32, [DYNAMIC_INDEX, q8_row_words(width)])
    return MemRefType(element_type, [DYNAMIC_INDEX, width])


def _verify_caches(k_cache: SSAValue, v_cache: SSAValue, cache_element: Attribute | None, width: int) -> None:
    """K and V caches of rows of ``width`` values: both f32 or both f16 (no ``cache_element``; their widths are
    the ops' to check), or both ``kv_cache_buffer_type(!rquant.q8_0, width)``, the words of q8_0 rows
    (``cache_element = !rquant.q8_0``)."""
    if cache_element is not None:
        if not isinstance(cache_element, Q8_0Type):
            raise VerifyException(f"cache_element must be !rquant.q8_0 (the only scheme a KV cache stores as words), got {cache_element}")
        if width % Q8_GROUP:
            raise VerifyException(f"a q8_0 KV cache needs rows of a multiple of {Q8_GROUP} values, got {width}")
        want = kv_cache_buffer_type(cache_element, width)
        for v, n in ((k_cache, "k_cache"), (v_cache, "v_cache")):
            if v.type != want:
                raise VerifyException(f"{n} of q8_0 rows of {width} values must be {want} (the words of its rows), got {v.type}")
        return
    types = {element_type(k_cache), element_type(v_cache)}
    if len(types) != 1 or not isinstance(types.pop(), Float32Type | Float16Type):
        raise VerifyException("the K and V caches must both hold f32, both f16 or both q8_0 (i32 words, with cache_element = !rquant.q8_0)")


def _cache_props(block_size: int | None, cache_element: Attribute | None) -> dict[str, Attribute]:
    """The ``block_size`` and ``cache_element`` properties of a cache op, those given."""
    props: dict[str, Attribute] = {}
    if block_size is not None:
        props["block_size"] = _int(block_size)
    if cache_element is not None:
        props["cache_element"] = cache_element
    return props


def _verify_paging(op: CacheAppendOp | AttentionOp) -> None:
    """A block table and a block size come together; the size is positive."""
    if (op.block_table is None) != (op.block_size is None):
        raise VerifyException("a paged cache needs both a block table operand and block_size")
    if op.block_size is not None and op.block_size.value.data <= 0:
        raise VerifyException(f"block_size must be positive, got {op.block_size.value.data}")


@irdl_op_definition
class CacheAppendOp(IRDLOperation):
    """Write new key and value rows into a layer's KV cache.

    Semantics: for each row ``s`` of ``keys``/``values`` (``S x W``), writes
    ``k_cache[r, :] = keys[s, :]`` and ``v_cache[r, :] = values[s, :]`` where ``r``
    is the cache row of position ``t = pos + s``: ``t`` itself, or, for a paged
    cache (a ``block_table`` operand and ``block_size`` B), ``table[t / B] * B +
    t % B``. The caches may hold f16 (the f32 rows are rounded as they are
    stored) or, with ``cache_element = !rquant.q8_0``, q8_0 rows stored as
    words (``memref<?x(W/4 + W/64)xi32>``, ``kv_cache_buffer_type``: each
    block of 32 values is quantized to 8-bit codes with an f16 scale
    ``max|v| / 127``). They are buffers (``dispatch.cache``), written in place.
    Writing past the cache's rows (or the table's blocks) is undefined
    behaviour; the runtime refuses such prompts.

    Pipeline: made by ``convert-transformer-to-tensor`` from ``tfm.attention``;
    the root of a dispatch region (elementwise strategy) into which the RoPE of
    the keys is fused.

    Example:
        linalg_ext.cache_append %k, %v into %kc, %vc at %pos : tensor<?x192xf32>, tensor<?x192xf32>, memref<?x192xf32>, memref<?x192xf32>
        linalg_ext.cache_append %k, %v into %kc, %vc at %pos pages %table {block_size = 16 : i64} : tensor<?x192xf32>, tensor<?x192xf32>, memref<?x192xf16>, memref<?x192xf16>
        linalg_ext.cache_append %k, %v into %kc, %vc at %pos {cache_element = !rquant.q8_0} : tensor<?x192xf32>, tensor<?x192xf32>, memref<?x51xi32>, memref<?x51xi32>
    """

    name = "linalg_ext.cache_append"

    keys = operand_def(TensorType)
    values = operand_def(TensorType)
    k_cache = operand_def(MemRefType)
    v_cache = operand_def(MemRefType)
    pos = operand_def(IndexType)
    block_table = opt_operand_def(BLOCK_TABLE_TYPE)
    block_size = opt_prop_def(IntegerAttr[I64])
    cache_element = opt_prop_def(BlockQuantType)
    """What the caches' rows hold when they are words (``!rquant.q8_0``, the only such scheme); absent: the
    caches' element type (f32 or f16) is what they hold."""

    traits = traits_def(MemoryWriteEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$keys `,` $values `into` $k_cache `,` $v_cache `at` $pos (`pages` $block_table^)? attr-dict "
        "`:` type($keys) `,` type($values) `,` type($k_cache) `,` type($v_cache)"
    )

    def __init__(
        self, keys: SSAValue, values: SSAValue, k_cache: SSAValue, v_cache: SSAValue, pos: SSAValue,
        block_table: SSAValue | None = None, block_size: int | None = None, cache_element: Attribute | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            operands=[keys, values, k_cache, v_cache, pos, block_table],
            properties=_cache_props(block_size, cache_element),
        )

    def verify_(self) -> None:
        rows = [(self.keys, "keys"), (self.values, "values")]
        if self.cache_element is None:  # q8_0 caches are rows of words: _verify_caches checks their width
            rows += [(self.k_cache, "k_cache"), (self.v_cache, "v_cache")]
        widths = {_rows_of(v, n)[1] for v, n in rows}
        if len(widths) != 1:
            raise VerifyException("keys, values and both caches must have the same row width")
        _verify_caches(self.k_cache, self.v_cache, self.cache_element, widths.pop())
        _verify_paging(self)


@irdl_op_definition
class AttentionOp(IRDLOperation):
    """Causal grouped-query attention of new query rows over a layer's KV cache.

    Semantics: ``query`` is ``S x (num_heads * head_dim)``; the caches are
    ``T x (num_kv_heads * head_dim)`` buffers whose first ``pos + S`` rows are
    valid. Row ``s``, head ``h`` attends over cache positions ``0 .. pos + s``
    of kv head ``h / (num_heads / num_kv_heads)``:
    ``softmax(scale * q . K^T) . V``. With ``window = W`` row ``s`` sees only positions
    ``t > pos + s - W`` (sliding-window attention); with ``softcap = c`` the scaled
    scores become ``c * tanh(x / c)`` before the mask and the softmax (Gemma 2's
    attention-logit soft-capping). The caches are only read; f16 caches are
    read as f32, and with ``cache_element = !rquant.q8_0`` the caches are the
    words of q8_0 rows (``kv_cache_buffer_type``), read as their codes times
    their scales. A paged cache (``block_table`` and ``block_size``) holds
    position ``t`` in row ``table[t / B] * B + t % B``, as ``cache_append`` wrote it.

    Pipeline: made by ``convert-transformer-to-tensor`` from ``tfm.attention``;
    the root of an attention-strategy dispatch region (online softmax over KV
    tiles), into which the RoPE of the queries is fused.

    Example:
        %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 9 : i64, num_kv_heads = 3 : i64, head_dim = 64 : i64, scale = 0.125 : f32} : tensor<?x576xf32>, memref<?x192xf32>, memref<?x192xf32> -> tensor<?x576xf32>
        %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 8 : i64, num_kv_heads = 4 : i64, head_dim = 256 : i64, scale = 0.0625 : f32, softcap = 50.0 : f32, window = 4096 : i64} : tensor<?x2048xf32>, memref<?x1024xf32>, memref<?x1024xf32> -> tensor<?x2048xf32>
        %o = linalg_ext.attention %q, %kc, %vc, %pos {num_heads = 9 : i64, num_kv_heads = 3 : i64, head_dim = 64 : i64, scale = 0.125 : f32, cache_element = !rquant.q8_0} : tensor<?x576xf32>, memref<?x51xi32>, memref<?x51xi32> -> tensor<?x576xf32>
    """

    name = "linalg_ext.attention"

    query = operand_def(TensorType)
    k_cache = operand_def(MemRefType)
    v_cache = operand_def(MemRefType)
    pos = operand_def(IndexType)
    block_table = opt_operand_def(BLOCK_TABLE_TYPE)
    num_heads = prop_def(IntegerAttr[I64])
    num_kv_heads = prop_def(IntegerAttr[I64])
    head_dim = prop_def(IntegerAttr[I64])
    scale = prop_def(FloatAttr[Float32Type])
    block_size = opt_prop_def(IntegerAttr[I64])
    cache_element = opt_prop_def(BlockQuantType)
    """What the caches' rows hold when they are words (``!rquant.q8_0``, the only such scheme); absent: the
    caches' element type (f32 or f16) is what they hold."""
    window = opt_prop_def(IntegerAttr[I64])
    """Sliding-window attention: each row sees its last ``window`` positions (itself included); absent: all."""
    softcap = opt_prop_def(FloatAttr[Float32Type])
    """Attention-logit soft-capping of the scaled scores; absent: none."""
    result = result_def(TensorType)

    traits = traits_def(MemoryReadEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$query `,` $k_cache `,` $v_cache `,` $pos (`pages` $block_table^)? attr-dict "
        "`:` type($query) `,` type($k_cache) `,` type($v_cache) `->` type($result)"
    )

    def __init__(
        self,
        query: SSAValue,
        k_cache: SSAValue,
        v_cache: SSAValue,
        pos: SSAValue,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        block_table: SSAValue | None = None,
        block_size: int | None = None,
        window: int | None = None,
        softcap: float | None = None,
        cache_element: Attribute | None = None,
    ) -> None:
        super().__init__(
            operands=[query, k_cache, v_cache, pos, block_table],
            properties={
                "num_heads": _int(num_heads),
                "num_kv_heads": _int(num_kv_heads),
                "head_dim": _int(head_dim),
                "scale": FloatAttr(scale, Float32Type()),
                **_cache_props(block_size, cache_element),
                **({} if window is None else {"window": _int(window)}),
                **({} if softcap is None else {"softcap": FloatAttr(softcap, Float32Type())}),
            },
            result_types=[query.type],
        )

    def verify_(self) -> None:
        h, kvh, d = (a.value.data for a in (self.num_heads, self.num_kv_heads, self.head_dim))
        if min(h, kvh, d) <= 0 or h % kvh:
            raise VerifyException(f"num_heads ({h}) must be a positive multiple of num_kv_heads ({kvh})")
        if _rows_of(self.query, "query")[1] != h * d:
            raise VerifyException(f"query width must be num_heads * head_dim = {h * d}")
        for v, n in ((self.k_cache, "k_cache"), (self.v_cache, "v_cache")):
            if self.cache_element is None and _rows_of(v, n)[1] != kvh * d:
                raise VerifyException(f"{n} width must be num_kv_heads * head_dim = {kvh * d}")
        if self.result.type != self.query.type:
            raise VerifyException("result type must equal the query type")
        _verify_caches(self.k_cache, self.v_cache, self.cache_element, kvh * d)
        _verify_paging(self)
        if self.window is not None and self.window.value.data <= 0:
            raise VerifyException(f"window must be positive, got {self.window.value.data}")
        if self.softcap is not None and not (math.isfinite(self.softcap.value.data) and self.softcap.value.data > 0):
            raise VerifyException(f"softcap must be a finite number above 0, got {self.softcap.value.data}")

    @property
    def window_size(self) -> int | None:
        """``window`` as an int, or None (full causal attention)."""
        return None if self.window is None else self.window.value.data

    @property
    def softcap_value(self) -> float | None:
        """``softcap`` as a float, or None."""
        return None if self.softcap is None else self.softcap.value.data


@irdl_op_definition
class ArgmaxOp(IRDLOperation):
    """Index of the largest element of a vector, or of every row of a matrix.

    Semantics: for a vector ``input`` of ``V`` f32, ``result[0]`` is the smallest
    ``i`` with ``input[i] == max(input)``; for a matrix ``[S, V]``, ``result[r]`` is
    that index for row ``r`` (``S`` may be dynamic). NaNs are never the maximum.
    The result is a tensor so that it lives in a buffer the host can read back:
    only the token ids leave the GPU.

    Pipeline: made from ``tfm.argmax`` (a vector: one token for decoding) and
    ``tfm.row_argmax`` (rows: the greedy token after every position of a
    verification step); a row-strategy dispatch region, one workgroup per row.

    Example:
        %id = linalg_ext.argmax %logits : tensor<49152xf32> -> tensor<1xi32>
        %ids = linalg_ext.argmax %rows : tensor<?x49152xf32> -> tensor<?xi32>
    """

    name = "linalg_ext.argmax"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue) -> None:
        ty = input.type
        assert isinstance(ty, TensorType)
        rows = ty.get_shape()[:-1] or (1,)
        super().__init__(operands=[input], result_types=[TensorType(i32, rows)])

    def verify_(self) -> None:
        ty = self.input.type
        assert isinstance(ty, TensorType)
        shape = ty.get_shape()
        if len(shape) not in (1, 2) or not isinstance(ty.element_type, Float32Type):
            raise VerifyException(f"input must be a 1-D or 2-D f32 tensor, got {ty}")
        want = TensorType(i32, shape[:-1] or (1,))
        if self.result.type != want:
            raise VerifyException(f"result must be {want} (one i32 per row), got {self.result.type}")


@irdl_op_definition
class SampleOp(IRDLOperation):
    """A token drawn from a vector of logits under packed sampling options, or one from every row of a matrix.

    Semantics: those of ``tfm.sample`` (``rusty_ir.sampling.sample_token``):
    ``params`` holds the ``SAMPLING_WORDS`` int32 words of ``rusty_ir.sampling.pack``
    (temperature, top-k, top-p, min-p, the penalties and their (id, count) pairs,
    the draw's uniform ``u``). ``result[0]`` is the token: with temperature 0 the
    smallest index of the largest penalized logit; otherwise the kept token whose
    running weight ``exp(z - max z)``, in ascending index order, first exceeds
    ``u`` times the kept total. For a matrix ``[S, V]`` of logits, ``params`` is
    ``[S, SAMPLING_WORDS]`` (``S`` may be dynamic) and ``result[r]`` is row ``r``'s
    token under its own words (``tfm.row_sample``). Like ``argmax``, the result is
    a tensor so that only the token ids leave the GPU.

    Pipeline: made from ``tfm.sample`` and ``tfm.row_sample``; a region of its own
    lowered by the ``sample`` strategy (passes/codegen/sampling.py: a workgroup per
    row, or per chunk of a row with launches in a row for a long vocabulary;
    thresholds found by bisection over the logits' order-preserving integer keys,
    then the draw).

    Example:
        %id = linalg_ext.sample %logits, %params : tensor<49152xf32>, tensor<521xi32> -> tensor<1xi32>
        %ids = linalg_ext.sample %rows, %rp : tensor<?x49152xf32>, tensor<?x521xi32> -> tensor<?xi32>
    """

    name = "linalg_ext.sample"

    input = operand_def(TensorType)
    params = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input `,` $params attr-dict `:` type($input) `,` type($params) `->` type($result)"

    def __init__(self, input: SSAValue, params: SSAValue) -> None:
        ty = input.type
        assert isinstance(ty, TensorType)
        super().__init__(operands=[input, params], result_types=[TensorType(i32, ty.get_shape()[:-1] or (1,))])

    def verify_(self) -> None:
        ty = self.input.type
        assert isinstance(ty, TensorType)
        shape = ty.get_shape()
        if len(shape) not in (1, 2) or shape[-1] == 0 or not isinstance(ty.element_type, Float32Type):
            raise VerifyException(f"input must be a non-empty 1-D or 2-D f32 tensor, got {ty}")
        rows = shape[:-1]
        if self.params.type != TensorType(i32, [*rows, SAMPLING_WORDS]):
            want = "x".join(["?" if d == DYNAMIC_INDEX else str(d) for d in rows] + [str(SAMPLING_WORDS)])
            per_row = ", a row per input row" if rows else ""
            raise VerifyException(f"params must be tensor<{want}xi32> (rusty_ir.sampling.pack{per_row}), got {self.params.type}")
        if self.result.type != TensorType(i32, rows or (1,)):
            raise VerifyException(f"result must be {TensorType(i32, rows or (1,))} (one i32 per row), got {self.result.type}")
