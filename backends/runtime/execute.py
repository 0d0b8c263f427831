"""The schedule executor: the one interpreter of a host schedule's steps. No xDSL.

``Executor`` walks a host function in order: ``let``, ``dim``, ``alloc``, ``weight``, ``cache``, ``block_table``,
``launch``, ``call``, ``loop``, ``if`` and ``return``. It keeps the names (each function call its own ``_Frame``),
which of them are buffers and their shapes, checks what it walks (unknown names, a buffer where a number is
expected, arity, recursion) and says where a step is (``layer.body[7] (loop).body[2] (launch)``). What numbers and
buffers *are* is its ``Host``'s:

- the model runtime (``expand.py``) walks each entry once at load **symbolically**: numbers are expressions of the
  step symbols ``S`` and ``pos``, an ``if`` whose condition is not known runs both branches under a guard, and a
  launch is recorded with its grid and scalars as expressions; the per-step plan (``plan.py``) then replays the
  recorded launches with every expression evaluated at once, so a step never walks the schedule again;
- the fusion bench (``rusty_ir.bench.fusion_program``) and measured tuning (``rusty_ir.tuning``) walk a function whose
  sizes are known, once, **concretely** (``ConcreteHost``): numbers are numbers, an ``if`` runs one branch.

A ``return`` ends the function; inside an ``if`` whose condition is known it returns from the function (the branch
ran alone), inside a guarded branch or a loop it is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from rusty_ir.backends.runtime.schedule import (
    OPERATORS,
    Alloc,
    BlockTable,
    Cache,
    Call,
    Dim,
    Expr,
    Function,
    If,
    Launch,
    Let,
    Loop,
    Return,
    Step,
    Weight,
)
from rusty_ir.errors import RustyError

ELEMENT_BYTES: Mapping[str, int] = {"f32": 4, "i32": 4, "f16": 2, "bf16": 2}
"""Bytes of one element of the schedule's plain element types (quantized ones are ``rusty_ir.weights`` schemes)."""

Shape = tuple[Any, ...]
"""A buffer's shape: numbers, or (symbolically) expressions of the step symbols."""


@dataclass(frozen=True)
class Buffer:
    """A buffer crossing a function's boundary (an argument, a result, a loop's iteration value): the host's value
    for it and its shape. Inside a function the executor keeps the two apart (``_Frame``)."""

    value: Any
    shape: Shape


Value = Any
"""What a name holds: a number (the host's kind of number) or a ``Buffer`` at a function's boundary."""


class Host(Protocol):
    """What ``Executor`` asks of its caller. ``where`` names the step (``prefill.body[3] (launch)``)."""

    def operate(self, op: str, a: Any, b: Any, where: str) -> Any:
        """One expression node ``[op, a, b]`` (``op`` in ``schedule.OPERATORS``) of two evaluated operands."""
        ...

    def constant(self, value: Any, where: str, what: str) -> int:
        """A number that must be known while walking (a loop bound, a weight's or a cache's layer), as an int."""
        ...

    def condition(self, value: Any, where: str) -> bool | None:
        """An ``if``'s condition: whether it holds when known (one branch runs); None to run both under ``guard``."""
        ...

    def guard(self, value: Any, taken: bool, where: str) -> AbstractContextManager[None]:
        """Entered around a branch of an ``if`` whose condition is not known: the ``then`` branch (``taken``) or
        the ``else`` one."""
        ...

    def alloc(self, step: Alloc, shape: Shape, where: str) -> Any:
        """The value of an ``alloc`` of this (evaluated) shape."""
        ...

    def weight(self, step: Weight, layer: int | None, where: str) -> Any:
        """The value of a ``weight`` step (``layer``: its evaluated layer, None for a weight without one)."""
        ...

    def cache(self, step: Cache, layer: int, where: str) -> Buffer:
        """One layer's K or V buffer of a KV cache, with its shape."""
        ...

    def block_table(self, step: BlockTable, where: str) -> Buffer:
        """A paged cache's block table, with its shape."""
        ...

    def launch(self, step: Launch, buffers: list[Any], grid: tuple[Any, ...], scalars: list[Any], where: str) -> None:
        """One kernel launch: the values of its buffers, its evaluated grid and scalar arguments."""
        ...


class ConcreteHost:
    """The arithmetic of a walk whose numbers are known (the fusion bench, measured tuning): numbers are Python
    numbers, an ``if`` runs the branch its condition picks, and a function has no KV caches. Subclasses give
    ``alloc``, ``weight`` and ``launch``."""

    def operate(self, op: str, a: Any, b: Any, where: str) -> Any:
        try:
            return OPERATORS[op](a, b)
        except ZeroDivisionError:
            raise RustyError(f"schedule: {where}: division by zero in [{op}, {a}, {b}]") from None

    def constant(self, value: Any, where: str, what: str) -> int:
        return int(value)

    def condition(self, value: Any, where: str) -> bool | None:
        return bool(value)

    def guard(self, value: Any, taken: bool, where: str) -> AbstractContextManager[None]:
        raise AssertionError("a known condition never runs a guarded branch")

    def cache(self, step: Cache, layer: int, where: str) -> Buffer:
        self.unsupported(step, where)

    def block_table(self, step: BlockTable, where: str) -> Buffer:
        self.unsupported(step, where)

    def unsupported(self, step: Step, where: str) -> NoReturn:
        """A step this host does not run: a RustyError saying where."""
        raise RustyError(f"schedule: {where}: a '{step.OP}' step; this runner takes functions without KV caches")


@dataclass
class _Frame:
    """One function call's names: ``env`` maps a name to its value (a number, or the host's value of a buffer),
    ``shapes`` a buffer's name to its shape (so a name is a buffer exactly when it has a shape)."""

    env: dict[str, Any] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)

    def bind(self, name: str, value: Value) -> None:
        if isinstance(value, Buffer):
            self.env[name] = value.value
            self.shapes[name] = value.shape
        else:
            self.env[name] = value
            self.shapes.pop(name, None)


class Executor:
    """Walks host functions of one schedule (``functions``, for ``call`` steps) for ``host``."""

    MAX_DEPTH = 32
    """Calls nest at most this deep (a schedule does not recurse)."""

    def __init__(self, host: Host, functions: Mapping[str, Function] | None = None) -> None:
        self.host = host
        self.functions = functions or {}

    def call(self, fn: Function, args: Sequence[Value], where: str, depth: int = 0) -> list[Value]:
        """Run ``fn`` on ``args`` (a ``Buffer`` for each buffer argument, a number for the others); its returned
        values (buffers as ``Buffer``), or [] when its body ends without a ``return``."""
        if depth > self.MAX_DEPTH:
            raise RustyError(f"schedule: {where}: calls nest deeper than {self.MAX_DEPTH} (recursion?)")
        if len(args) != len(fn.args):
            raise RustyError(f"schedule: {where}: '{fn.name}' takes {len(fn.args)} arguments, got {len(args)}")
        frame = _Frame()
        for arg, v in zip(fn.args, args, strict=True):
            if (arg.kind == "buffer") != isinstance(v, Buffer):
                raise RustyError(
                    f"schedule: {where}: argument '{arg.name}' of '{fn.name}' must be {'a buffer' if arg.kind == 'buffer' else 'a number'}"
                )
            frame.bind(arg.name, v)
        return self.steps(fn.body, frame, f"{fn.name}.body", depth) or []

    def steps(self, steps: Sequence[Step], frame: _Frame, where: str, depth: int) -> list[Value] | None:
        """Run ``steps`` in order; the values of the ``return`` that ended them, else None."""
        for i, step in enumerate(steps):
            here = f"{where}[{i}] ({step.OP})"
            if isinstance(step, Return):
                return [self.value(v, frame, here) for v in step.values]
            if isinstance(step, If):
                returned = self._if(step, frame, here, depth)
                if returned is not None:
                    return returned
            else:
                self.step(step, frame, here, depth)
        return None

    # -- values ----------------------------------------------------------------------

    def number(self, e: Expr, frame: _Frame, where: str) -> Any:
        """The value of an expression (names must be numbers), through the host's arithmetic."""
        if isinstance(e, str):
            if e not in frame.env:
                raise RustyError(f"schedule: {where}: unknown value '{e}'")
            if e in frame.shapes:
                raise RustyError(f"schedule: {where}: '{e}' is a buffer where a number is expected")
            return frame.env[e]
        if isinstance(e, list):
            return self.host.operate(e[0], self.number(e[1], frame, where), self.number(e[2], frame, where), where)
        return e

    def buffer(self, name: str, frame: _Frame, where: str) -> Buffer:
        """The buffer a name holds."""
        if name not in frame.env:
            raise RustyError(f"schedule: {where}: unknown value '{name}'")
        if name not in frame.shapes:
            raise RustyError(f"schedule: {where}: '{name}' is not a buffer")
        return Buffer(frame.env[name], frame.shapes[name])

    def value(self, e: Expr, frame: _Frame, where: str) -> Value:
        """A buffer (when ``e`` names one) or a number: a call's argument, a return or loop value."""
        if isinstance(e, str) and e in frame.shapes:
            return self.buffer(e, frame, where)
        return self.number(e, frame, where)

    # -- steps -----------------------------------------------------------------------

    def step(self, step: Step, frame: _Frame, where: str, depth: int) -> None:
        """Run one step other than ``return`` and ``if``."""
        host = self.host
        if isinstance(step, Let):
            frame.bind(step.result, self.number(step.expr, frame, where))
        elif isinstance(step, Dim):
            shape = self.buffer(step.buffer, frame, where).shape
            if not 0 <= step.index < len(shape):
                raise RustyError(f"schedule: {where}: dimension {step.index} of a rank-{len(shape)} buffer")
            frame.bind(step.result, shape[step.index])
        elif isinstance(step, Alloc):
            shape = tuple(self.number(d, frame, where) for d in step.shape)
            frame.bind(step.result, Buffer(host.alloc(step, shape, where), shape))
        elif isinstance(step, Weight):
            layer = None if step.layer is None else host.constant(self.number(step.layer, frame, where), where, "a weight's layer")
            frame.bind(step.result, Buffer(host.weight(step, layer, where), tuple(step.shape)))
        elif isinstance(step, Cache):
            layer = host.constant(self.number(step.layer, frame, where), where, "a cache's layer")
            frame.bind(step.result, host.cache(step, layer, where))
        elif isinstance(step, BlockTable):
            frame.bind(step.result, host.block_table(step, where))
        elif isinstance(step, Launch):
            grid = tuple(self.number(g, frame, where) for g in step.grid)
            buffers = [self.buffer(b, frame, where).value for b in step.buffers]
            scalars = [self.number(s, frame, where) for s in step.scalars]
            host.launch(step, buffers, grid, scalars, where)
        elif isinstance(step, Call):
            self._call(step, frame, where, depth)
        elif isinstance(step, Loop):
            self._loop(step, frame, where, depth)
        else:
            raise RustyError(f"schedule: {where}: cannot run step {type(step).__name__}")

    def _if(self, step: If, frame: _Frame, where: str, depth: int) -> list[Value] | None:
        """``scf.if`` without results: the branch a known condition picks (a ``return`` in it returns), or both
        under the host's guards (a ``return`` in either is an error)."""
        cond = self.number(step.cond, frame, where)
        known = self.host.condition(cond, where)
        if known is not None:
            return self.steps(step.then if known else step.orelse, frame, f"{where}.{'then' if known else 'else'}", depth)
        for taken, branch in ((True, step.then), (False, step.orelse)):
            with self.host.guard(cond, taken, where):
                if self.steps(branch, frame, f"{where}.{'then' if taken else 'else'}", depth) is not None:
                    raise RustyError(f"schedule: {where}: return inside an if")
        return None

    def _call(self, step: Call, frame: _Frame, where: str, depth: int) -> None:
        callee = self.functions.get(step.callee)
        if callee is None:
            raise RustyError(f"schedule: {where}: unknown function '{step.callee}'")
        results = self.call(callee, [self.value(a, frame, where) for a in step.args], where, depth + 1)
        if len(results) != len(step.results):
            raise RustyError(f"schedule: {where}: '{step.callee}' returns {len(results)} values, {len(step.results)} expected")
        for name, v in zip(step.results, results, strict=True):
            frame.bind(name, v)

    def _loop(self, step: Loop, frame: _Frame, where: str, depth: int) -> None:
        """``scf.for``, unrolled: its bounds must be known; iteration values may be buffers (swapped activations)."""
        lo, hi, st = (self.host.constant(self.number(e, frame, where), where, "a loop bound") for e in (step.lower, step.upper, step.step))
        if st <= 0:
            raise RustyError(f"schedule: {where}: loop step must be positive, got {st}")
        values = [self.value(init, frame, where) for _, init in step.iter_args]
        for iv in range(lo, hi, st):
            frame.bind(step.iv, iv)
            for (name, _), v in zip(step.iter_args, values, strict=True):
                frame.bind(name, v)
            if self.steps(step.body, frame, f"{where}.body", depth) is not None:
                raise RustyError(f"schedule: {where}: return inside a loop")
            values = [self.value(y, frame, where) for y in step.yields]
        if len(values) != len(step.results):
            raise RustyError(f"schedule: {where}: the loop yields {len(values)} values for {len(step.results)} results")
        for name, v in zip(step.results, values, strict=True):
            frame.bind(name, v)


__all__ = ["ELEMENT_BYTES", "Buffer", "ConcreteHost", "Executor", "Host", "Shape"]
