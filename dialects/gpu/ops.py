"""Operations of the `rgpu` dialect: f16 packing into and unpacking from 32-bit words, packed 8-bit dot products,
and subgroup reductions."""

from __future__ import annotations

from enum import auto
from typing import ClassVar

from xdsl.dialects.builtin import Float16Type, Float32Type, IntegerAttr, IntegerType, f32, i32, i64
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import Attribute, SpacedOpaqueSyntaxAttribute, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum


class HalfEnum(StrEnum):
    """Which 16-bit half of a 32-bit word: `lo` = bits 0..15, `hi` = bits 16..31."""

    LO = auto()
    HI = auto()


@irdl_attr_definition
class HalfAttr(EnumAttribute[HalfEnum], SpacedOpaqueSyntaxAttribute):
    """A half selector, `#rgpu<half lo>` or `#rgpu<half hi>` in generic form."""

    name = "rgpu.half"


@irdl_op_definition
class UnpackF16Op(IRDLOperation):
    """Reads one IEEE binary16 value out of a 32-bit word and widens it to f32.

    Semantics: `word` is a signless i32 holding two little-endian halves; `half`
    selects bits 0..15 (`lo`) or bits 16..31 (`hi`). The result is the exact f32
    value of that binary16 (subnormals, infinities and NaNs included). It is the
    WGSL builtin `unpack2x16float(bitcast<u32>(word))[0 or 1]` and needs no
    `shader-f16` support, which is why quantized kernels use it to read the f16
    block scales of GGUF weights stored as `memref<?xi32>`.

    Where it appears: gpu level, inside `gpu.func` kernels, produced by the
    lowering of `rquant` dequantization (or written by hand).

    Example:
        %scale = rgpu.unpack_f16 %word lo : i32 -> f32
        // generic: "rgpu.unpack_f16"(%word) <{half = #rgpu<half lo>}> : (i32) -> f32
    """

    name = "rgpu.unpack_f16"
    word = operand_def(IntegerType)
    half = prop_def(HalfAttr)
    result = result_def(Float32Type)
    traits = traits_def(Pure())

    def __init__(self, word: SSAValue, half: HalfEnum | str):
        super().__init__(operands=[word], result_types=[f32], properties={"half": HalfAttr(HalfEnum(half))})

    def verify_(self) -> None:
        if self.word.type != i32:
            raise VerifyException(f"rgpu.unpack_f16 expects an i32 word, got {self.word.type}")

    @classmethod
    def parse(cls, parser: Parser) -> UnpackF16Op:
        unresolved = parser.parse_unresolved_operand()
        half = parser.parse_str_enum(HalfEnum)
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        pos = parser.pos
        word_type = parser.parse_type()
        parser.parse_punctuation("->")
        result_type = parser.parse_type()
        if word_type != i32 or result_type != f32:
            parser.raise_error(f"rgpu.unpack_f16 has type i32 -> f32, got {word_type} -> {result_type}", pos, parser.pos)
        op = cls(parser.resolve_operand(unresolved, word_type), half)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.word)
        printer.print_string(f" {self.half.data.value}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.word.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)


@irdl_op_definition
class PackF16Op(IRDLOperation):
    """Packs two f32 values, rounded to IEEE halves, into one 32-bit word.

    Semantics: bits 0..15 of the result hold ``lo`` as an f16, bits 16..31
    ``hi`` (WGSL ``pack2x16float``); the inverse of two ``rgpu.unpack_f16``.

    Where it appears: gpu level, where a kernel stores f16 values into a buffer
    of words (the scales of a q8_0 KV cache).

    Example:
        %word = rgpu.pack_f16 %lo, %hi : i32
    """

    name = "rgpu.pack_f16"
    lo = operand_def(Float32Type)
    hi = operand_def(Float32Type)
    result = result_def(i32)
    traits = traits_def(Pure())

    assembly_format = "$lo `,` $hi attr-dict `:` type($result)"

    def __init__(self, lo: SSAValue, hi: SSAValue):
        super().__init__(operands=[lo, hi], result_types=[i32])


@irdl_op_definition
class Dot4I8Op(IRDLOperation):
    """The dot product of two words read as four signed bytes each.

    Semantics: ``sum_{i<4} a_i * b_i`` where ``a_i`` is byte ``i`` (bits
    ``8i..8i+7``) of ``lhs`` as a signed 8-bit integer, likewise ``b_i``; the
    result is exact (at most 4 * 128 * 128 in magnitude). WGSL
    ``dot4I8Packed``, one instruction (DP4A) on GPUs that have it.

    Where it appears: gpu level, from ``rquant.dot_block`` (lower-quant-loads),
    where a decode GEMV multiplies weight codes with int8 activations.

    Example:
        %d = rgpu.dot4_i8 %codes, %acts : i32
    """

    name = "rgpu.dot4_i8"
    lhs = operand_def(i32)
    rhs = operand_def(i32)
    result = result_def(i32)
    traits = traits_def(Pure())

    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        super().__init__(operands=[lhs, rhs], result_types=[i32])


_SUBGROUP_TYPES: tuple[Attribute, ...] = (f32, Float16Type(), i32)


@irdl_op_definition
class SubgroupAddOp(IRDLOperation):
    """Sums a value over all active invocations of the subgroup; every invocation gets the sum.

    Semantics: an inclusive reduction with `+` across the active lanes of the
    calling invocation's subgroup (WGSL `subgroupAdd`, which needs the WebGPU
    `subgroup` feature). Lanes are active when control flow reaching the op is
    subgroup-uniform; results for lanes in divergent control flow are
    undefined. Float sums are in an unspecified order. The subgroup size is the
    adapter's (see `gpu.subgroup_size`), not a compile-time constant.

    Where it appears: gpu level, in row reductions chosen by the tiled lowering
    when the target reports subgroup support.

    Example:
        %sum = rgpu.subgroup_add %partial : f32
    """

    name = "rgpu.subgroup_add"
    T: ClassVar = VarConstraint("T", AnyAttr())
    value = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())

    assembly_format = "$value attr-dict `:` type($value)"

    def __init__(self, value: SSAValue):
        super().__init__(operands=[value], result_types=[value.type])

    def verify_(self) -> None:
        if self.value.type not in _SUBGROUP_TYPES:
            raise VerifyException(f"rgpu.subgroup_add works on f32, f16 or i32, got {self.value.type}")


class _SubgroupReduce(IRDLOperation):
    """What the subgroup reductions share: one operand, a result of its type."""

    T: ClassVar = VarConstraint("T", AnyAttr())
    value = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())

    assembly_format = "$value attr-dict `:` type($value)"

    def __init__(self, value: SSAValue):
        super().__init__(operands=[value], result_types=[value.type])

    def verify_(self) -> None:
        if self.value.type not in _SUBGROUP_TYPES:
            raise VerifyException(f"{self.name} works on f32, f16 or i32, got {self.value.type}")


@irdl_op_definition
class SubgroupMaxOp(_SubgroupReduce):
    """The maximum of a value over all active invocations of the subgroup; every invocation gets it.

    Semantics: as ``rgpu.subgroup_add`` with ``max`` (WGSL ``subgroupMax``, MSL
    ``simd_max``; i32 compares signed).

    Example: ``%m = rgpu.subgroup_max %score : f32``
    """

    name = "rgpu.subgroup_max"


@irdl_op_definition
class SubgroupMinOp(_SubgroupReduce):
    """The minimum of a value over all active invocations of the subgroup; every invocation gets it.

    Semantics: as ``rgpu.subgroup_add`` with ``min`` (WGSL ``subgroupMin``, MSL
    ``simd_min``; i32 compares signed).

    Example: ``%i = rgpu.subgroup_min %index : i32``
    """

    name = "rgpu.subgroup_min"


@irdl_op_definition
class SubgroupShuffleXorOp(IRDLOperation):
    """The value of ``value`` in the subgroup lane whose index is this lane's xor ``mask``.

    Semantics: WGSL ``subgroupShuffleXor(value, mask)``, MSL ``simd_shuffle_xor``;
    ``mask`` is a constant below the subgroup size, and the lanes read must be
    active (subgroup-uniform control flow). ``reduction-to-subgroup`` combines a
    group of ``width`` neighbouring lanes (narrower than the subgroup) with
    ``log2(width)`` of them (a butterfly), with no workgroup memory or barrier.

    Example: ``%other = rgpu.subgroup_shuffle_xor %x {mask = 4 : i64} : f32``
    """

    name = "rgpu.subgroup_shuffle_xor"
    T: ClassVar = VarConstraint("T", AnyAttr())
    value = operand_def(T)
    mask = prop_def(IntegerAttr)
    result = result_def(T)
    traits = traits_def(Pure())

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$value attr-dict `:` type($value)"

    def __init__(self, value: SSAValue, mask: int):
        super().__init__(operands=[value], result_types=[value.type], properties={"mask": IntegerAttr(mask, i64)})

    def verify_(self) -> None:
        if self.value.type not in _SUBGROUP_TYPES:
            raise VerifyException(f"rgpu.subgroup_shuffle_xor works on f32, f16 or i32, got {self.value.type}")
        if self.mask.value.data <= 0:
            raise VerifyException(f"rgpu.subgroup_shuffle_xor needs a positive mask, got {self.mask.value.data}")
