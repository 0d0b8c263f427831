"""The numpy reference interpreter of the transformer level (``tfm`` ops, run by xDSL's interpreter).

Runtime values:

- activations and other float tensors: float32 numpy arrays;
- token ids: int32 numpy arrays; ``index`` and ``i32`` scalars: Python ints;
- weights (``tfm.weight``): the ``rusty_ir.weights.TensorView`` of the store,
  quantized or not. Ops that consume a weight dequantize it once and keep the
  float32 copy per weight name, so repeated steps are fast.

``TransformerFunctions`` owns the KV cache state (numpy rows per layer, grown on
demand up to ``max_context`` positions). ``ReferenceInterpreter`` wires a module,
a weight store and every needed implementation (func, scf, arith, tensor, quant,
tfm) together::

    ref = ReferenceInterpreter(module, weights, max_context=256)
    token = ref.call("prefill", np.array([1, 2, 3], np.int32), 0)
    token = ref.call("decode", np.array([token], np.int32), 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from xdsl.dialects import tensor
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.builtin import BuiltinFunctions
from xdsl.interpreters.func import FuncFunctions
from xdsl.interpreters.scf import ScfFunctions
from xdsl.interpreters.tensor import TensorFunctions
from xdsl.ir import Operation

from rusty_ir.dialects.quant.attrs import storage_scheme
from rusty_ir.dialects.quant.interp import QuantFunctions, check_runtime_shape
from rusty_ir.dialects.transformer.ops import (
    AddOp,
    ArgmaxOp,
    AttentionOp,
    EmbeddingOp,
    GeluOp,
    KvCacheOp,
    LinearOp,
    LogitsOp,
    MulOp,
    RmsNormOp,
    RopeOp,
    RowArgmaxOp,
    RowSampleOp,
    SampleOp,
    SiluOp,
    SoftcapOp,
    SoftmaxOp,
    WeightOp,
)
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.sampling import sample_token
from rusty_ir.weights import TensorView, dequantize

DEFAULT_MAX_CONTEXT = 2048
"""Positions per KV cache when the caller gives no context length."""


class KvCacheState:
    """The K and V rows of every layer of one ``tfm.kv_cache``, and how many positions each holds."""

    def __init__(self, name: str, num_layers: int, row_width: int, max_context: int) -> None:
        self.name = name
        self.row_width = row_width
        self.max_context = max_context
        self.keys: list[np.ndarray] = [np.zeros((0, row_width), np.float32) for _ in range(num_layers)]
        self.values: list[np.ndarray] = [np.zeros((0, row_width), np.float32) for _ in range(num_layers)]
        self.filled: list[int] = [0] * num_layers
        """Per layer: positions ``[0, filled)`` have been written."""

    def write(self, layer: int, pos: int, k: np.ndarray, v: np.ndarray, where: str) -> None:
        """Store rows ``k``/``v`` at positions ``pos ..`` of ``layer``, growing the buffers as needed."""
        end = pos + k.shape[0]
        if end > self.max_context:
            raise RustyError(
                f"{where}: KV cache @{self.name} holds {self.max_context} positions (the context length); "
                f"writing positions {pos}..{end - 1} goes past it"
            )
        if pos > self.filled[layer]:
            raise RustyError(
                f"{where}: writing position {pos} of KV cache @{self.name} layer {layer}, "
                f"but only positions 0..{self.filled[layer] - 1} were written (a gap would be read as garbage)"
            )
        if end > self.keys[layer].shape[0]:
            capacity = min(self.max_context, max(end, 2 * self.keys[layer].shape[0], 16))
            for store in (self.keys, self.values):
                grown = np.zeros((capacity, self.row_width), np.float32)
                grown[: self.filled[layer]] = store[layer][: self.filled[layer]]
                store[layer] = grown
        self.keys[layer][pos:end] = k
        self.values[layer][pos:end] = v
        self.filled[layer] = max(self.filled[layer], end)

    def read(self, layer: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """K and V of positions ``[0, end)`` of ``layer``."""
        return self.keys[layer][:end], self.values[layer][:end]


def _f32(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    erf = np.frompyfunc(math.erf, 1, 1)
    return (0.5 * x * (1.0 + np.asarray(erf(x / np.float32(math.sqrt(2.0))), dtype=np.float32))).astype(np.float32)


@register_impls
class TransformerFunctions(InterpreterFunctions):
    """Numpy implementations of every ``tfm`` op, with the weight store and the KV cache state."""

    def __init__(self, weights: Mapping[str, TensorView], max_context: int = DEFAULT_MAX_CONTEXT) -> None:
        if max_context <= 0:
            raise ValueError(f"max_context must be positive, got {max_context}")
        self.weights = weights
        self.max_context = max_context
        self.caches: dict[str, KvCacheState] = {}
        """KV cache state by symbol name, created on first use."""
        self._dense: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        """Forget every KV cache (start a new sequence); dequantized weights stay cached."""
        self.caches.clear()

    def truncate(self, length: int) -> None:
        """Keep positions ``0 .. length - 1`` of every KV cache (later rows count as never written)."""
        for state in self.caches.values():
            state.filled = [min(f, max(length, 0)) for f in state.filled]

    # --- helpers --------------------------------------------------------------------------------

    def dense(self, value: Any) -> np.ndarray:
        """A float32 array for a weight operand: a stored view (dequantized once, then cached) or an array."""
        if not isinstance(value, TensorView):
            return _f32(value)
        if self.weights.get(value.name) is not value:  # not from the store (e.g. rquant.quantize): don't cache
            return dequantize(value.data, value.scheme, value.shape)
        cached = self._dense.get(value.name)
        if cached is None:
            cached = dequantize(value.data, value.scheme, value.shape)
            self._dense[value.name] = cached
        return cached

    @staticmethod
    def _checked(op: Operation, result: np.ndarray) -> PythonValues:
        """Return ``(result,)`` after checking its shape against the op's result type."""
        ty = op.results[0].type
        assert isinstance(ty, TensorType)
        check_runtime_shape(op, "result", result.shape, ty)
        return (result,)

    def _cache_state(self, op: AttentionOp) -> KvCacheState:
        name = op.cache.root_reference.data
        state = self.caches.get(name)
        if state is None:
            decl: KvCacheOp = op.cache_op()
            state = KvCacheState(name, decl.num_layers.value.data, decl.row_width, self.max_context)
            self.caches[name] = state
        return state

    # --- ops ------------------------------------------------------------------------------------

    @impl(WeightOp)
    def run_weight(self, interpreter: Interpreter, op: WeightOp, args: PythonValues) -> PythonValues:
        template = op.weight_name.data
        weight_name = template.replace("{}", str(args[0])) if args else template
        view = self.weights.get(weight_name)
        if view is None:
            raise RustyError(f"{describe_op(op)}: the weight store has no tensor named '{weight_name}'")
        ty = op.result.type
        assert isinstance(ty, TensorType)
        if storage_scheme(ty.element_type) != view.scheme:
            raise RustyError(f"{describe_op(op)}: tensor '{weight_name}' is stored as {view.scheme.name}, but its type is {ty}")
        check_runtime_shape(op, f"tensor '{weight_name}'", view.shape, ty)
        return (view,)

    @impl(EmbeddingOp)
    def run_embedding(self, interpreter: Interpreter, op: EmbeddingOp, args: PythonValues) -> PythonValues:
        tokens = np.asarray(args[0]).astype(np.int64).reshape(-1)
        table = self.dense(args[1])
        bad = (tokens < 0) | (tokens >= table.shape[0])
        if bad.any():
            raise RustyError(f"{describe_op(op)}: token id {int(tokens[bad][0])} is outside the vocabulary [0, {table.shape[0]})")
        rows = table[tokens].astype(np.float32, copy=True)
        if op.factor is not None:
            rows *= np.float32(op.factor)
        return self._checked(op, rows)

    @impl(RmsNormOp)
    def run_rms_norm(self, interpreter: Interpreter, op: RmsNormOp, args: PythonValues) -> PythonValues:
        x, w = _f32(args[0]), self.dense(args[1])
        eps = np.float32(op.epsilon.value.data)
        shape = x.shape
        if op.group is not None:  # per head: [rows, heads, head_dim], the same weight for every head
            x = x.reshape(shape[0], -1, op.group)
        inv = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32) + eps)
        return self._checked(op, (x * inv.astype(np.float32) * w).astype(np.float32).reshape(shape))

    @impl(LinearOp)
    def run_linear(self, interpreter: Interpreter, op: LinearOp, args: PythonValues) -> PythonValues:
        x, w = _f32(args[0]), self.dense(args[1])
        y = x @ w.T
        if len(args) == 3:
            y = y + self.dense(args[2])
        return self._checked(op, y.astype(np.float32))

    @impl(RopeOp)
    def run_rope(self, interpreter: Interpreter, op: RopeOp, args: PythonValues) -> PythonValues:
        x, pos = _f32(args[0]), int(args[1])
        head_dim, theta = op.head_dim.value.data, np.float32(op.theta.value.data)
        rows, width = x.shape
        half = head_dim // 2
        # 1. angle[r, i] = (pos + r) * theta^(-2i/head_dim), in f32 as Hugging Face computes it.
        inv_freq = (np.float32(1.0) / theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim))).astype(np.float32)
        if len(args) > 2:  # rope scaling: each pair's frequency divided by its factor
            inv_freq = (inv_freq / self.dense(args[2]).reshape(-1)).astype(np.float32)
        angle = np.arange(pos, pos + rows, dtype=np.float32)[:, None] * inv_freq[None, :]
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]  # [rows, 1, half]
        # 2. Split each head into the pairs of its style and rotate them.
        heads = x.reshape(rows, width // head_dim, head_dim)
        if op.style.data == "interleaved":
            a, b = heads[..., 0::2], heads[..., 1::2]
        else:
            a, b = heads[..., :half], heads[..., half:]
        ra, rb = a * cos - b * sin, a * sin + b * cos
        out = np.empty_like(heads)
        if op.style.data == "interleaved":
            out[..., 0::2], out[..., 1::2] = ra, rb
        else:
            out[..., :half], out[..., half:] = ra, rb
        return self._checked(op, out.reshape(rows, width))

    @impl(AttentionOp)
    def run_attention(self, interpreter: Interpreter, op: AttentionOp, args: PythonValues) -> PythonValues:
        q, k, v = _f32(args[0]), _f32(args[1]), _f32(args[2])
        pos, layer = int(args[3]), int(args[4])
        heads, kv_heads, head_dim = op.num_heads.value.data, op.num_kv_heads.value.data, op.head_dim.value.data
        scale = np.float32(op.scale.value.data)
        rows = q.shape[0]
        if k.shape[0] != rows or v.shape[0] != rows:
            raise RustyError(f"{describe_op(op)}: q, k and v have {rows}, {k.shape[0]} and {v.shape[0]} rows")
        state = self._cache_state(op)
        if not 0 <= layer < len(state.keys):
            raise RustyError(f"{describe_op(op)}: layer {layer} is outside KV cache @{state.name} ({len(state.keys)} layers)")
        if pos < 0:
            raise RustyError(f"{describe_op(op)}: negative position {pos}")
        # 1. Write the new rows at positions pos .. pos+rows-1.
        state.write(layer, pos, k, v, describe_op(op))
        # 2. Causal attention of row r over positions 0 .. pos+r; head h reads kv head h // group.
        total = pos + rows
        keys, values = state.read(layer, total)
        group = heads // kv_heads
        qh = q.reshape(rows, heads, head_dim)
        kh = np.repeat(keys.reshape(total, kv_heads, head_dim), group, axis=1)
        vh = np.repeat(values.reshape(total, kv_heads, head_dim), group, axis=1)
        scores = np.einsum("shd,thd->hst", qh, kh).astype(np.float32) * scale  # [heads, rows, total]
        if op.softcap is not None:  # Gemma 2: cap * tanh(scores / cap), before the mask
            cap = np.float32(op.softcap.value.data)
            scores = (np.tanh(scores / cap) * cap).astype(np.float32)
        qpos = (pos + np.arange(rows))[:, None]
        visible = np.arange(total)[None, :] <= qpos  # [rows, total]
        if op.window is not None:  # sliding window: the last `window` positions, the row's own included
            visible &= np.arange(total)[None, :] > qpos - op.window.value.data
        scores = np.where(visible[None], scores, np.float32(-np.inf))
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        out = np.einsum("hst,thd->shd", probs.astype(np.float32), vh).astype(np.float32)
        return self._checked(op, out.reshape(rows, heads * head_dim))

    @impl(SiluOp)
    def run_silu(self, interpreter: Interpreter, op: SiluOp, args: PythonValues) -> PythonValues:
        x = _f32(args[0])
        return self._checked(op, (x / (np.float32(1.0) + np.exp(-x))).astype(np.float32))

    @impl(GeluOp)
    def run_gelu(self, interpreter: Interpreter, op: GeluOp, args: PythonValues) -> PythonValues:
        x = _f32(args[0])
        if op.approximate.data == "tanh":
            c = np.float32(math.sqrt(2.0 / math.pi))
            y = np.float32(0.5) * x * (np.float32(1.0) + np.tanh(c * (x + np.float32(0.044715) * x * x * x)))
        else:
            y = _gelu_erf(x)
        return self._checked(op, y.astype(np.float32))

    @impl(MulOp)
    def run_mul(self, interpreter: Interpreter, op: MulOp, args: PythonValues) -> PythonValues:
        return self._checked(op, (_f32(args[0]) * _f32(args[1])).astype(np.float32))

    @impl(AddOp)
    def run_add(self, interpreter: Interpreter, op: AddOp, args: PythonValues) -> PythonValues:
        return self._checked(op, (_f32(args[0]) + _f32(args[1])).astype(np.float32))

    @impl(SoftcapOp)
    def run_softcap(self, interpreter: Interpreter, op: SoftcapOp, args: PythonValues) -> PythonValues:
        cap = np.float32(op.cap.value.data)
        return self._checked(op, (np.tanh(_f32(args[0]) / cap) * cap).astype(np.float32))

    @impl(SoftmaxOp)
    def run_softmax(self, interpreter: Interpreter, op: SoftmaxOp, args: PythonValues) -> PythonValues:
        x = _f32(args[0])
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return self._checked(op, (e / e.sum(axis=-1, keepdims=True)).astype(np.float32))

    @impl(LogitsOp)
    def run_logits(self, interpreter: Interpreter, op: LogitsOp, args: PythonValues) -> PythonValues:
        h, w = _f32(args[0]), self.dense(args[1])
        if h.shape[0] == 0:
            raise RustyError(f"{describe_op(op)}: no rows to take the logits of")
        return self._checked(op, (w @ h[-1]).astype(np.float32))

    @impl(ArgmaxOp)
    def run_argmax(self, interpreter: Interpreter, op: ArgmaxOp, args: PythonValues) -> PythonValues:
        return (int(np.argmax(_f32(args[0]))),)

    @impl(RowArgmaxOp)
    def run_row_argmax(self, interpreter: Interpreter, op: RowArgmaxOp, args: PythonValues) -> PythonValues:
        return (np.argmax(_f32(args[0]), axis=-1).astype(np.int32),)

    @impl(SampleOp)
    def run_sample(self, interpreter: Interpreter, op: SampleOp, args: PythonValues) -> PythonValues:
        return (sample_token(_f32(args[0]), np.asarray(args[1], np.int32)),)

    @impl(RowSampleOp)
    def run_row_sample(self, interpreter: Interpreter, op: RowSampleOp, args: PythonValues) -> PythonValues:
        words = np.asarray(args[1], np.int32)
        return (np.array([sample_token(row, w) for row, w in zip(_f32(args[0]), words, strict=True)], np.int32),)


@register_impls
class NumpyTensorFunctions(TensorFunctions):
    """The ``tensor`` ops the transformer level uses, on numpy arrays instead of xDSL's ShapedArray.

    Registered with ``override=True`` over xDSL's ``TensorFunctions``: ``tensor.cast``
    (which xDSL lacks), ``tensor.dim``, ``tensor.empty``, ``tensor.extract``.
    """

    @impl(tensor.CastOp)
    def run_cast(self, interpreter: Interpreter, op: tensor.CastOp, args: PythonValues) -> PythonValues:
        (value,) = args
        ty = op.dest.type
        assert isinstance(ty, TensorType)
        shape = value.shape if isinstance(value, TensorView) else np.shape(value)
        check_runtime_shape(op, "tensor.cast operand", tuple(shape), cast(TensorType[Any], ty))
        return (value,)

    @impl(tensor.DimOp)
    def run_dim(self, interpreter: Interpreter, op: tensor.DimOp, args: PythonValues) -> PythonValues:
        value, dim = args
        shape = value.shape if isinstance(value, TensorView) else np.shape(value)
        return (int(shape[dim]),)

    @impl(tensor.EmptyOp)
    def run_empty(self, interpreter: Interpreter, op: tensor.EmptyOp, args: PythonValues) -> PythonValues:
        ty = op.tensor.type
        assert isinstance(ty, TensorType)
        dynamic = iter(args)
        shape = [d if d >= 0 else int(next(dynamic)) for d in ty.get_shape()]
        elem = ty.element_type
        dtype = np.int32 if isinstance(elem, IntegerType) else np.float32
        return (np.zeros(shape, dtype),)

    @impl(tensor.ExtractOp)
    def run_extract(self, interpreter: Interpreter, op: tensor.ExtractOp, args: PythonValues) -> PythonValues:
        value, *indices = args
        return (np.asarray(value)[tuple(indices)].item(),)


class NumpyInterpreter:
    """An xDSL interpreter whose values are numpy arrays: func, scf, arith, builtin, quant and
    numpy-backed tensor ops, plus the level-specific ``functions`` a subclass adds."""

    def __init__(self, module: ModuleOp, functions: Sequence[InterpreterFunctions]) -> None:
        self.module = module
        self.interpreter = Interpreter(module)
        for fns in (ArithFunctions(), BuiltinFunctions(), FuncFunctions(), ScfFunctions(), QuantFunctions(), *functions):
            self.interpreter.register_implementations(fns)
        self.interpreter.register_implementations(NumpyTensorFunctions(), override=True)

    def call(self, function: str, *args: Any) -> Any:
        """Call ``@function`` with numpy arrays / ints; the result, or a tuple if it has several (or none)."""
        converted = tuple(int(a) if isinstance(a, int | np.integer) else a for a in args)
        results = self.interpreter.call_op(function, converted)
        return results[0] if len(results) == 1 else results


class ReferenceInterpreter(NumpyInterpreter):
    """Runs functions of a transformer-level module on numpy, against a weight store.

    The KV cache lives as long as this object (``reset()`` clears it), so
    ``prefill`` then ``decode`` steps continue one sequence.
    """

    def __init__(self, module: ModuleOp, weights: Mapping[str, TensorView], *, max_context: int = DEFAULT_MAX_CONTEXT) -> None:
        self.functions = TransformerFunctions(weights, max_context)
        super().__init__(module, [self.functions])

    def prefill(self, tokens: Any, pos: int = 0) -> Any:
        """``call("prefill", tokens as int32, pos)``: the next token id."""
        return self.call("prefill", np.asarray(tokens, dtype=np.int32).reshape(-1), pos)

    def decode(self, token: int, pos: int) -> Any:
        """``call("decode", [token] as int32, pos)``: the next token id."""
        return self.call("decode", np.asarray([token], dtype=np.int32), pos)

    def reset(self) -> None:
        """Start a new sequence: clear the KV caches."""
        self.functions.reset()

    def truncate(self, length: int) -> None:
        """Keep the KV caches' positions ``0 .. length - 1`` only."""
        self.functions.truncate(length)
