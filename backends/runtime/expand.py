"""Schedule expansion (the model runtime's load step 1, ``model.py``): an entry's host steps walked once by the
schedule executor (``execute.Executor``) symbolically, in the step symbols ``S`` (tokens in the step) and ``pos``
(position of its first token), into one flat list of launches whose grids and scalars are expressions of them;
loops and calls unrolled, weight names resolved per layer, ``if`` steps kept as guards when their condition is not
a constant. The per-step plans (``plan.py``) replay that list. No xDSL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeAlias

from rusty_ir.backends.runtime.execute import ELEMENT_BYTES, Buffer, Executor
from rusty_ir.backends.runtime.schedule import OPERATORS, Alloc, BlockTable, Cache, Function, Launch, Schedule, Weight
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
VERIFY_SAMPLE_ENTRY = "verify_sample"
"""An optional entry (tokens, pos, sampling: i32 [S, SAMPLING_WORDS], out: i32 [S]) -> a token drawn after every row
under that row's packed words: sampled speculation's verification step."""

Sym: TypeAlias = "int | float | str | tuple[str, Sym, Sym]"
"""A value during expansion: an expression of the step symbols ``S`` and ``pos``: a literal, ``"S"``, ``"pos"``, or
``(op, a, b)`` with ``op`` in ``schedule.OPERATORS``."""

BufferKey = tuple[str | int, ...]
"""Which device buffer a value is: ``("slot", n)``, ``("weight", name)``, ``("cache", cache, layer, part)``,
``("block_table", cache)`` or ``("io", entry, arg name)``; the runtime's buffers are keyed by it."""


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


def _eval(s: Sym, S: int, pos: int) -> int | float:
    if isinstance(s, tuple):
        return OPERATORS[s[0]](_eval(s[1], S, pos), _eval(s[2], S, pos))
    if isinstance(s, str):
        return S if s == "S" else pos
    return s


def _constants(s: Sym) -> set[int]:
    """The integer constants of a symbolic expression."""
    if isinstance(s, tuple):
        return _constants(s[1]) | _constants(s[2])
    return {s} if isinstance(s, int) else set()


def _show(s: Sym) -> str:
    return f"[{s[0]}, {_show(s[1])}, {_show(s[2])}]" if isinstance(s, tuple) else str(s)


@dataclass(frozen=True)
class _Buf:
    """A buffer value during expansion: which device buffer, and its shape."""

    key: BufferKey
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

    def points(self, most: int, context_length: int) -> list[tuple[int, int]]:
        """(S, pos) pairs buffer sizes and grids are checked at: steps of 1, ``most``, and either side of each
        constant a guard compares S with (a single-token version runs up to 8 tokens), each at the first and the
        last position."""
        guards = [*(a[3] for a in self.allocs), *(launch.guard for launch in self.launches)]
        edges = {c + d for g in guards for c in _constants(g) for d in (0, 1)}
        return sorted({(k, p) for k in {1, most} | {k for k in edges if 1 <= k <= most} for p in (0, context_length - k)})


class _Symbolic:
    """The expansion's side of the schedule executor (``execute.Executor``): numbers are expressions of ``S`` and
    ``pos`` folded as far as they go, buffers are ``_Buf``; allocs, weights and launches are recorded in ``out``,
    each under the guard of the ``if`` branches around it (module docstring)."""

    def __init__(self, schedule: Schedule, context_length: int, entry: str) -> None:
        self.schedule = schedule
        self.context_length = context_length
        self.out = _Expansion(entry)
        self.caches = {c.name: c for c in schedule.kv_caches}
        self.guard_now: Sym = 1
        """The product of the conditions of the ``if`` branches being walked: 1 outside any."""

    # -- numbers ----------------------------------------------------------------------

    def operate(self, op: str, a: Sym, b: Sym, where: str) -> Sym:
        return _fold(op, a, b)

    def constant(self, value: Sym, where: str, what: str) -> int:
        if not isinstance(value, int):
            raise RustyError(f"schedule: {where}: {what} must be a constant when the schedule is expanded, got {_show(value)}")
        return value

    def condition(self, value: Sym, where: str) -> bool | None:
        """Known (decode: ``S = 1``): one branch; otherwise both branches' launches are kept, guarded, and each
        step's ``S`` decides."""
        if isinstance(value, tuple) and value[0] != "le":
            raise RustyError(f"schedule: {where}: a condition must be a comparison ('le'), got {_show(value)}")
        return value != 0 if isinstance(value, int | float) else None

    @contextmanager
    def guard(self, value: Sym, taken: bool, where: str) -> Iterator[None]:
        outer = self.guard_now
        self.guard_now = _fold("mul", outer, value if taken else _fold("sub", 1, value))
        try:
            yield
        finally:
            self.guard_now = outer

    # -- buffers and launches ---------------------------------------------------------

    def alloc(self, step: Alloc, shape: tuple[Sym, ...], where: str) -> _Buf:
        self.out.allocs.append((step.slot, _nbytes(step.element_type, shape, where), where, self.guard_now))
        return _Buf(("slot", step.slot), shape, step.element_type)

    def weight(self, step: Weight, layer: int | None, where: str) -> _Buf:
        name = step.name
        part = f"{PART_SEPARATOR}{step.part}" if step.part else ""
        if layer is not None:
            name = name.replace("{}", str(layer))
            self.out.weight_layers.setdefault(name + part, (step.name + part, layer))
        name += part
        self.out.weights.setdefault(name, step)
        return _Buf(("weight", name), tuple(step.shape), step.scheme)

    def cache(self, step: Cache, layer: int, where: str) -> Buffer:
        cache = self.caches.get(step.cache)
        if cache is None or step.part not in ("k", "v") or not 0 <= layer < cache.num_layers:
            raise RustyError(f"schedule: {where}: no {step.part!r} cache buffer of layer {layer} in cache '{step.cache}'")
        shape = (self.context_length, cache.row_width)
        return Buffer(_Buf(("cache", cache.name, layer, step.part), shape, cache.element_type), shape)

    def block_table(self, step: BlockTable, where: str) -> Buffer:
        cache = self.caches.get(step.cache)
        if cache is None or not cache.block_size:
            raise RustyError(f"schedule: {where}: cache '{step.cache}' is not a paged cache with a block table")
        shape = (-(-self.context_length // cache.block_size),)
        return Buffer(_Buf(("block_table", cache.name), shape, "i32"), shape)

    def launch(self, step: Launch, buffers: list[_Buf], grid: tuple[Sym, ...], scalars: list[Sym], where: str) -> None:
        if step.kernel not in self.schedule.kernels:
            raise RustyError(f"schedule: {where}: unknown kernel '{step.kernel}'")
        x, y, z = grid
        self.out.launches.append(
            _Launch(step.kernel, tuple(buffers), (x, y, z), tuple(scalars), f"{self.out.entry}: {where}", self.guard_now)
        )


def expand(schedule: Schedule, context_length: int, entry: str) -> _Expansion:
    """One entry's host steps walked symbolically by the schedule executor (module docstring): its launches, allocs,
    weights and io buffers. The entry's signature is checked first."""
    fn = schedule.functions.get(entry)
    if fn is None:
        raise RustyError(f"the schedule has no '{entry}' function (entries: {list(schedule.entries)})")
    host = _Symbolic(schedule, context_length, entry)
    io = _entry_io(fn, entry)
    host.out.io = {role: (buf, name) for role, (buf, name) in io.items()}
    args: list[Sym | Buffer] = [Buffer(io["tokens"][0], io["tokens"][0].shape), "pos"]
    if "sampling" in io:
        args.append(Buffer(io["sampling"][0], io["sampling"][0].shape))
    args.append(Buffer(io["out"][0], io["out"][0].shape))
    Executor(host, schedule.functions).call(fn, args, entry)
    return host.out


def _entry_io(fn: Function, entry: str) -> dict[str, tuple[_Buf, str]]:
    """The entry's io buffers (tokens, out, and sampling for a sampling entry) -> (buffer, argument name), after
    checking its signature: (tokens: i32 [S], pos: index, [sampling: i32 [SAMPLING_WORDS] or, for
    ``verify_sample``, [S, SAMPLING_WORDS],] out)."""
    a = fn.args
    logits = entry == LOGITS_ENTRY
    verify = entry in (VERIFY_ENTRY, VERIFY_SAMPLE_ENTRY)  # out: i32 [S], a token per row
    sampling = entry in (*SAMPLE_ENTRIES, VERIFY_SAMPLE_ENTRY)  # (tokens, pos, sampling: i32 [..., SAMPLING_WORDS], out)
    words = (None, SAMPLING_WORDS) if entry == VERIFY_SAMPLE_ENTRY else (SAMPLING_WORDS,)
    o = a[3] if sampling and len(a) == 4 else a[2] if len(a) == 3 else None
    ok = (
        o is not None
        and a[0].kind == "buffer" and a[0].element_type == "i32" and a[0].shape is not None and len(a[0].shape) == 1
        and a[1].kind == "index"
        and (not sampling or (a[2].kind, a[2].element_type, a[2].shape) == ("buffer", "i32", words))
        and o.kind == "buffer" and o.shape is not None and len(o.shape) == 1
        and (o.element_type, o.shape[0] if logits else o.shape)
        == (("f32", o.shape[0]) if logits else ("i32", (None,)) if verify else ("i32", (1,)))
    )  # fmt: skip
    if not ok or o is None or o.shape is None or o.element_type is None or a[0].shape is None:
        got = ", ".join(f"{x.name}: {x.kind}{'' if x.shape is None else list(x.shape)}" for x in a)
        want = "f32 buffer [vocab]" if logits else "i32 buffer [S]" if verify else "i32 buffer [1]"
        middle = f"sampling: i32 buffer [{', '.join('S' if d is None else str(d) for d in words)}], " if sampling else ""
        raise RustyError(f"entry '{entry}' must take (tokens: i32 buffer [S], pos: index, {middle}out: {want}), got ({got})")
    io = {
        "tokens": (_Buf(("io", entry, "tokens"), tuple("S" if d is None else d for d in a[0].shape), "i32"), a[0].name),
        "out": (_Buf(("io", entry, "out"), tuple("S" if d is None else d for d in o.shape), o.element_type), o.name),
    }
    if sampling:
        io["sampling"] = (_Buf(("io", entry, "sampling"), tuple("S" if d is None else d for d in words), "i32"), a[2].name)
    return io


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
