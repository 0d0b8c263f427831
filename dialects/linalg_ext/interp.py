"""numpy implementations of the tensor level: ``linalg``, ``tensor.extract_slice`` and the ``linalg_ext`` ops.

``TensorInterpreter`` (rusty_ir.dialects.dispatch.interp) runs with them what
``convert-transformer-to-tensor`` and the fusion passes produce, so each pass can be
checked by executing the IR before and after it:

- ``linalg.generic`` is vectorized: the body runs once on numpy arrays shaped
  like the iteration space (``linalg.index`` is an ``arange``, a
  ``tensor.extract`` in the body is a gather). A reduction body must be
  ``combine(f(inputs), acc)`` with ``combine`` one of addf/mulf/maximumf/
  minimumf; ``f`` is evaluated everywhere and reduced with the matching numpy
  ufunc. Contractions (``acc + a * b``) go through ``np.einsum``.
- ``linalg.fill``, ``tensor.extract_slice``; the ``linalg_ext`` ops (each layer's
  K/V cache is a numpy buffer written in place). The ``dispatch`` ops, which hold
  and feed these, are interpreted in ``rusty_ir.dialects.dispatch.interp``.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from xdsl.dialects import arith, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import AffineMapAttr, ArrayAttr, FloatAttr, IndexType, IntegerAttr, IntegerType, ShapedType, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.ir import Operation, Region, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from rusty_ir.dialects.linalg_ext import upstream as up
from rusty_ir.dialects.linalg_ext.ops import ArgmaxOp, AttentionOp, CacheAppendOp, SampleOp
from rusty_ir.dialects.quant.attrs import Q8_0Type
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.sampling import sample_token
from rusty_ir.weights import TensorView

_CMP = {
    "eq": np.equal, "ne": np.not_equal, "slt": np.less, "sle": np.less_equal, "sgt": np.greater,
    "sge": np.greater_equal, "ult": np.less, "ule": np.less_equal, "ugt": np.greater, "uge": np.greater_equal,
    "oeq": np.equal, "one": np.not_equal, "olt": np.less, "ole": np.less_equal, "ogt": np.greater, "oge": np.greater_equal,
}  # fmt: skip

_ELEMENTWISE: dict[type[Operation], Callable[..., Any]] = {
    arith.AddfOp: np.add, arith.SubfOp: np.subtract, arith.MulfOp: np.multiply, arith.DivfOp: np.divide,
    arith.MaximumfOp: np.maximum, arith.MinimumfOp: np.minimum, arith.NegfOp: np.negative,
    arith.AddiOp: np.add, arith.SubiOp: np.subtract, arith.MuliOp: np.multiply,
    arith.DivUIOp: np.floor_divide, arith.DivSIOp: np.floor_divide, arith.RemUIOp: np.remainder,
    arith.RemSIOp: np.remainder, arith.AndIOp: np.bitwise_and, arith.OrIOp: np.bitwise_or,
    arith.XOrIOp: np.bitwise_xor, arith.ShLIOp: np.left_shift, arith.ShRUIOp: np.right_shift,
    arith.ShRSIOp: np.right_shift, arith.CeilDivUIOp: lambda a, b: -(-a // b),
    arith.SelectOp: np.where,
    mathd.ExpOp: np.exp, mathd.TanhOp: np.tanh, mathd.SqrtOp: np.sqrt, mathd.RsqrtOp: lambda x: 1 / np.sqrt(x),
    mathd.CosOp: np.cos, mathd.SinOp: np.sin, mathd.PowFOp: np.power, mathd.LogOp: np.log,
    mathd.AbsFOp: np.abs,
}  # fmt: skip

_COMBINERS: dict[type[Operation], tuple[np.ufunc, str]] = {
    arith.AddfOp: (np.add, "sum"),
    arith.MulfOp: (np.multiply, "prod"),
    arith.MaximumfOp: (np.maximum, "max"),
    arith.MinimumfOp: (np.minimum, "min"),
}


def dense(value: Any) -> np.ndarray:
    """A runtime tensor value as a numpy array (stored tensors are dequantized)."""
    if isinstance(value, TensorView):
        return value.to_numpy()
    return np.asarray(value)


def _as_dtype(x: Any, ty: Any) -> Any:
    if isinstance(ty, IntegerType | IndexType):  # index values are integers (xori, remui... need them)
        return np.asarray(x).astype(np.int64)
    return np.asarray(x, dtype=np.float32)


class _GenericEvaluator:
    """Evaluates one ``linalg.generic`` on numpy arrays (see the module docstring)."""

    def __init__(self, interpreter: Interpreter, op: linalg.GenericOp, args: PythonValues) -> None:
        self.interpreter = interpreter
        self.op = op
        n_in = len(op.inputs)
        self.inputs = [dense(a) for a in args[:n_in]]
        self.outputs = [dense(a) for a in args[n_in:]]
        self.maps = [m.data for m in op.indexing_maps.data if isinstance(m, AffineMapAttr)]
        self.num_dims = self.maps[0].num_dims
        self.reductions = [i for i, it in enumerate(op.iterator_types.data) if it.data.value == "reduction"]
        self.space = self._iteration_space()

    def _iteration_space(self) -> list[int]:
        sizes: list[int | None] = [None] * self.num_dims
        for arr, amap in zip([*self.inputs, *self.outputs], self.maps):
            for axis, expr in enumerate(amap.results):
                if isinstance(expr, AffineDimExpr) and sizes[expr.position] is None:
                    sizes[expr.position] = arr.shape[axis]
        known = [int(s) for s in sizes if s is not None]
        if len(known) != len(sizes):
            raise RustyError(f"{describe_op(self.op)}: cannot infer the iteration space", self.op)
        return known

    def _grid(self, dim: int) -> np.ndarray:
        shape = [1] * self.num_dims
        shape[dim] = self.space[dim]
        return np.arange(self.space[dim], dtype=np.int64).reshape(shape)

    def _read(self, arr: np.ndarray, amap: Any) -> np.ndarray:
        index: list[np.ndarray | np.int64] = []
        for expr in amap.results:
            if isinstance(expr, AffineDimExpr):
                index.append(self._grid(expr.position))
            elif isinstance(expr, AffineConstantExpr):
                index.append(np.int64(expr.value))
            else:
                raise RustyError(f"{describe_op(self.op)}: only dim and constant map results are supported", self.op)
        return arr[tuple(index)] if index else arr

    def run(self) -> PythonValues:
        if fast := self._einsum():
            return fast
        block = self.op.body.block
        env: dict[SSAValue, Any] = {}
        for arg, arr, amap in zip(block.args, self.inputs, self.maps):
            env[arg] = self._read(arr, amap)
        acc_args = block.args[len(self.inputs) :]
        yield_op = block.last_op
        assert isinstance(yield_op, linalg.YieldOp)
        combiners = self._combiners(acc_args, yield_op) if self.reductions else {}
        for body_op in block.ops:
            if body_op is yield_op or body_op in combiners:
                continue
            self._eval(body_op, env)
        results = []
        for i, (value, out) in enumerate(zip(yield_op.arguments, self.outputs)):
            out_map = self.maps[len(self.inputs) + i]
            if value.owner in combiners:
                combiner = value.owner
                assert isinstance(combiner, Operation)
                ufunc, _ = _COMBINERS[type(combiner)]
                f_val = next(env[o] for o in combiner.operands if o not in acc_args)
                full = np.broadcast_to(f_val, self.space)
                reduced = ufunc.reduce(full, axis=tuple(self.reductions))
                results.append(ufunc(out, reduced).astype(out.dtype))
            else:
                full = np.broadcast_to(env[value] if value in env else self._outer(value), self.space)
                order = [e.position for e in out_map.results if isinstance(e, AffineDimExpr)]
                results.append(np.ascontiguousarray(np.transpose(full, order) if order != sorted(order) else full).astype(out.dtype))
        return tuple(results)

    def _combiners(self, acc_args: Sequence[SSAValue], yield_op: linalg.YieldOp) -> set[Operation]:
        found: set[Operation] = set()
        for acc, yielded in zip(acc_args, yield_op.arguments):
            owner = yielded.owner
            uses = list(acc.uses)
            if not (len(uses) == 1 and uses[0].operation is owner and type(owner) in _COMBINERS):
                raise RustyError(
                    f"{describe_op(self.op)}: a reduction body must be combine(f(inputs), acc) with combine in addf/mulf/maximumf/minimumf",
                    self.op,
                )
            assert isinstance(owner, Operation)
            found.add(owner)
        return found

    def _einsum(self) -> PythonValues | None:
        """``acc + a * b`` with plain dim maps: one einsum."""
        block = self.op.body.block
        ops = list(block.ops)
        if len(self.inputs) != 2 or len(self.outputs) != 1 or len(ops) != 3:
            return None
        mul, add, _ = ops
        a, b, acc = block.args
        if not (isinstance(mul, arith.MulfOp) and isinstance(add, arith.AddfOp)):
            return None
        if {mul.lhs, mul.rhs} != {a, b} or {add.lhs, add.rhs} != {mul.result, acc}:
            return None
        if any(not isinstance(e, AffineDimExpr) for m in self.maps for e in m.results):
            return None
        letters = string.ascii_lowercase
        subs = ["".join(letters[e.position] for e in m.results if isinstance(e, AffineDimExpr)) for m in self.maps]  # all are
        out = self.outputs[0]
        res = np.einsum(f"{subs[0]},{subs[1]}->{subs[2]}", self.inputs[0].astype(np.float32), self.inputs[1].astype(np.float32))
        return ((out + res).astype(out.dtype),)

    def _outer(self, value: SSAValue) -> Any:
        (v,) = self.interpreter.get_values((value,))
        return dense(v)

    def _eval(self, op: Operation, env: dict[SSAValue, Any]) -> None:
        def val(v: SSAValue) -> Any:
            return env[v] if v in env else self._outer(v)

        if isinstance(op, arith.ConstantOp):
            attr = op.value
            assert isinstance(attr, IntegerAttr | FloatAttr)
            env[op.result] = _as_dtype(attr.value.data, op.result.type)
        elif isinstance(op, linalg.IndexOp):
            env[op.result] = self._grid(op.dim.value.data)
        elif isinstance(op, tensor.ExtractOp):
            source = dense(val(op.tensor))
            env[op.result] = source[tuple(np.asarray(val(i)).astype(np.int64) for i in op.indices)]
        elif isinstance(op, arith.CmpiOp | arith.CmpfOp):
            pred = op.predicate.value.data
            name = (arith.CMPI_COMPARISON_OPERATIONS if isinstance(op, arith.CmpiOp) else arith.CMPF_COMPARISON_OPERATIONS)[pred]
            env[op.result] = _CMP[name](val(op.lhs), val(op.rhs))
        elif isinstance(op, arith.IndexCastOp | arith.ExtFOp | arith.TruncFOp | arith.SIToFPOp | arith.UIToFPOp | arith.FPToSIOp):
            env[op.results[0]] = _as_dtype(val(op.operands[0]), op.results[0].type)
        elif type(op) in _ELEMENTWISE:
            env[op.results[0]] = _as_dtype(_ELEMENTWISE[type(op)](*(val(o) for o in op.operands)), op.results[0].type)
        else:
            raise RustyError(f"{describe_op(op)}: the numpy interpreter cannot run this op in a linalg body", op)


@dataclass
class _Structured:
    """A named structured op seen as the generic it stands for (what ``_GenericEvaluator`` reads)."""

    inputs: Sequence[SSAValue]
    outputs: Sequence[SSAValue]
    indexing_maps: ArrayAttr[AffineMapAttr]
    iterator_types: ArrayAttr[IteratorTypeAttr]
    body: Region


def _as_generic(op: Operation) -> Any:
    """Upstream's named ops (``rusty_ir.dialects.linalg_ext.upstream``, xDSL's transpose and broadcast) as
    ``_Structured``: their maps, iterators and body."""
    if isinstance(op, up.MapOp):
        rank = len(cast(ShapedType, op.init.type).get_shape())
        maps = ArrayAttr([AffineMapAttr(AffineMap.identity(rank))] * (len(op.inputs) + 1))
        return _Structured(op.inputs, [op.init], maps, ArrayAttr([IteratorTypeAttr.parallel()] * rank), op.mapper)
    if isinstance(op, linalg.BroadcastOp):
        rank, added = len(cast(ShapedType, op.init.type).get_shape()), set(op.dimensions.get_values())
        kept = AffineMap(rank, 0, tuple(AffineDimExpr(d) for d in range(rank) if d not in added))
        maps = ArrayAttr([AffineMapAttr(kept), AffineMapAttr(AffineMap.identity(rank))])
        return _Structured([op.input], [op.init], maps, ArrayAttr([IteratorTypeAttr.parallel()] * rank), op.hidden_region)
    assert isinstance(op, LinalgStructuredOperation)
    return _Structured(op.inputs, op.outputs, op.get_indexing_maps(), op.get_iterator_types(), op.body)


@register_impls
class LinalgNumpyFunctions(InterpreterFunctions):
    """``linalg.generic``/``fill``, upstream's named ops and ``tensor.extract_slice`` on numpy arrays."""

    @impl(linalg.GenericOp)
    def run_generic(self, interpreter: Interpreter, op: linalg.GenericOp, args: PythonValues) -> PythonValues:
        return _GenericEvaluator(interpreter, op, args).run()

    def run_named(self, interpreter: Interpreter, op: Operation, args: PythonValues) -> PythonValues:
        """Upstream's named structured ops: as the generic each stands for."""
        return _GenericEvaluator(interpreter, _as_generic(op), args).run()

    run_matmul = impl(up.MatmulOp)(run_named)
    run_batch_matmul = impl(up.BatchMatmulOp)(run_named)
    run_matvec = impl(up.MatvecOp)(run_named)
    run_elementwise = impl(up.ElementwiseOp)(run_named)
    run_map = impl(up.MapOp)(run_named)
    run_transpose = impl(linalg.TransposeOp)(run_named)
    run_broadcast = impl(linalg.BroadcastOp)(run_named)

    @impl(up.SoftmaxOp)
    def run_softmax(self, interpreter: Interpreter, op: up.SoftmaxOp, args: PythonValues) -> PythonValues:
        x = dense(args[0]).astype(np.float32)
        axis = op.dimension.value.data
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True),)

    @impl(linalg.FillOp)
    def run_fill(self, interpreter: Interpreter, op: linalg.FillOp, args: PythonValues) -> PythonValues:
        value, out = args
        return (np.full_like(dense(out), value),)

    @impl(tensor.ExtractSliceOp)
    def run_extract_slice(self, interpreter: Interpreter, op: tensor.ExtractSliceOp, args: PythonValues) -> PythonValues:
        source = dense(args[0])
        dyn = iter(args[1:])
        offsets = [o if o != tensor.DYNAMIC_INDEX else int(next(dyn)) for o in op.static_offsets.get_values()]
        sizes = [s if s != tensor.DYNAMIC_INDEX else int(next(dyn)) for s in op.static_sizes.get_values()]
        piece = source[tuple(slice(o, o + s) for o, s in zip(offsets, sizes))]
        result_ty = op.result.type
        assert isinstance(result_ty, TensorType)
        return (np.ascontiguousarray(piece.reshape(result_ty.get_shape())),)


def _q8_round_trip(rows: np.ndarray) -> np.ndarray:
    """What a q8_0 cache row gives back: per 32 values, codes ``roundeven(v * 127 / max|v|)`` times the
    f16 scale ``max|v| / 127`` (the GPU kernels' arithmetic, ``passes/codegen/kv_cache.py``)."""
    blocks = rows.astype(np.float32).reshape(rows.shape[0], -1, 32)
    amax = np.abs(blocks).max(axis=2, keepdims=True)
    with np.errstate(divide="ignore"):
        inverse = np.where(amax > 0, np.float32(127) / amax, np.float32(0))
    codes = np.round(blocks * inverse)  # numpy rounds halves to even
    scale = (amax / np.float32(127)).astype(np.float16).astype(np.float32)
    return (codes * scale).reshape(rows.shape).astype(np.float32)


def _cache_rows(op: CacheAppendOp | AttentionOp, table: np.ndarray | None, positions: np.ndarray) -> np.ndarray:
    """The cache rows holding ``positions`` (through the block table when the cache is paged)."""
    if table is None or op.block_size is None:
        return positions
    block = op.block_size.value.data
    return table[positions // block] * block + positions % block


@register_impls
class LinalgExtFunctions(InterpreterFunctions):
    """The ``linalg_ext`` ops on numpy; the K/V caches are the numpy buffers their operands hold, written in place."""

    def __init__(self, context_length: int) -> None:
        self.context_length = context_length

    @impl(CacheAppendOp)
    def run_cache_append(self, interpreter: Interpreter, op: CacheAppendOp, args: PythonValues) -> PythonValues:
        keys, values, kc, vc, pos, *table = args
        end = int(pos) + dense(keys).shape[0]
        if end > self.context_length:
            raise RustyError(f"{describe_op(op)}: positions up to {end - 1} exceed the context length {self.context_length}", op)
        rows = _cache_rows(op, table[0] if table else None, np.arange(int(pos), end))
        q8 = isinstance(op.cache_element, Q8_0Type)  # the caches are words there; here, the f32 values they decode to
        kc[rows] = _q8_round_trip(dense(keys)) if q8 else dense(keys)
        vc[rows] = _q8_round_trip(dense(values)) if q8 else dense(values)
        return ()

    @impl(AttentionOp)
    def run_attention(self, interpreter: Interpreter, op: AttentionOp, args: PythonValues) -> PythonValues:
        q, kc, vc, pos, *table = dense(args[0]), args[1], args[2], int(args[3]), *args[4:]
        heads, kv_heads, hd = (a.value.data for a in (op.num_heads, op.num_kv_heads, op.head_dim))
        scale = op.scale.value.data
        window, cap = op.window_size, op.softcap_value
        rows = q.shape[0]
        out = np.zeros_like(q, dtype=np.float32)
        group = heads // kv_heads
        held = _cache_rows(op, table[0] if table else None, np.arange(pos + rows))
        for h in range(heads):
            kvh = h // group
            k = kc[held, kvh * hd : (kvh + 1) * hd].astype(np.float32)
            v = vc[held, kvh * hd : (kvh + 1) * hd].astype(np.float32)
            scores = (q[:, h * hd : (h + 1) * hd] @ k.T) * np.float32(scale)
            if cap is not None:
                scores = (np.tanh(scores / np.float32(cap)) * np.float32(cap)).astype(np.float32)
            qpos = (pos + np.arange(rows))[:, None]
            mask = np.arange(pos + rows)[None, :] > qpos
            if window is not None:  # sliding window: positions at or before qpos - window are hidden too
                mask |= np.arange(pos + rows)[None, :] <= qpos - window
            scores = np.where(mask, -np.inf, scores)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[:, h * hd : (h + 1) * hd] = (p / p.sum(axis=1, keepdims=True)) @ v
        return (out.astype(np.float32),)

    @impl(ArgmaxOp)
    def run_argmax(self, interpreter: Interpreter, op: ArgmaxOp, args: PythonValues) -> PythonValues:
        x = dense(args[0])
        return (np.argmax(x, axis=-1).astype(np.int32).reshape(x.shape[:-1] or (1,)),)

    @impl(SampleOp)
    def run_sample(self, interpreter: Interpreter, op: SampleOp, args: PythonValues) -> PythonValues:
        logits, words = dense(args[0]), np.asarray(args[1], np.int32)
        if logits.ndim == 1:
            return (np.array([sample_token(logits, words)], np.int32),)
        return (np.array([sample_token(row, w) for row, w in zip(logits, words, strict=True)], np.int32),)


__all__ = ["LinalgExtFunctions", "LinalgNumpyFunctions", "dense"]
