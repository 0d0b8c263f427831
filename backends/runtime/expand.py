"""Schedule expansion (the model runtime's load step 1, ``model.py``): an entry's host steps interpreted
symbolically, in the step symbols ``S`` (tokens in the step) and ``pos`` (position of its first token), into one
flat list of launches whose grids and scalars are expressions of them; loops and calls unrolled, weight names
resolved per layer, ``if`` steps kept as guards when their condition is not a constant. No xDSL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rusty_ir.backends.runtime.execute import ELEMENT_BYTES
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
    Schedule,
    Step,
    Weight,
)
from rusty_ir.errors import RustyError
from rusty_ir.sampling import SAMPLE_ENTRIES, SAMPLING_WORDS
from rusty_ir.weights import SCHEMES

PART_SEPARATOR = "#"
"""Joins a weight's name and its split-layout part (``codes``, ``scales``) in buffer keys: ``output.weight#codes``."""

ENTRIES = ("prefill", "decode")
"""Entries every schedule has: (tokens: i32 [S], pos, out: i32 [1]) -> the greedy next token in ``out``."""
LOGITS_ENTRY = "prefill_logits"
"""An optional entry (tokens, pos, out: f32 [vocab]) -> the last row's logits, for checking numerics."""
VERIFY_ENTRY = "verify"
"""An optional entry (tokens, pos, out: i32 [S]) -> the greedy next token after every row: speculative
decoding's verification step (``rusty_ir.speculative``)."""

Sym = int | float | str | tuple  # "S", "pos", literals, or (op, a, b)
"""A value during expansion: an expression of the step symbols ``S`` and ``pos``."""


def _fold(op: str, a: Sym, b: Sym) -> Sym:
    if isinstance(a, int | float) and isinstance(b, int | float):
        if b == 0 and op in ("div", "ceildiv", "rem"):
            raise RustyError(f"schedule: division by zero in [{op}, {a}, {b}]")
        return OPERATORS[op](a, b)
    if op in ("add", "sub") and b == 0 or op in ("mul", "div", "ceildiv") and b == 1:
        return a
    if op == "add" and a == 0 or op == "mul" and a == 1:
        return b
    if op == "mul" and (a == 0 or b == 0):
        return 0
    return (op, a, b)


def _eval(s: Sym, S: int, pos: int) -> Any:  # the symbol's name
    if isinstance(s, tuple):
        return OPERATORS[s[0]](_eval(s[1], S, pos), _eval(s[2], S, pos))
    if isinstance(s, str):
        return S if s == "S" else pos
    return s


def _show(s: Sym) -> str:
    return f"[{s[0]}, {_show(s[1])}, {_show(s[2])}]" if isinstance(s, tuple) else str(s)


@dataclass(frozen=True)
class _Buf:
    """A buffer value during expansion: which device buffer, and its shape."""

    key: tuple[Any, ...]
    """("slot", n), ("weight", name), ("cache", cache, layer, part), ("block_table", cache) or ("io", entry, arg name)."""
    shape: tuple[Sym, ...]
    element_type: str


@dataclass(frozen=True)
class _Launch:
    kernel: str
    buffers: tuple[_Buf, ...]
    grid: tuple[Sym, Sym, Sym]
    scalars: tuple[Sym, ...]
    where: str
    guard: Sym = 1
    """Nonzero when the launch runs: the conditions of the ``if`` steps around it."""


@dataclass
class _Expansion:
    entry: str
    launches: list[_Launch] = field(default_factory=list)
    allocs: list[tuple[int, Sym, str, Sym]] = field(default_factory=list)
    """(slot, byte size, where, guard) of every alloc."""
    weights: dict[str, Weight] = field(default_factory=dict)
    """Resolved weight name -> its step."""
    weight_layers: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Resolved name of a layer-indexed weight -> (its template, its layer)."""
    io: dict[str, tuple[_Buf, str]] = field(default_factory=dict)
    """tokens/out (and sampling) -> (buffer, argument name)."""


class _Expander:
    """Interprets one entry's host steps symbolically (module docstring, step 1)."""

    MAX_DEPTH = 32

    def __init__(self, schedule: Schedule, context_length: int, entry: str) -> None:
        self.schedule = schedule
        self.context_length = context_length
        self.out = _Expansion(entry)
        self.caches = {c.name: c for c in schedule.kv_caches}
        self.guard: Sym = 1

    def run(self) -> _Expansion:
        entry = self.out.entry
        fn = self.schedule.functions.get(entry)
        if fn is None:
            raise RustyError(f"the schedule has no '{entry}' function (entries: {list(self.schedule.entries)})")
        a = fn.args
        logits = entry == LOGITS_ENTRY
        verify = entry == VERIFY_ENTRY  # out: i32 [S], a token per row
        sampling = entry in SAMPLE_ENTRIES  # (tokens, pos, sampling: i32 [SAMPLING_WORDS], out)
        o = a[3] if sampling and len(a) == 4 else a[2] if len(a) == 3 else None
        ok = (
            o is not None
            and a[0].kind == "buffer" and a[0].element_type == "i32" and a[0].shape is not None and len(a[0].shape) == 1
            and a[1].kind == "index"
            and (not sampling or (a[2].kind, a[2].element_type, a[2].shape) == ("buffer", "i32", (SAMPLING_WORDS,)))
            and o.kind == "buffer" and o.shape is not None and len(o.shape) == 1
            and (o.element_type, o.shape[0] if logits else o.shape)
            == (("f32", o.shape[0]) if logits else ("i32", (None,)) if verify else ("i32", (1,)))
        )  # fmt: skip
        if not ok:
            got = ", ".join(f"{x.name}: {x.kind}{'' if x.shape is None else list(x.shape)}" for x in a)
            want = "f32 buffer [vocab]" if logits else "i32 buffer [S]" if verify else "i32 buffer [1]"
            middle = f"sampling: i32 buffer [{SAMPLING_WORDS}], " if sampling else ""
            raise RustyError(f"entry '{entry}' must take (tokens: i32 buffer [S], pos: index, {middle}out: {want}), got ({got})")
        assert o is not None
        tokens = _Buf(("io", entry, "tokens"), tuple("S" if d is None else d for d in a[0].shape), "i32")  # type: ignore[union-attr]
        out = _Buf(("io", entry, "out"), tuple("S" if d is None else d for d in o.shape), o.element_type)  # type: ignore[arg-type, union-attr]
        self.out.io = {"tokens": (tokens, a[0].name), "out": (out, o.name)}
        args: list[Sym | _Buf] = [tokens, "pos", out]
        if sampling:
            words = _Buf(("io", entry, "sampling"), (SAMPLING_WORDS,), "i32")
            self.out.io["sampling"] = (words, a[2].name)
            args.insert(2, words)
        self.call(fn, args, 0, entry)
        return self.out

    # -- values --------------------------------------------------------------

    def value(self, e: Expr, env: dict[str, Any], where: str) -> Sym | _Buf:
        if isinstance(e, str):
            if e not in env:
                raise RustyError(f"schedule: {where}: unknown value '{e}'")
            return env[e]
        if isinstance(e, list):
            a, b = self.index(e[1], env, where), self.index(e[2], env, where)
            return _fold(e[0], a, b)
        return e

    def index(self, e: Expr, env: dict[str, Any], where: str) -> Sym:
        v = self.value(e, env, where)
        if isinstance(v, _Buf):
            raise RustyError(f"schedule: {where}: '{e}' is a buffer where a number is expected")
        return v

    def const(self, e: Expr, env: dict[str, Any], where: str, what: str) -> int:
        v = self.index(e, env, where)
        if not isinstance(v, int):
            raise RustyError(f"schedule: {where}: {what} must be a constant when the schedule is expanded, got {_show(v)}")
        return v

    def buffer(self, name: str, env: dict[str, Any], where: str) -> _Buf:
        v = self.value(name, env, where)
        if not isinstance(v, _Buf):
            raise RustyError(f"schedule: {where}: '{name}' is not a buffer")
        return v

    # -- steps ---------------------------------------------------------------

    def call(self, fn: Function, args: Sequence[Sym | _Buf], depth: int, where: str) -> list[Sym | _Buf]:
        if depth > self.MAX_DEPTH:
            raise RustyError(f"schedule: {where}: calls nest deeper than {self.MAX_DEPTH} (recursion?)")
        if len(args) != len(fn.args):
            raise RustyError(f"schedule: {where}: '{fn.name}' takes {len(fn.args)} arguments, got {len(args)}")
        env: dict[str, Any] = {}
        for arg, v in zip(fn.args, args, strict=True):
            if (arg.kind == "buffer") != isinstance(v, _Buf):
                raise RustyError(f"schedule: {where}: argument '{arg.name}' of '{fn.name}' must be {'a buffer' if arg.kind == 'buffer' else 'a number'}")
            env[arg.name] = v
        result = self.steps(fn, fn.body, env, depth)
        return result or []

    def steps(self, fn: Function, steps: Sequence[Step], env: dict[str, Any], depth: int) -> list[Sym | _Buf] | None:
        for i, step in enumerate(steps):
            where = f"{fn.name}.body[{i}] ({step.OP})"
            if isinstance(step, Return):
                return [self.value(v, env, where) for v in step.values]
            self.step(fn, step, env, depth, where)
        return None

    def step(self, fn: Function, step: Step, env: dict[str, Any], depth: int, where: str) -> None:
        if isinstance(step, Let):
            env[step.result] = self.index(step.expr, env, where)
        elif isinstance(step, Dim):
            buf = self.buffer(step.buffer, env, where)
            if not 0 <= step.index < len(buf.shape):
                raise RustyError(f"schedule: {where}: dimension {step.index} of a rank-{len(buf.shape)} buffer")
            env[step.result] = buf.shape[step.index]
        elif isinstance(step, Alloc):
            shape = tuple(self.index(d, env, where) for d in step.shape)
            nbytes = _nbytes(step.element_type, shape, where)
            self.out.allocs.append((step.slot, nbytes, where, self.guard))
            env[step.result] = _Buf(("slot", step.slot), shape, step.element_type)
        elif isinstance(step, Weight):
            name = step.name
            part = f"{PART_SEPARATOR}{step.part}" if step.part else ""
            if step.layer is not None:
                layer = self.const(step.layer, env, where, "a weight's layer")
                name = name.replace("{}", str(layer))
                self.out.weight_layers.setdefault(name + part, (step.name + part, layer))
            name += part
            self.out.weights.setdefault(name, step)
            env[step.result] = _Buf(("weight", name), tuple(step.shape), step.scheme)
        elif isinstance(step, Cache):
            cache = self.caches.get(step.cache)
            layer = self.const(step.layer, env, where, "a cache's layer")
            if cache is None or step.part not in ("k", "v") or not 0 <= layer < cache.num_layers:
                raise RustyError(f"schedule: {where}: no {step.part!r} cache buffer of layer {layer} in cache '{step.cache}'")
            env[step.result] = _Buf(("cache", cache.name, layer, step.part), (self.context_length, cache.row_width), cache.element_type)
        elif isinstance(step, BlockTable):
            cache = self.caches.get(step.cache)
            if cache is None or not cache.block_size:
                raise RustyError(f"schedule: {where}: cache '{step.cache}' is not a paged cache with a block table")
            env[step.result] = _Buf(("block_table", cache.name), (-(-self.context_length // cache.block_size),), "i32")
        elif isinstance(step, Launch):
            if step.kernel not in self.schedule.kernels:
                raise RustyError(f"schedule: {where}: unknown kernel '{step.kernel}'")
            grid = tuple(self.index(g, env, where) for g in step.grid)
            buffers = tuple(self.buffer(b, env, where) for b in step.buffers)
            scalars = tuple(self.index(s, env, where) for s in step.scalars)
            self.out.launches.append(_Launch(step.kernel, buffers, grid, scalars, f"{self.out.entry}: {where}", self.guard))  # type: ignore[arg-type]
        elif isinstance(step, If):
            # a condition known at expansion (decode: S = 1) picks a branch; otherwise both
            # branches' launches are kept, guarded, and the step's S decides
            cond = self.index(step.cond, env, where)
            if isinstance(cond, tuple) and cond[0] != "le":
                raise RustyError(f"schedule: {where}: a condition must be a comparison ('le'), got {_show(cond)}")
            outer = self.guard
            then = int(cond != 0) if isinstance(cond, int | float) else cond
            for steps, taken in ((step.then, then), (step.orelse, _fold("sub", 1, then))):
                if taken == 0:
                    continue
                self.guard = _fold("mul", outer, taken)
                if self.steps(fn, steps, env, depth) is not None:
                    raise RustyError(f"schedule: {where}: return inside an if")
            self.guard = outer
        elif isinstance(step, Call):
            callee = self.schedule.functions.get(step.callee)
            if callee is None:
                raise RustyError(f"schedule: {where}: unknown function '{step.callee}'")
            results = self.call(callee, [self.value(a, env, where) for a in step.args], depth + 1, where)
            if len(results) != len(step.results):
                raise RustyError(f"schedule: {where}: '{step.callee}' returns {len(results)} values, {len(step.results)} expected")
            env.update(zip(step.results, results, strict=True))
        elif isinstance(step, Loop):
            lo, hi, st = (self.const(e, env, where, "a loop bound") for e in (step.lower, step.upper, step.step))
            if st <= 0:
                raise RustyError(f"schedule: {where}: loop step must be positive, got {st}")
            values = [self.value(init, env, where) for _, init in step.iter_args]
            for iv in range(lo, hi, st):
                env[step.iv] = iv
                env.update(zip((n for n, _ in step.iter_args), values, strict=True))
                if self.steps(fn, step.body, env, depth) is not None:
                    raise RustyError(f"schedule: {where}: return inside a loop")
                values = [self.value(y, env, where) for y in step.yields]
            if len(values) != len(step.results):
                raise RustyError(f"schedule: {where}: the loop yields {len(values)} values for {len(step.results)} results")
            env.update(zip(step.results, values, strict=True))
        else:
            raise RustyError(f"schedule: {where}: cannot run step {type(step).__name__}")


def _nbytes(element_type: str, shape: tuple[Sym, ...], where: str) -> Sym:
    if element_type in ELEMENT_BYTES:
        size: Sym = ELEMENT_BYTES[element_type]
        for d in shape:
            size = _fold("mul", size, d)
        return size
    scheme = SCHEMES.get(element_type)
    if scheme is None or not shape or not isinstance(shape[-1], int):
        raise RustyError(f"schedule: {where}: cannot size a buffer of {element_type} with shape {[_show(d) for d in shape]}")
    size = scheme.row_bytes(shape[-1])
    for d in shape[:-1]:
        size = _fold("mul", size, d)
    return size
