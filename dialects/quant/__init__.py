"""The ``quant`` dialect: block-quantized weight storage at the tensor level.

Level: sits beside upstream tensor/linalg after ``convert-transformer-to-tensor``.
Its element types (``!quant.q4_0``, ``!quant.q4_1``, ``!quant.q5_0``,
``!quant.q5_1``, ``!quant.q8_0``, ``!quant.iq4_nl``, the K-quants ``!quant.q2_k``,
``!quant.q3_k``, ``!quant.q4_k``, ``!quant.q5_k``, ``!quant.q6_k``, and
``!quant.int4_g32``, ``!quant.int4_g128``, ``!quant.int8_g32``, ``!quant.int8_g128``) say how a weight tensor is stored,
one per quantized scheme of ``rusty_ir.weights.SCHEMES``; ``quant.dequantize``
and ``quant.quantize`` convert between them and f32. Quantized weights stay
quantized in GPU memory: later passes fuse ``quant.dequantize`` into the kernel
that consumes the weight, where (tiled level) ``quant.load`` and
``quant.load_block`` read values and blocks of a weight bound as raw words,
until ``lower-quant-loads`` turns them into word loads and bit arithmetic. The transformer level (``tfm``) uses the same element
types for its weights.
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
)
from rusty_ir.dialects.quant.ops import DOT_SCHEMES, OFFSET_SCHEMES, DequantizeOp, DotBlockOp, LoadBlockOp, LoadOp, QuantizeOp, kernel_block

Quant = Dialect("quant", [DequantizeOp, DotBlockOp, LoadBlockOp, LoadOp, QuantizeOp], list(BLOCK_QUANT_TYPES.values()))
"""The ``quant`` dialect object, as registered in ``rusty_ir.dialects.DIALECTS``."""

__all__ = [
    "BLOCK_QUANT_TYPES",
    "DOT_SCHEMES",
    "OFFSET_SCHEMES",
    "BlockQuantType",
    "DequantizeOp",
    "DotBlockOp",
    "LoadBlockOp",
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
    "block_quant_type",
    "check_block_divisible",
    "element_type_for_scheme",
    "kernel_block",
    "storage_scheme",
]
