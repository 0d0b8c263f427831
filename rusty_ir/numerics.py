"""Differential numerical checking between passes (``rusty-opt --verify-each-numerically``).

The module is interpreted on numpy before the pipeline and after each pass, while an interpreter exists for its
level: the transformer level (``ReferenceInterpreter``), the tensor and dispatch levels (``TensorInterpreter``)
and bufferized host IR (``BufferInterpreter``). The first pass whose result differs from the one before it
(beyond ``rtol`` of the largest magnitude) is an error naming it. From the tiled level on (``tiled``, ``gpu``)
nothing interprets the IR: checking stops there and the report says where.

Inputs are random and fixed by a seed: each argument of the checked function is a tensor of its type
(a dynamic dimension is ``DYNAMIC_SIZE``; integers in ``[0, 4)``: token ids of any vocabulary), an index is 0.
Weights come from the caller's store, or are made up from the types of the module's ``tfm.weight`` and
``dispatch.weight`` ops (``SyntheticWeights``: normal values, stored in the op's scheme).

    checker = NumericChecker.for_module(module, function="prefill", weights=store)
    build_pipeline(registry, spec, checker.callback).apply(ctx, module)
    print(checker.report())
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, ModuleOp, TensorType
from xdsl.ir import Attribute
from xdsl.passes import ModulePass

from rusty_ir.dialects.dispatch.interp import BufferInterpreter, TensorInterpreter
from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
from rusty_ir.errors import RustyError
from rusty_ir.weights import TensorView, quantize, scheme

DYNAMIC_SIZE = 3
"""The size given to a dynamic dimension of an argument (three tokens)."""

_NOT_INTERPRETED = ("tiled.", "gpu.", "rgpu.")
"""Ops no interpreter runs: a module holding one is past the last interpreted level."""


def _float_type_name(elem: Attribute) -> str | None:
    return {"f32": "f32", "f16": "f16", "bf16": "bf16"}.get(str(elem))


class SyntheticWeights(Mapping[str, Any]):
    """Made-up weights for the names the module binds (``blk.{}.x`` templates included), of the types it gives
    them: normal values times 0.1, stored in each type's scheme, the same for a name every time."""

    def __init__(self, module: ModuleOp) -> None:
        self.types: dict[str, Attribute] = {}
        for op in module.walk():
            if op.name in ("tfm.weight", "dispatch.weight") and "part" not in op.properties:
                name = op.properties["weight_name"].data  # type: ignore[attr-defined]  # a StringAttr property
                stored = op.properties.get("stored")
                self.types.setdefault(name, stored if stored is not None else op.results[0].type)
        self._patterns = [(re.compile(re.escape(n).replace(r"\{\}", r"\d+") + "$"), n) for n in self.types]
        self._made: dict[str, Any] = {}

    def _template(self, key: str) -> str | None:
        return next((n for p, n in self._patterns if p.match(key)), None)

    def __getitem__(self, key: str) -> Any:
        if key not in self._made:
            template = self._template(key)
            if template is None:
                raise KeyError(key)
            self._made[key] = _weight(key, self.types[template])
        return self._made[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._template(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)


def _weight(name: str, ty: Attribute) -> Any:
    if not isinstance(ty, TensorType | MemRefType) or not ty.has_static_shape():
        raise RustyError(f"--verify-each-numerically: weight '{name}' has type {ty}, not a static tensor")
    shape = tuple(ty.get_shape())
    values = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape).astype(np.float32) * 0.1
    elem = ty.element_type
    if isinstance(elem, BlockQuantType):
        return TensorView(name, shape, elem.scheme, quantize(values, elem.scheme))
    kind = _float_type_name(elem)
    if kind is None:
        raise RustyError(f"--verify-each-numerically: no synthetic weight of element type {elem} ('{name}')")
    sch = scheme(kind)
    return TensorView(name, shape, sch, quantize(values, sch))


def _argument(ty: Attribute, rng: np.random.Generator) -> Any:
    if isinstance(ty, IndexType):
        return 0
    if isinstance(ty, IntegerType):
        return int(rng.integers(0, 4))
    if isinstance(ty, TensorType):
        shape = [d if d >= 0 else DYNAMIC_SIZE for d in ty.get_shape()]
        if isinstance(ty.element_type, IntegerType):
            return rng.integers(0, 4, shape).astype(np.int32 if ty.element_type.width.data == 32 else np.int64)
        return rng.standard_normal(shape).astype(np.float32)
    if str(ty) == "f32":
        return float(rng.standard_normal())
    raise RustyError(f"--verify-each-numerically: no random input for an argument of type {ty}")


def _interpreter(module: ModuleOp, weights: Mapping[str, Any], context: int) -> Any:
    """The interpreter for ``module``'s level, or None past the interpreted levels."""
    names = {op.name for op in module.walk()}
    if any(n.startswith(_NOT_INTERPRETED) for n in names):
        return None
    if any(n.startswith("tfm.") and n != "tfm.kv_cache" for n in names):
        return ReferenceInterpreter(module, weights, max_context=context)
    if any(n.startswith(("memref.", "bufferization.")) for n in names):
        return BufferInterpreter(module, weights, context)
    return TensorInterpreter(module, weights, context)


@dataclass
class NumericChecker:
    """Runs ``function`` on ``args`` after each pass and compares (see the module docstring)."""

    function: str
    args: tuple[Any, ...]
    weights: Mapping[str, Any]
    rtol: float = 1e-4
    context: int = 64
    last: np.ndarray | None = None
    checked: list[str] = field(default_factory=list)
    """The passes after which the result was compared (and agreed)."""
    stopped: str = ""
    """The first pass after which nothing interprets the IR ('' while checking)."""

    @classmethod
    def for_module(cls, module: ModuleOp, function: str = "", weights: Mapping[str, Any] | None = None, seed: int = 0) -> NumericChecker:
        fns = [op for op in module.ops if isinstance(op, func.FuncOp) and not op.is_declaration]
        fn = next((f for f in fns if f.sym_name.data == function), None) if function else (fns[0] if fns else None)
        if fn is None:
            raise RustyError(f"--verify-each-numerically: no function '@{function}' with a body" if function
                             else "--verify-each-numerically: the module has no function with a body")  # fmt: skip
        rng = np.random.default_rng(seed)
        args = tuple(_argument(t, rng) for t in fn.function_type.inputs.data)
        return cls(fn.sym_name.data, args, weights if weights is not None else SyntheticWeights(module))

    def run(self, module: ModuleOp) -> np.ndarray | None:
        """The function's results, flattened to float64, or None if no interpreter runs this level."""
        interp = _interpreter(module, self.weights, self.context)
        if interp is None:
            return None
        fn = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == self.function)
        outs = [_out_buffer(t) for t in fn.function_type.inputs.data[len(self.args) :]]  # bufferized: results are out-params
        result = interp.call(self.function, *self.args, *outs)
        values = outs if outs else (list(result) if isinstance(result, tuple) else [result])
        return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values]) if values else np.zeros(0)

    def callback(self, prev: ModulePass | None, module: ModuleOp, nxt: ModulePass | None) -> None:
        """A pipeline callback: the baseline before the first pass, a comparison after each."""
        if self.stopped:
            return
        name = prev.name if prev is not None else ""
        try:
            result = self.run(module)
        except RustyError as err:  # the interpreter refused the IR the pass left
            where = f"after pass '{prev}'" if prev is not None else "on the input"
            raise RustyError(f"--verify-each-numerically: {where}, @{self.function} does not run: {err}", err.op) from None
        if result is None:
            if prev is None:
                raise RustyError("--verify-each-numerically: no interpreter runs the input's level (tfm, tensor, dispatch or "
                                 "bufferized host IR)")  # fmt: skip
            self.stopped = str(prev)
            return
        if self.last is not None:
            self._compare(str(prev), result)
            self.checked.append(name)
        self.last = result

    def _compare(self, pass_spec: str, result: np.ndarray) -> None:
        assert self.last is not None
        if result.shape != self.last.shape:
            raise RustyError(f"--verify-each-numerically: pass '{pass_spec}' changed the results of @{self.function}: "
                             f"{self.last.size} values before, {result.size} after")  # fmt: skip
        scale = max(1.0, float(np.nanmax(np.abs(self.last), initial=0.0)))
        diff = np.abs(result - self.last)
        diff[np.isnan(diff) & ~(np.isnan(result) & np.isnan(self.last))] = np.inf  # a NaN that was not one before
        err = float(np.nan_to_num(diff, nan=0.0).max(initial=0.0)) / scale
        if not err <= self.rtol:
            worst = int(np.argmax(np.nan_to_num(diff, nan=0.0)))
            raise RustyError(f"--verify-each-numerically: pass '{pass_spec}' changed the result of @{self.function} on random "
                             f"inputs: element {worst} was {self.last[worst]:.6g}, is {result[worst]:.6g} (relative error "
                             f"{err:.3g} > {self.rtol:g})")  # fmt: skip

    def report(self) -> str:
        checked = ", ".join(self.checked) or "none"
        tail = f"; from '{self.stopped}' on no interpreter runs the IR" if self.stopped else ""
        return f"--verify-each-numerically: @{self.function} agreed after {len(self.checked)} passes ({checked}){tail}"


def _out_buffer(ty: Attribute) -> np.ndarray:
    if not isinstance(ty, MemRefType):
        raise RustyError(f"--verify-each-numerically: an argument of type {ty} the input function did not have")
    shape = [d if d >= 0 else DYNAMIC_SIZE for d in ty.get_shape()]
    dtype = np.int32 if isinstance(ty.element_type, IntegerType) else np.float32
    return np.zeros(shape, dtype)
