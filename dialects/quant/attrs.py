"""Types of the ``rquant`` dialect: one block-quantized element type per storage scheme.

Each type names one quantized scheme of ``rusty_ir.weights.SCHEMES`` and has no
parameters, so it prints as a single word: ``!rquant.q4_1``, ``!rquant.int4_g32``.
It is an *element* type: a quantized weight is ``tensor<576x576x!rquant.q4_1>``,
whose logical shape is the shape of the values it encodes (576 x 576 floats),
not of its bytes. The byte layout of each scheme is defined once, in
``rusty_ir/weights.py``; ``.scheme`` returns that ``Scheme``.

Blocks never span two rows, so a tensor of a block type needs a last dimension
divisible by the block size; the ops that take such tensors verify it
(``check_block_divisible``), since a type parameter cannot see the shape around it.

Rationale: MLIR's quant dialect (hence the name ``rquant`` here) models per-tensor/per-axis affine quantization
(``!quant.uniform<i8:f32, 0.1:-3>``), where the scale is a compile-time constant.
GGUF-style schemes keep a scale per block of 32-256 values *inside* the weight
bytes, so the type carries only the scheme; the scales are data.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type, MemRefType, TensorType, bf16, f16, f32, i32
from xdsl.ir import Attribute, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.utils.exceptions import VerifyException

from rusty_ir.weights import SCHEMES, Scheme


class BlockQuantType(ParametrizedAttribute, TypeAttribute):
    """Base of the block-quantized element types; subclasses fix ``SCHEME_NAME``."""

    SCHEME_NAME: ClassVar[str]

    @property
    def scheme(self) -> Scheme:
        """The storage scheme (block size, byte layout) from ``rusty_ir.weights``."""
        return SCHEMES[self.SCHEME_NAME]

    @property
    def block(self) -> int:
        return self.scheme.block

    def verify(self) -> None:
        sch = SCHEMES.get(self.SCHEME_NAME)
        if sch is None or not sch.quantized:
            raise VerifyException(f"!{self.name}: '{self.SCHEME_NAME}' is not a quantized storage scheme")


@irdl_attr_definition
class Q4_0Type(BlockQuantType):
    """GGUF Q4_0: blocks of 32 values, an f16 scale and 4-bit codes (zero point 8)."""

    name = "rquant.q4_0"
    SCHEME_NAME = "q4_0"


@irdl_attr_definition
class Q4_1Type(BlockQuantType):
    """GGUF Q4_1: blocks of 32 values, f16 scale and minimum, 4-bit codes."""

    name = "rquant.q4_1"
    SCHEME_NAME = "q4_1"


@irdl_attr_definition
class Q8_0Type(BlockQuantType):
    """GGUF Q8_0: blocks of 32 values, an f16 scale and signed 8-bit codes."""

    name = "rquant.q8_0"
    SCHEME_NAME = "q8_0"


@irdl_attr_definition
class Q5_0Type(BlockQuantType):
    """GGUF Q5_0: blocks of 32 values, an f16 scale, 4-bit codes and a word of fifth bits (zero point 16)."""

    name = "rquant.q5_0"
    SCHEME_NAME = "q5_0"


@irdl_attr_definition
class Q5_1Type(BlockQuantType):
    """GGUF Q5_1: blocks of 32 values, f16 scale and minimum, 5-bit codes (4 bits + a word of fifth bits)."""

    name = "rquant.q5_1"
    SCHEME_NAME = "q5_1"


@irdl_attr_definition
class IQ4_NLType(BlockQuantType):
    """GGUF IQ4_NL: blocks of 32 values, an f16 scale and 4-bit indices into a fixed non-linear grid."""

    name = "rquant.iq4_nl"
    SCHEME_NAME = "iq4_nl"


@irdl_attr_definition
class Q2_KType(BlockQuantType):
    """GGUF Q2_K: super-blocks of 256 values, 4-bit scales and minimums per 16 values, 2-bit codes."""

    name = "rquant.q2_k"
    SCHEME_NAME = "q2_k"


@irdl_attr_definition
class Q3_KType(BlockQuantType):
    """GGUF Q3_K: super-blocks of 256 values, 6-bit scales per 16 values, 3-bit codes (2 bits + a high-bit mask)."""

    name = "rquant.q3_k"
    SCHEME_NAME = "q3_k"


@irdl_attr_definition
class Q4_KType(BlockQuantType):
    """GGUF Q4_K: super-blocks of 256 values with 6-bit sub-block scales and minimums, 4-bit codes."""

    name = "rquant.q4_k"
    SCHEME_NAME = "q4_k"


@irdl_attr_definition
class Q5_KType(BlockQuantType):
    """GGUF Q5_K: super-blocks of 256 values with 6-bit sub-block scales and minimums, 5-bit codes."""

    name = "rquant.q5_k"
    SCHEME_NAME = "q5_k"


@irdl_attr_definition
class Q6_KType(BlockQuantType):
    """GGUF Q6_K: super-blocks of 256 values with 8-bit sub-block scales, 6-bit codes."""

    name = "rquant.q6_k"
    SCHEME_NAME = "q6_k"


@irdl_attr_definition
class Int4G32Type(BlockQuantType):
    """Group-wise int4, groups of 32: an f16 scale, unsigned nibbles with zero point 8."""

    name = "rquant.int4_g32"
    SCHEME_NAME = "int4_g32"


@irdl_attr_definition
class Int4G128Type(BlockQuantType):
    """Group-wise int4, groups of 128: an f16 scale, unsigned nibbles with zero point 8."""

    name = "rquant.int4_g128"
    SCHEME_NAME = "int4_g128"


@irdl_attr_definition
class Int8G32Type(BlockQuantType):
    """Group-wise int8, groups of 32: an f16 scale and signed bytes."""

    name = "rquant.int8_g32"
    SCHEME_NAME = "int8_g32"


@irdl_attr_definition
class Int8G128Type(BlockQuantType):
    """Group-wise int8, groups of 128: an f16 scale and signed bytes."""

    name = "rquant.int8_g128"
    SCHEME_NAME = "int8_g128"


BLOCK_QUANT_TYPES: dict[str, type[BlockQuantType]] = {
    cls.SCHEME_NAME: cls
    for cls in (
        Int4G128Type,
        Int4G32Type,
        Int8G128Type,
        Int8G32Type,
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
    )
}
"""The element type class of each quantized scheme, by scheme name."""

# One type per quantized scheme: adding a scheme to weights.py without a type here is a bug.
assert set(BLOCK_QUANT_TYPES) == {n for n, s in SCHEMES.items() if s.quantized}, "quant types out of sync with SCHEMES"


def block_quant_type(scheme_name: str) -> BlockQuantType:
    """The element type for a quantized scheme name, e.g. ``"q4_1"`` -> ``!rquant.q4_1``."""
    try:
        return BLOCK_QUANT_TYPES[scheme_name]()
    except KeyError:
        raise ValueError(f"'{scheme_name}' is not a quantized scheme (known: {', '.join(sorted(BLOCK_QUANT_TYPES))})") from None


def storage_scheme(element_type: Attribute) -> Scheme | None:
    """The storage scheme of a weight element type (f32, f16, bf16 or a quant type), or None."""
    if isinstance(element_type, BlockQuantType):
        return element_type.scheme
    if isinstance(element_type, Float32Type):
        return SCHEMES["f32"]
    if isinstance(element_type, Float16Type):
        return SCHEMES["f16"]
    if isinstance(element_type, BFloat16Type):
        return SCHEMES["bf16"]
    return None


def element_type_for_scheme(sch: Scheme) -> Attribute:
    """The inverse of ``storage_scheme``: f32/f16/bf16 or the scheme's quant type."""
    plain: dict[str, Attribute] = {"f32": f32, "f16": f16, "bf16": bf16}
    if sch.name in plain:
        return plain[sch.name]
    return block_quant_type(sch.name)


def words_type(stored: TensorType[Attribute]) -> MemRefType[Attribute]:
    """The buffer a quantized tensor is stored in once bufferized: its bytes as ``memref<Wxi32>``, ``W`` words
    (the bytes rounded up to whole words), e.g. ``tensor<576x576x!rquant.q4_1>`` -> ``memref<51840xi32>``. It is
    also how a kernel binds the weight, so host and kernel agree on the buffer (``rusty_ir.dialects.quant.storage``)."""
    elem = stored.element_type
    assert isinstance(elem, BlockQuantType), f"{stored} is not a quantized tensor"
    return MemRefType(i32, [(elem.scheme.nbytes(tuple(stored.get_shape())) + 3) // 4])


def check_block_divisible(what: str, ty: Attribute) -> None:
    """Raise a VerifyException if ``ty`` is a tensor of a block type whose last dim the block does not divide."""
    if not isinstance(ty, TensorType):
        return
    elem = ty.element_type
    if not isinstance(elem, BlockQuantType):
        return
    shape = ty.get_shape()
    if not shape:
        raise VerifyException(f"{what} of block type !{elem.name} must have at least one dimension")
    last = shape[-1]
    if last >= 0 and last % elem.block:
        raise VerifyException(f"{what} has last dimension {last}, not a multiple of the !{elem.name} block size {elem.block}")
    if last < 0:
        raise VerifyException(f"{what} of block type !{elem.name} needs a static last dimension")
