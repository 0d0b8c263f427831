"""The host schedule: what a compiled model's host code does, as data (JSON). Standard library only.

``rusty-translate --to-schedule`` prints it from gpu-level IR
(``rusty_ir.backends.schedule``); ``ModelRuntime`` (``model.py``) reads it. No
xDSL here, so a compiled artifact runs without the compiler.

Format (version 1), one JSON object::

    {"format": "rusty-schedule", "version": 1,
     "entries": ["decode", "prefill"],
     "kernels": {"<name>": <KernelInterface.to_dict()>, ...},
     "kv_caches": [{"name": "kv", "num_layers": 2, "row_width": 8, "element_type": "f32"}],
     "slots": [{"slot": 0, "element_types": ["f32"]}, ...],            # summary of the allocs
     "weights": [{"name": "blk.{}.w", "layered": true, "scheme": "f32", "shape": [8]}, ...],
     "functions": {"<name>": {"args": [<arg>, ...], "body": [<step>, ...]}, ...},
     "extra": {"few_token_steps": 8}}                                  # optional facts for the runtime

``extra`` holds facts about the compiled kernels that the host may use and can do without:
``few_token_steps`` (with a ``verify`` function), the most tokens of a step whose kernels are
the few-token versions; a larger step runs the prefill's tiles and costs several decode steps.

An ``<arg>`` is ``{"name": "h", "kind": "buffer", "element_type": "f32", "shape": [null, 8]}``
(``null`` = dynamic) or ``{"name": "pos", "kind": "index"}`` (or ``i32``/``f32``).
Names are the SSA names of the host function, unique within it.

**Expressions** (sizes, grids, scalar kernel arguments, loop bounds) are JSON
trees: an int or float literal, a value name (a string), or
``[op, a, b]`` with ``op`` in ``OPERATORS`` (``add sub mul div ceildiv rem min
max le``; ``div``/``rem`` round towards minus infinity, which for the
non-negative sizes of a schedule is ``divui``/``remui``; ``le`` is 1 when
``a <= b``, else 0). Nothing is ever evaluated as Python.

**Steps**, in order (``op`` says which):

- ``{"op": "let", "result": "n", "expr": ["mul", "S", 8]}`` host ``arith`` on index values;
- ``{"op": "dim", "result": "S", "buffer": "tokens", "index": 0}`` a dynamic dimension;
- ``{"op": "alloc", "result": "h0", "slot": 0, "element_type": "f32", "shape": ["S", 8]}``
  ``memref.alloc`` with ``rusty.slot``: allocs of one slot share a device buffer;
- ``{"op": "weight", "result": "w", "name": "blk.{}.w", "layer": "l", "scheme": "f32", "shape": [8]}``
  (``layer`` is null for a non-layered weight; ``{}`` in ``name`` is replaced by its value);
- ``{"op": "cache", "result": "kc", "cache": "kv", "part": "k", "layer": "l"}`` one layer's K or V buffer
  (``memref<?xWxf32>``, one row per position; the runtime picks the row count);
- ``{"op": "launch", "kernel": "mix", "grid": [g, 1, 1], "block": [64, 1, 1],
  "buffers": ["h", ...], "scalars": ["S", "pos", "l"]}`` buffers in binding order, scalars
  (expressions) in params-field order;
- ``{"op": "call", "callee": "layer", "args": ["in", "l", "pos", "o"], "results": []}``
  (an arg is a buffer name or an expression);
- ``{"op": "loop", "iv": "l", "lower": 0, "upper": 2, "step": 1, "iter_args": [["in", "h0"], ["o", "spare"]],
  "body": [...], "yield": ["o", "in"], "results": ["hl", "hl_1"]}`` ``scf.for``; iteration values
  may be buffers, which is how loop-carried activations swap;
- ``{"op": "if", "cond": ["le", "S", 1], "then": [...], "else": [...]}`` ``scf.if`` without
  results: the ``then`` steps when ``cond`` is nonzero, else the ``else`` steps (how a
  single-token step launches its own version of a kernel);
- ``{"op": "return", "values": []}``.

``memref.cast`` and ``arith.index_cast`` are not steps: their result is the
operand. Constants are inlined as literals.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rusty_ir.backends.runtime.kernel_abi import KernelInterface
from rusty_ir.errors import RustyError

FORMAT = "rusty-schedule"
SCHEDULE_VERSION = 1
FEW_TOKEN_STEPS = "few_token_steps"
"""``extra`` key: the most tokens of a step that runs the few-token kernel versions (module docstring)."""

Expr = int | float | str | list[Any]
"""An expression tree: literal, value name, or ``[op, a, b]``."""


Number = int | float
"""A value of an expression (sizes and positions are ints; a scalar kernel argument may be a float)."""


def _ceildiv(a: Number, b: Number) -> Number:
    return -(-a // b)


OPERATORS: Mapping[str, Callable[[Number, Number], Number]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.floordiv,
    "ceildiv": _ceildiv,
    "rem": operator.mod,
    "min": min,
    "max": max,
    "le": lambda a, b: int(a <= b),
}
"""Every expression operator (all binary) and what it computes (``le`` is 1 or 0)."""


def check_expr(e: Any, where: str) -> Expr:
    """``e`` if it is a well-formed expression, else a RustyError saying where."""
    if isinstance(e, bool) or not isinstance(e, int | float | str | list):
        raise RustyError(f"schedule: {where}: expected an expression, got {json.dumps(e)}")
    if isinstance(e, list):
        if len(e) != 3 or e[0] not in OPERATORS:
            raise RustyError(f"schedule: {where}: expected [op, a, b] with op in {sorted(OPERATORS)}, got {json.dumps(e)}")
        check_expr(e[1], where)
        check_expr(e[2], where)
    return e


def evaluate(e: Expr, env: Mapping[str, Number]) -> Number:
    """The value of an expression, names looked up in ``env`` (for tools and tests; the runtime compiles them)."""
    if isinstance(e, str):
        return env[e]
    if isinstance(e, list):
        return OPERATORS[e[0]](evaluate(e[1], env), evaluate(e[2], env))
    return e


# ---------------------------------------------------------------------------
# Reading JSON with paths in the error messages
# ---------------------------------------------------------------------------

_REQUIRED = object()


class _In:
    """One JSON object being read; errors name its path in the schedule."""

    def __init__(self, d: Any, where: str) -> None:
        if not isinstance(d, dict):
            raise RustyError(f"schedule: {where} must be an object, got {json.dumps(d)[:60]}")
        self.d, self.where = d, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        if key not in self.d:
            if default is _REQUIRED:
                raise RustyError(f"schedule: {self.where} has no '{key}'")
            return default
        v = self.d[key]
        if isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            v = None  # bool is an int in Python; not here
        if not isinstance(v, kind):
            raise RustyError(f"schedule: {self.where}.{key} has the wrong type: {json.dumps(v)[:60]}")
        return v

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def name(self, key: str) -> str:
        return self.get(key, str)

    def names(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list)
        if not all(isinstance(n, str) for n in items):
            raise RustyError(f"schedule: {self.at(key)} must be a list of names")
        return tuple(items)

    def expr(self, key: str) -> Expr:
        return check_expr(self.get(key, (int, float, str, list)), self.at(key))

    def exprs(self, key: str, n: int | None = None) -> tuple[Expr, ...]:
        items = self.get(key, list)
        if n is not None and len(items) != n:
            raise RustyError(f"schedule: {self.at(key)} must have {n} entries")
        return tuple(check_expr(e, f"{self.at(key)}[{i}]") for i, e in enumerate(items))

    def xyz(self, key: str) -> tuple[Expr, Expr, Expr]:
        x, y, z = self.exprs(key, 3)
        return x, y, z

    def shape(self, key: str, allow_none: bool = False) -> tuple[Any, ...]:
        items = self.get(key, list)
        for i, e in enumerate(items):
            if not (allow_none and e is None):
                check_expr(e, f"{self.at(key)}[{i}]")
        return tuple(items)


# ---------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KvCache:
    """``dispatch.kv_cache``: a K and a V buffer per layer, ``row_width`` values (f32, f16 or q8_0) per position;
    paged in blocks of ``block_size`` positions when that is positive (0: one row per position of the context)."""

    name: str
    num_layers: int
    row_width: int
    element_type: str = "f32"
    block_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> KvCache:
        r = _In(d, where)
        cache = cls(
            r.name("name"),
            r.get("num_layers", int),
            r.get("row_width", int),
            r.get("element_type", str, "f32"),
            r.get("block_size", int, 0),
        )
        if cache.block_size < 0 or cache.element_type not in ("f32", "f16", "q8_0"):
            raise RustyError(f"schedule: {where}: a KV cache holds f32, f16 or q8_0 in blocks of 0 (not paged) or more positions")
        return cache


@dataclass(frozen=True)
class WeightDecl:
    """A weight the schedule binds: name template (``{}`` = layer when ``layered``), scheme, shape."""

    name: str
    layered: bool
    scheme: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layered": self.layered, "scheme": self.scheme, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> WeightDecl:
        r = _In(d, where)
        return cls(r.name("name"), r.get("layered", bool), r.name("scheme"), tuple(r.get("shape", list)))


@dataclass(frozen=True)
class Slot:
    """A device buffer shared by the allocs naming it (sized by the runtime)."""

    slot: int
    element_types: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "element_types": list(self.element_types)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Slot:
        r = _In(d, where)
        return cls(r.get("slot", int), r.names("element_types"))


@dataclass(frozen=True)
class Arg:
    """A host function argument: a buffer (element type, shape with None for dynamic) or a scalar."""

    name: str
    kind: str
    """``buffer``, or the scalar type: ``index``, ``i32``, ``f32``."""
    element_type: str | None = None
    shape: tuple[int | None, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind != "buffer":
            return {"name": self.name, "kind": self.kind}
        return {"name": self.name, "kind": "buffer", "element_type": self.element_type, "shape": list(self.shape or ())}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> Arg:
        r = _In(d, where)
        kind = r.name("kind")
        if kind != "buffer":
            return cls(r.name("name"), kind)
        return cls(r.name("name"), kind, r.name("element_type"), r.shape("shape", allow_none=True))


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Base of the host steps; ``OP`` is the JSON ``op``."""

    OP: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.OP}
        for k, v in self.__dict__.items():
            out[k] = _jsonable(v)
        return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, Step):
        return v.to_dict()
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    return v


@dataclass(frozen=True)
class Let(Step):
    OP: ClassVar[str] = "let"
    result: str
    expr: Expr


@dataclass(frozen=True)
class Dim(Step):
    OP: ClassVar[str] = "dim"
    result: str
    buffer: str
    index: int


@dataclass(frozen=True)
class Alloc(Step):
    OP: ClassVar[str] = "alloc"
    result: str
    slot: int
    element_type: str
    shape: tuple[Expr, ...]


@dataclass(frozen=True)
class Weight(Step):
    """A stored tensor, whole (``part`` None) or one buffer of its split layout (``codes``/``scales``,
    ``rusty_ir.weights.split_part``); ``scheme``/``shape`` are the stored tensor's either way."""

    OP: ClassVar[str] = "weight"
    result: str
    name: str
    layer: Expr | None
    scheme: str
    shape: tuple[int, ...]
    part: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.part is None:
            del out["part"]
        return out


@dataclass(frozen=True)
class Cache(Step):
    OP: ClassVar[str] = "cache"
    result: str
    cache: str
    part: str
    layer: Expr


@dataclass(frozen=True)
class BlockTable(Step):
    """The block table of a paged cache: which physical block holds each block of the sequence's positions."""

    OP: ClassVar[str] = "block_table"
    result: str
    cache: str


@dataclass(frozen=True)
class Launch(Step):
    OP: ClassVar[str] = "launch"
    kernel: str
    grid: tuple[Expr, Expr, Expr]
    block: tuple[Expr, Expr, Expr]
    buffers: tuple[str, ...]
    scalars: tuple[Expr, ...]


@dataclass(frozen=True)
class Call(Step):
    OP: ClassVar[str] = "call"
    callee: str
    args: tuple[Expr, ...]
    results: tuple[str, ...]


@dataclass(frozen=True)
class Loop(Step):
    OP: ClassVar[str] = "loop"
    iv: str
    lower: Expr
    upper: Expr
    step: Expr
    iter_args: tuple[tuple[str, Expr], ...]
    body: tuple[Step, ...]
    yields: tuple[Expr, ...]
    results: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {("yield" if k == "yields" else k): v for k, v in super().to_dict().items()}


@dataclass(frozen=True)
class If(Step):
    OP: ClassVar[str] = "if"
    cond: Expr
    then: tuple[Step, ...]
    orelse: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {("else" if k == "orelse" else k): v for k, v in super().to_dict().items()}


@dataclass(frozen=True)
class Return(Step):
    OP: ClassVar[str] = "return"
    values: tuple[Expr, ...]


def _step_from_dict(d: Any, where: str) -> Step:
    r = _In(d, where)
    op = r.name("op")
    where = f"{where} ({op})"
    r.where = where
    if op == "let":
        return Let(r.name("result"), r.expr("expr"))
    if op == "dim":
        return Dim(r.name("result"), r.name("buffer"), r.get("index", int))
    if op == "alloc":
        return Alloc(r.name("result"), r.get("slot", int), r.name("element_type"), r.exprs("shape"))
    if op == "weight":
        layer = None if r.d.get("layer") is None else r.expr("layer")
        part = r.d.get("part")
        if part not in (None, "codes", "scales"):
            raise RustyError(f"schedule: {where}: a weight part is 'codes' or 'scales', got {part!r}")
        return Weight(r.name("result"), r.name("name"), layer, r.name("scheme"), tuple(r.get("shape", list)), part)
    if op == "cache":
        return Cache(r.name("result"), r.name("cache"), r.name("part"), r.expr("layer"))
    if op == "block_table":
        return BlockTable(r.name("result"), r.name("cache"))
    if op == "launch":
        return Launch(r.name("kernel"), r.xyz("grid"), r.xyz("block"), r.names("buffers"), r.exprs("scalars"))
    if op == "call":
        return Call(r.name("callee"), r.exprs("args"), r.names("results"))
    if op == "loop":
        pairs = r.get("iter_args", list)
        iter_args = []
        for i, p in enumerate(pairs):
            if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)):
                raise RustyError(f"schedule: {r.at('iter_args')}[{i}] must be [name, initial value]")
            iter_args.append((p[0], check_expr(p[1], f"{r.at('iter_args')}[{i}]")))
        body = tuple(_step_from_dict(s, f"{r.at('body')}[{i}]") for i, s in enumerate(r.get("body", list)))
        return Loop(
            r.name("iv"), r.expr("lower"), r.expr("upper"), r.expr("step"), tuple(iter_args), body, r.exprs("yield"), r.names("results")
        )
    if op == "if":
        branches = (tuple(_step_from_dict(s, f"{r.at(k)}[{i}]") for i, s in enumerate(r.get(k, list))) for k in ("then", "else"))
        return If(r.expr("cond"), *branches)
    if op == "return":
        return Return(r.exprs("values"))
    raise RustyError(f"schedule: {where}: unknown step op '{op}'")


@dataclass(frozen=True)
class Function:
    """A host function: arguments and an ordered body of steps."""

    name: str
    args: tuple[Arg, ...]
    body: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"args": [a.to_dict() for a in self.args], "body": [s.to_dict() for s in self.body]}

    @classmethod
    def from_dict(cls, name: str, d: Any, where: str) -> Function:
        r = _In(d, where)
        args = tuple(Arg.from_dict(a, f"{where}.args[{i}]") for i, a in enumerate(r.get("args", list)))
        body = tuple(_step_from_dict(s, f"{where}.body[{i}]") for i, s in enumerate(r.get("body", list)))
        return cls(name, args, body)


@dataclass(frozen=True)
class Schedule:
    """A whole host schedule; ``to_json``/``from_json`` (de)serialise it."""

    kernels: Mapping[str, KernelInterface]
    functions: Mapping[str, Function]
    kv_caches: tuple[KvCache, ...] = ()
    slots: tuple[Slot, ...] = ()
    weights: tuple[WeightDecl, ...] = ()
    entries: tuple[str, ...] = ()
    version: int = SCHEDULE_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict[str, Any])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "entries": list(self.entries),
            "kernels": {k: self.kernels[k].to_dict() for k in sorted(self.kernels)},
            "kv_caches": [c.to_dict() for c in self.kv_caches],
            "slots": [s.to_dict() for s in self.slots],
            "weights": [w.to_dict() for w in self.weights],
            "functions": {k: self.functions[k].to_dict() for k in self.functions},
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def to_json(self) -> str:
        """Deterministic, readable JSON: one line per step and per short value, longer ones indented."""
        return _dump(self.to_dict(), 0) + "\n"

    @classmethod
    def from_dict(cls, d: Any) -> Schedule:
        r = _In(d, "schedule")
        if d.get("format") != FORMAT:
            raise RustyError(f"not a rusty-ir schedule (its 'format' is {json.dumps(d.get('format'))}, expected \"{FORMAT}\")")
        version = r.get("version", int)
        if version != SCHEDULE_VERSION:
            raise RustyError(
                f"schedule version {version} is not supported (this runtime reads version {SCHEDULE_VERSION}); recompile the model"
            )
        kernels: dict[str, KernelInterface] = {}
        for name, k in r.get("kernels", dict).items():
            try:
                kernels[name] = KernelInterface.from_dict(k)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                raise RustyError(f"schedule: kernels.{name} is not a kernel interface ({type(err).__name__}: {err})") from None
        functions = {n: Function.from_dict(n, f, f"functions.{n}") for n, f in r.get("functions", dict).items()}
        entries = r.names("entries")
        for e in entries:
            if e not in functions:
                raise RustyError(f"schedule: entry '{e}' is not one of its functions")
        return cls(
            kernels=kernels,
            functions=functions,
            kv_caches=tuple(KvCache.from_dict(c, f"kv_caches[{i}]") for i, c in enumerate(r.get("kv_caches", list, []))),
            slots=tuple(Slot.from_dict(s, f"slots[{i}]") for i, s in enumerate(r.get("slots", list, []))),
            weights=tuple(WeightDecl.from_dict(w, f"weights[{i}]") for i, w in enumerate(r.get("weights", list, []))),
            entries=entries,
            version=version,
            extra=r.get("extra", dict, {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Schedule:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RustyError(f"schedule: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
        return cls.from_dict(data)


def _dump(v: Any, indent: int, width: int = 110) -> str:
    compact = json.dumps(v, separators=(", ", ": "))
    flat = isinstance(v, dict) and all(
        not isinstance(x, dict | list) or isinstance(x, list) and not any(isinstance(y, dict | list) for y in x) for x in v.values()
    )
    one_line = flat or isinstance(v, dict) and "op" in v and "body" not in v  # a record, or a step without nested steps
    if one_line or len(compact) + indent <= width or not isinstance(v, dict | list) or not v:
        return compact
    pad = " " * (indent + 2)
    if isinstance(v, dict):
        items = [f"{pad}{json.dumps(k)}: {_dump(x, indent + 2)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + _dump(x, indent + 2) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def load_schedule(source: Schedule | str | bytes | Mapping[str, Any]) -> Schedule:
    """A Schedule from itself, its JSON text or its dict."""
    if isinstance(source, Schedule):
        return source
    if isinstance(source, str | bytes):
        return Schedule.from_json(source)
    return Schedule.from_dict(source)


__all__ = [
    "FORMAT",
    "OPERATORS",
    "SCHEDULE_VERSION",
    "Alloc",
    "Arg",
    "Cache",
    "Call",
    "Dim",
    "Expr",
    "Function",
    "KvCache",
    "Launch",
    "Let",
    "Loop",
    "Number",
    "Return",
    "Schedule",
    "Slot",
    "Step",
    "Weight",
    "WeightDecl",
    "check_expr",
    "evaluate",
    "load_schedule",
]
