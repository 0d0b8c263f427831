"""The ``rquant`` dialect (Python package ``quant``; not upstream MLIR's ``quant``): block-quantized weight storage at the tensor level.

Level: sits beside upstream tensor/linalg after ``convert-transformer-to-tensor``.
Its element types (``!rquant.q4_0``, ``!rquant.q4_1``, ``!rquant.q5_0``,
``!rquant.q5_1``, ``!rquant.q8_0``, ``!rquant.iq4_nl``, the K-quants ``!rquant.q2_k``,
``!rquant.q3_k``, ``!rquant.q4_k``, ``!rquant.q5_k``, ``!rquant.q6_k``, and
``!rquant.int4_g32``, ``!rquant.int4_g128``, ``!rquant.int8_g32``, ``!rquant.int8_g128``) say how a weight tensor is stored,
one per quantized scheme of ``rusty_ir.weights.SCHEMES``; ``rquant.dequantize``
and ``rquant.quantize`` convert between them and f32. Quantized weights stay
quantized in GPU memory: later passes fuse ``rquant.dequantize`` into the kernel
that consumes the weight, where (tiled level) ``rquant.load`` and
``rquant.load_block`` read values and blocks of a weight bound as raw words,
until ``lower-quant-loads`` turns them into word loads and bit arithmetic. The transformer level (``tfm``) uses the same element
types for its weights.

Once bufferized, a quantized weight is a builtin buffer, the words of its stored
bytes (``memref<51840xi32>``; upstream memrefs take no other element types), and
the quantized tensor it stores travels as an attribute where the buffer is defined
(``dispatch.weight``'s ``stored``, the ``rquant.stored`` function argument
attribute) and as ``rquant.to_tensor`` where a region reads it: passes ask
``storage.stored_tensor(value)`` / ``storage.buffer_scheme(value)``, never the
memref's element type (``rusty_ir.dialects.quant.storage``).
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.quant.attrs import (
    BLOCK_QUANT_TYPES,
    BlockQuantType,
    Int4G32Type,
    Int4G128Type,
    Int8G32Type,
    Int8G128Type,
    IQ4_NLType,
    Q2_KType,
    Q3_KType,
    Q4_0Type,
    Q4_1Type,
    Q4_KType,
    Q5_0Type,
    Q5_1Type,
    Q5_KType,
    Q6_KType,
    Q8_0Type,
    block_quant_type,
    check_block_divisible,
    element_type_for_scheme,
    storage_scheme,
    words_type,
)
from rusty_ir.dialects.quant.ops import (
    DOT_SCHEMES,
    OFFSET_SCHEMES,
    DequantizeOp,
    DotBlockOp,
    LoadBlockOp,
    LoadCodesOp,
    LoadOp,
    QuantizeOp,
    ToTensorOp,
    kernel_block,
)

Quant = Dialect(
    "rquant", [DequantizeOp, DotBlockOp, LoadBlockOp, LoadCodesOp, LoadOp, QuantizeOp, ToTensorOp], list(BLOCK_QUANT_TYPES.values())
)
"""The ``rquant`` dialect object, as registered in ``rusty_ir.dialects.DIALECTS``."""

__all__ = [
    "BLOCK_QUANT_TYPES",
    "DOT_SCHEMES",
    "OFFSET_SCHEMES",
    "BlockQuantType",
    "DequantizeOp",
    "DotBlockOp",
    "LoadBlockOp",
    "LoadCodesOp",
    "LoadOp",
    "Int4G128Type",
    "Int4G32Type",
    "Int8G128Type",
    "Int8G32Type",
    "IQ4_NLType",
    "Q2_KType",
    "Q3_KType",
    "Q4_0Type",
    "Q4_1Type",
    "Q4_KType",
    "Q5_0Type",
    "Q5_1Type",
    "Q5_KType",
    "Q6_KType",
    "Q8_0Type",
    "Quant",
    "QuantizeOp",
    "ToTensorOp",
    "block_quant_type",
    "check_block_divisible",
    "element_type_for_scheme",
    "kernel_block",
    "storage_scheme",
    "words_type",
]
