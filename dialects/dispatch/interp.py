"""A numpy interpreter for bufferized host IR: buffers are numpy arrays written in place.

``BufferInterpreter`` extends ``TensorInterpreter`` (the tensor/dispatch-level
numpy interpreter) with what ``rusty-bufferize`` introduces, so a module can be
run before and after bufferization and the results compared:

- ``memref.alloc`` (zeros of the buffer's shape; dynamic sizes from operands),
  ``memref.dim``, ``memref.cast`` (the same array: a cast aliases);
- ``bufferization.to_tensor`` (a copy of the buffer, so tensor ops never see
  later writes) and ``bufferization.materialize_in_destination`` (writes the
  tensor into the destination buffer, in place);
- ``dispatch.region`` without results runs as before (its body writes its outs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from xdsl.dialects import bufferization, memref
from xdsl.dialects.builtin import Float16Type, Float32Type, IntegerType, MemRefType, ModuleOp
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls

from rusty_ir.dialects.linalg_ext.interp import TensorInterpreter, dense
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.weights import TensorView


def numpy_dtype(element_type: Any) -> np.dtype[Any]:
    """The numpy dtype of a buffer element type (f32, f16, i32, i64)."""
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element_type, IntegerType) and element_type.width.data in (32, 64):
        return np.dtype(np.int32 if element_type.width.data == 32 else np.int64)
    raise RustyError(f"no numpy buffer type for element type {element_type}")


@register_impls
class BufferFunctions(InterpreterFunctions):
    """``memref`` allocation/shape ops and the ``bufferization`` boundary ops on numpy arrays."""

    @impl(memref.AllocOp)
    def run_alloc(self, interpreter: Interpreter, op: memref.AllocOp, args: PythonValues) -> PythonValues:
        ty = op.memref.type
        assert isinstance(ty, MemRefType)
        sizes = iter(int(a) for a in args)
        shape = [d if d >= 0 else next(sizes) for d in ty.get_shape()]
        return (np.zeros(shape, numpy_dtype(ty.element_type)),)

    @impl(memref.DimOp)
    def run_dim(self, interpreter: Interpreter, op: memref.DimOp, args: PythonValues) -> PythonValues:
        buffer, index = args
        return (int(np.shape(buffer if not isinstance(buffer, TensorView) else dense(buffer))[int(index)]),)

    @impl(memref.CastOp)
    def run_cast(self, interpreter: Interpreter, op: memref.CastOp, args: PythonValues) -> PythonValues:
        return (args[0],)

    @impl(bufferization.ToTensorOp)
    def run_to_tensor(self, interpreter: Interpreter, op: bufferization.ToTensorOp, args: PythonValues) -> PythonValues:
        (buffer,) = args
        return (buffer if isinstance(buffer, TensorView) else np.array(buffer),)

    @impl(bufferization.MaterializeInDestinationOp)
    def run_materialize(
        self, interpreter: Interpreter, op: bufferization.MaterializeInDestinationOp, args: PythonValues
    ) -> PythonValues:
        value, dest = args
        value = dense(value)
        if not isinstance(dest, np.ndarray) or dest.shape != value.shape:
            raise RustyError(f"{describe_op(op)}: cannot write a {np.shape(value)} tensor into {np.shape(dest)}", op)
        dest[...] = value
        return ()


class BufferInterpreter(TensorInterpreter):
    """Runs functions of a bufferized module on numpy: out-params are arrays the caller passes."""

    def __init__(self, module: ModuleOp, weights: Mapping[str, TensorView], context_length: int = 64) -> None:
        super().__init__(module, weights, context_length)
        self.interpreter.register_implementations(BufferFunctions())


__all__ = ["BufferFunctions", "BufferInterpreter", "numpy_dtype"]
