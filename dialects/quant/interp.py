"""Numpy reference implementations of the ``rquant`` ops for xDSL's interpreter.

Runtime values: a quantized tensor is a ``rusty_ir.weights.TensorView`` (its
logical shape, scheme and raw bytes); a float tensor is a float32 numpy array.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Attribute, Operation

from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.dialects.quant.ops import DequantizeOp, QuantizeOp, ToTensorOp
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.weights import TensorView, dequantize, quantize


def check_runtime_shape(op: Operation, what: str, shape: tuple[int, ...], ty: TensorType[Attribute]) -> None:
    """Raise RustyError if a runtime ``shape`` disagrees with the static dims of ``ty``."""
    static = ty.get_shape()
    if len(static) != len(shape) or any(s >= 0 and s != d for s, d in zip(static, shape)):
        raise RustyError(f"{describe_op(op)}: {what} has runtime shape {list(shape)}, but its type is {ty}")


@register_impls
class QuantFunctions(InterpreterFunctions):
    """``rquant.dequantize`` / ``rquant.quantize`` through ``rusty_ir.weights``; ``rquant.to_tensor`` passes the
    weight's view through (a bufferized weight is its ``TensorView``, as before bufferization)."""

    @impl(ToTensorOp)
    def run_to_tensor(self, interpreter: Interpreter, op: ToTensorOp, args: PythonValues) -> PythonValues:
        (view,) = args
        if not isinstance(view, TensorView):
            raise RustyError(f"{describe_op(op)}: expected a quantized tensor view, got {type(view).__name__}")
        return (view,)

    @impl(DequantizeOp)
    def run_dequantize(self, interpreter: Interpreter, op: DequantizeOp, args: PythonValues) -> PythonValues:
        (view,) = args
        ty = op.input.type
        assert isinstance(ty, TensorType) and isinstance(ty.element_type, BlockQuantType)
        if not isinstance(view, TensorView):
            raise RustyError(f"{describe_op(op)}: expected a quantized tensor view, got {type(view).__name__}")
        if view.scheme != ty.element_type.scheme:
            raise RustyError(
                f"{describe_op(op)}: tensor '{view.name}' is stored as {view.scheme.name}, but its type says {ty.element_type}"
            )
        check_runtime_shape(op, f"tensor '{view.name}'", view.shape, ty)
        return (dequantize(view.data, view.scheme, view.shape),)

    @impl(QuantizeOp)
    def run_quantize(self, interpreter: Interpreter, op: QuantizeOp, args: PythonValues) -> PythonValues:
        (values,) = args
        ty = op.result.type
        assert isinstance(ty, TensorType) and isinstance(ty.element_type, BlockQuantType)
        arr = np.asarray(values, dtype=np.float32)
        check_runtime_shape(op, "input", arr.shape, ty)
        sch = ty.element_type.scheme
        try:
            data = quantize(arr, sch)
        except ValueError as err:
            raise RustyError(f"{describe_op(op)}: {err}") from None
        return (TensorView(op.result.name_hint or "rquant.quantize", tuple(arr.shape), sch, data),)
