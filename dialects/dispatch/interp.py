"""numpy interpreters for the dispatch level and for bufferized host IR.

``TensorInterpreter`` runs functions of a tensor- or dispatch-level module: the
``dispatch`` ops here (a ``dispatch.region`` runs its body; ``dispatch.weight``
reads a weight store; ``dispatch.cache`` is one layer's K or V cache, a numpy
buffer; ``dispatch.block_table`` the table of a paged one), the tensor-level ops
of ``rusty_ir.dialects.linalg_ext.interp`` and those of ``NumpyInterpreter``.

``BufferInterpreter`` extends it with what ``rusty-bufferize`` introduces, so a
module can be run before and after bufferization and the results compared:

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
from xdsl.dialects.builtin import Float16Type, Float32Type, IntegerType, MemRefType, ModuleOp, SymbolRefAttr
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.ir import Operation

from rusty_ir.dialects.dispatch.ops import BlockTableOp, CacheOp, KvCacheOp, RegionOp, WeightOp, YieldOp
from rusty_ir.dialects.linalg_ext.interp import LinalgExtFunctions, LinalgNumpyFunctions, dense
from rusty_ir.dialects.transformer.interp import NumpyInterpreter
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.weights import TensorView


class CacheBuffers:
    """The KV cache buffers of every ``dispatch.kv_cache``: one numpy array per (symbol, layer, part),
    of the cache's element type (q8_0 rows: the f32 values they decode to), with a row per position of the context (rounded up to whole blocks
    when paged). A paged cache's block table is the reverse of the identity, so that reading through
    it is exercised: logical block ``b`` lives in physical block ``blocks - 1 - b``."""

    def __init__(self, context_length: int) -> None:
        self.context_length = context_length
        self.buffers: dict[tuple[str, int, str], np.ndarray] = {}

    def rows(self, decl: KvCacheOp) -> int:
        block = decl.paged_block_size or 1
        return -(-self.context_length // block) * block

    def get(self, decl: KvCacheOp, layer: int, part: str) -> np.ndarray:
        key = (decl.sym_name.data, layer, part)
        if layer >= decl.num_layers.value.data:
            raise RustyError(f"cache @{key[0]} has {decl.num_layers.value.data} layers, not {layer + 1}")
        if key not in self.buffers:
            dtype = np.float16 if isinstance(decl.cache_element_type, Float16Type) else np.float32
            self.buffers[key] = np.zeros((self.rows(decl), decl.row_width.value.data), dtype)
        return self.buffers[key]

    def table(self, decl: KvCacheOp) -> np.ndarray:
        blocks = self.rows(decl) // (decl.paged_block_size or 1)
        return np.arange(blocks - 1, -1, -1, dtype=np.int32)

    def reset(self) -> None:
        self.buffers.clear()


def _decl(op: Operation, cache: SymbolRefAttr) -> KvCacheOp:
    module = op.get_toplevel_object()
    assert isinstance(module, ModuleOp)
    return next(o for o in module.ops if isinstance(o, KvCacheOp) and o.sym_name.data == cache.string_value())


@register_impls
class DispatchFunctions(InterpreterFunctions):
    """The ``dispatch`` ops on numpy, against a weight store and numpy cache buffers."""

    def __init__(self, weights: Mapping[str, TensorView], context_length: int) -> None:
        self.weights = weights
        self.caches = CacheBuffers(context_length)

    @impl(WeightOp)
    def run_weight(self, interpreter: Interpreter, op: WeightOp, args: PythonValues) -> PythonValues:
        name = op.weight_name.data
        if op.layer is not None:
            name = name.replace("{}", str(int(args[0])))
        if name not in self.weights:
            raise RustyError(f"{describe_op(op)}: the weight store has no tensor '{name}'", op)
        return (self.weights[name],)

    @impl(CacheOp)
    def run_cache(self, interpreter: Interpreter, op: CacheOp, args: PythonValues) -> PythonValues:
        return (self.caches.get(_decl(op, op.cache), int(args[0]), op.part.data),)

    @impl(BlockTableOp)
    def run_block_table(self, interpreter: Interpreter, op: BlockTableOp, args: PythonValues) -> PythonValues:
        return (self.caches.table(_decl(op, op.cache)),)

    @impl(RegionOp)
    def run_region(self, interpreter: Interpreter, op: RegionOp, args: PythonValues) -> PythonValues:
        return interpreter.run_ssacfg_region(op.body, args, op.label.data)

    @impl_terminator(YieldOp)
    def run_yield(self, interpreter: Interpreter, op: YieldOp, args: PythonValues) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


class TensorInterpreter(NumpyInterpreter):
    """Runs functions of a tensor- or dispatch-level module on numpy, against a weight store."""

    def __init__(self, module: ModuleOp, weights: Mapping[str, TensorView], context_length: int = 64) -> None:
        self.functions = DispatchFunctions(weights, context_length)
        super().__init__(module, [LinalgNumpyFunctions(), LinalgExtFunctions(context_length), self.functions])

    def reset(self) -> None:
        self.functions.caches.reset()


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
    def run_materialize(self, interpreter: Interpreter, op: bufferization.MaterializeInDestinationOp, args: PythonValues) -> PythonValues:
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


__all__ = ["BufferFunctions", "BufferInterpreter", "CacheBuffers", "DispatchFunctions", "TensorInterpreter", "numpy_dtype"]
