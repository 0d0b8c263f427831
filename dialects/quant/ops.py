"""Operations of the ``quant`` dialect: converting between block-quantized and float tensors."""

from __future__ import annotations

from xdsl.dialects.builtin import Float32Type, TensorType
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, result_def, traits_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant.attrs import BlockQuantType, check_block_divisible


def _check_same_shape(src: TensorType, dst: TensorType) -> None:
    if src.get_shape() != dst.get_shape():
        raise VerifyException(
            f"input shape {list(src.get_shape())} and result shape {list(dst.get_shape())} must be equal"
        )


def _tensor_types(op: IRDLOperation, src: Attribute, dst: Attribute) -> tuple[TensorType, TensorType]:
    assert isinstance(src, TensorType) and isinstance(dst, TensorType), f"{op.name}: operands are constrained to tensors"
    return src, dst  # pyright: ignore[reportUnknownVariableType]


@irdl_op_definition
class DequantizeOp(IRDLOperation):
    """Decode a block-quantized tensor into f32 values.

    Semantics: every block of ``scheme.block`` consecutive elements of a row is
    decoded with the scale (and minimum) stored in that block, exactly as
    ``rusty_ir.weights.dequantize`` does for the scheme named by the input's
    element type. Input and result have the same logical shape; the last
    dimension must be static and a multiple of the block size.

    Pipeline: produced by ``convert-transformer-to-tensor`` in front of every
    consumer of a quantized weight (matmul, gather); fusion passes then pull it
    into the consuming kernel so that weights stay quantized in GPU memory.

    Example:
        %wf = quant.dequantize %w : tensor<1536x576x!quant.q4_1> -> tensor<1536x576xf32>
    """

    name = "quant.dequantize"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        src, dst = _tensor_types(self, self.input.type, self.result.type)
        if not isinstance(src.element_type, BlockQuantType):
            raise VerifyException(f"input element type must be a quant block type, got {src.element_type}")
        if not isinstance(dst.element_type, Float32Type):
            raise VerifyException(f"result element type must be f32, got {dst.element_type}")
        _check_same_shape(src, dst)
        check_block_divisible("input", src)


@irdl_op_definition
class QuantizeOp(IRDLOperation):
    """Encode f32 values into a block-quantized tensor.

    Semantics: each block of ``scheme.block`` consecutive elements of a row is
    encoded as ``rusty_ir.weights.quantize`` does (round to nearest code; the
    scale comes from the block's absolute maximum). Lossy: ``dequantize(quantize(x))``
    is ``x`` only up to the scheme's precision. The K-quants (``q4_k``, ``q6_k``)
    can be read but not produced; quantizing to them fails at run time.

    Pipeline: not produced by the compiler today (weights arrive quantized);
    used to quantize f32 checkpoints and in tests.

    Example:
        %q = quant.quantize %x : tensor<64x128xf32> -> tensor<64x128x!quant.int8_g32>
    """

    name = "quant.quantize"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        src, dst = _tensor_types(self, self.input.type, self.result.type)
        if not isinstance(src.element_type, Float32Type):
            raise VerifyException(f"input element type must be f32, got {src.element_type}")
        if not isinstance(dst.element_type, BlockQuantType):
            raise VerifyException(f"result element type must be a quant block type, got {dst.element_type}")
        _check_same_shape(src, dst)
        check_block_divisible("result", dst)
