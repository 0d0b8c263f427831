"""The model runtime: runs a host schedule's ``prefill`` and ``decode`` entries on a wgpu device. No xDSL.

    rt = ModelRuntime(schedule_json, wgsl_source, weight_store, context_length=512)
    token = rt.prefill(np.array(prompt_ids, np.int32), 0)
    token = rt.decode(token, len(prompt_ids))

At load (once):

1. Each entry is expanded symbolically: the host steps are interpreted with
   the step symbols ``S`` (tokens in the step: the length of the entry's token
   buffer) and ``pos`` (position of its first token); loops and calls are
   unrolled, weight names resolved per layer, so an entry becomes one flat list
   of launches whose grids and scalar arguments are expressions of ``S`` and
   ``pos``. Loop bounds, layer indices and ``memref.dim`` indices must come out
   as constants. An ``if`` whose condition is a constant (decode: ``S = 1``)
   keeps one branch; otherwise both branches' launches are kept with a guard
   expression, and each step runs those whose guard holds.
2. Pipelines are built for the kernels used; every weight the expansions bind
   is uploaded once straight from its (memory-mapped) bytes (with layer
   streaming, below, the layers' weights get slots instead); the KV caches are
   made (``kv_cache.py``: paged pools that grow with the sequence, or K and V
   buffers of ``context_length`` rows per layer); each slot gets one buffer
   as large as its largest alloc, evaluated at the largest step: ``S =
   max_prefill`` (default: the context length, at most ``DEFAULT_MAX_PREFILL``) for prefill and ``S = 1`` for
   decode, and ``S = 1``, each at ``pos = 0`` and at the last position that
   fits (sizes are assumed monotone in ``S`` and ``pos``); an alloc under a
   guard is sized only at the points where its guard holds.
3. Scalar arguments are deduplicated: each distinct tuple of expressions gets
   its own slice of one uniform buffer per entry. Bind groups are built once.

Per step: evaluate the entry's few distinct expressions, write the token(s)
and the uniform buffer, encode every dispatch into one command encoder and
compute pass, copy the 4-byte token id from ``out`` into a mappable buffer,
submit once, map and read it. A prompt longer than ``max_prefill`` is run as
several prefill steps of at most ``max_prefill`` tokens.

Layer streaming (``resident_layers=N``, for models larger than device memory): the
weights whose ``Weight`` step has a layer (``blk.{}.*``, recorded per resolved name
during expansion) are not uploaded at load. N slots are made, each one buffer per
layer-indexed weight template (every layer's must have one shape). The first N - 2
layers keep a slot of their own (written by the first step, then never again); the
other layers take turns in the last two slots (``slot_of_layer``; with N <= 2 layer
``l`` uses slot ``l % N``), so a step uploads only the layers that do not fit.
``("weight", name)`` maps to the slot's buffer, so the bind groups are still built once. Other weights (embedding, output, final norm) stay resident.
Each plan's dispatches are grouped by the layer whose streamed weights they bind
(dispatches binding none stay in the group they sit in), and a step submits one
command buffer per group: before a group, its layer's weights are written into its
slot with ``queue.write_buffer`` from the memory map (the queue orders that write
after the previous group, which the GPU runs meanwhile; with N >= 2 the slot being
written is not the one being read). Writes wait until the group ``STREAM_AHEAD``
back has run, so at most that many layers wait in wgpu's staging memory; streamed
weights keep their mapped pages (read every step). Decode runs one step at a time.

Entries must have the signature ``(tokens: memref<?xi32> | memref<1xi32>,
pos: index, out: memref<1xi32>)`` (docs/compiler.md).
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel, PassEncoder, as_bytes_view
from rusty_ir.backends.runtime.kv_cache import KvCaches
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
    load_schedule,
)
from rusty_ir.errors import RustyError
from rusty_ir.sampling import SAMPLE_ENTRIES, SAMPLING_WORDS
from rusty_ir.weights import SCHEMES, TensorView, split_part

PART_SEPARATOR = "#"
"""Joins a weight's name and its split-layout part (``codes``, ``scales``) in buffer keys: ``output.weight#codes``."""


@dataclass(frozen=True)
class _Part:
    """One buffer of a weight's split layout, as the upload code reads a ``TensorView``."""

    name: str
    scheme: Any
    shape: tuple[int, ...]
    data: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


ENTRIES = ("prefill", "decode")
"""Entries every schedule has: (tokens: i32 [S], pos, out: i32 [1]) -> the greedy next token in ``out``."""
LOGITS_ENTRY = "prefill_logits"
"""An optional entry (tokens, pos, out: f32 [vocab]) -> the last row's logits, for checking numerics."""
VERIFY_ENTRY = "verify"
"""An optional entry (tokens, pos, out: i32 [S]) -> the greedy next token after every row: speculative
decoding's verification step (``rusty_ir.speculative``)."""
MAX_VERIFY_TOKENS = 33
"""Tokens of a ``verify`` step at most (the last accepted token and up to 32 drafted ones): its activation
slots (every row's logits) are sized for this many rows, not for a prefill step's."""
ELEMENT_BYTES: Mapping[str, int] = {"f32": 4, "i32": 4, "f16": 2, "bf16": 2}
DEFAULT_MAX_PREFILL = 512
"""Tokens per prefill step unless given: activation buffers are sized for the largest step, so this
bounds them (a 4096-token context would otherwise size every slot for a 4096-token step)."""

# -- symbolic values -----------------------------------------------------------

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


def release_mapped_pages(data: np.ndarray) -> bool:
    """Drop the resident pages of a tensor read from a memory-mapped file (``np.memmap``) once its
    bytes are on the device; touching it again re-reads them from the file. Other arrays are left
    alone (their memory is the only copy). True when pages were released."""
    if getattr(data, "_mmap", None) is None or data.nbytes == 0 or sys.platform not in ("linux", "darwin"):
        return False
    page = mmap.PAGESIZE
    start = data.ctypes.data // page * page
    end = -(-(data.ctypes.data + data.nbytes) // page) * page
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return libc.madvise(start, end - start, 4) == 0  # MADV_DONTNEED (4 on Linux and macOS)


# -- per-step plans --------------------------------------------------------------


class _Table:
    """Interned expressions of one entry: values[0] = S, values[1] = pos, then constants and results."""

    def __init__(self) -> None:
        self.base: list[Any] = [0, 0]
        self.code: list[tuple[int, Callable[[Any, Any], Any], int, int]] = []
        self.index: dict[Any, int] = {(str, "S"): 0, (str, "pos"): 1}

    def intern(self, s: Sym) -> int:
        key = (type(s), s)  # keeps 1 and 1.0 apart
        if key in self.index:
            return self.index[key]
        if isinstance(s, tuple):
            a, b = self.intern(s[1]), self.intern(s[2])
            i = len(self.base)
            self.base.append(0)
            self.code.append((i, OPERATORS[s[0]], a, b))
        else:
            i = len(self.base)
            self.base.append(s)
        self.index[key] = i
        return i


@dataclass
class _Plan:
    """What one entry does per step, all built at load time."""

    entry: str
    table: _Table
    dispatches: list[tuple[Any, Any, int, int, int, int | None]]
    """(pipeline, bind group, value index of grid x, y, z, value index of the guard or None)."""
    bound: list[BoundKernel]
    tokens: Any
    out: Any
    staging: Any
    max_tokens: int
    params_buffer: Any = None
    params_words: np.ndarray | None = None
    int_dst: np.ndarray | None = None
    int_src: np.ndarray | None = None
    float_dst: np.ndarray | None = None
    float_src: np.ndarray | None = None
    result: Any = None
    """The bytes of ``out`` read back by the last step."""
    spare_staging: Any = None
    """A second read-back buffer, so one step can be read while the next is in flight."""
    groups: list[tuple[int, int, int | None]] | None = None
    """With layer streaming: the dispatches as (start, end, layer) runs, each its own command buffer,
    run after ``layer``'s weights are written to its slot; None when every layer is resident."""
    sampling: Any = None
    """The packed sampling words' buffer of a sampling entry (written before each step); None for others."""


@dataclass
class _Stream:
    """Layer streaming (``ModelRuntime(resident_layers=N)``): N slots of one layer's weights each."""

    slot: dict[int, int]
    """Layer -> its slot (``slot_of_layer``)."""
    layers: dict[int, list[tuple[Any, memoryview, bytes, int]]]
    """Layer -> (its slot's buffer, the whole words of the weight's bytes, the last partial word
    zero-padded or b"", its offset) of each of its weights."""
    names: dict[str, int]
    """Resolved name of each streamed weight -> its layer."""
    held: list[int | None]
    """The layer each slot holds (written, or queued to be written, on the queue timeline)."""
    fences: list[Any]
    """Small mappable buffers cleared by each group's command buffer (a ring): mapping one waits for that group."""
    nbytes: int
    """Bytes of every streamed layer's weights (host memory; the device holds one slot's worth per slot)."""


def slot_of_layer(layer: int, slots: int) -> int:
    """Layer streaming's slot for ``layer``: layers ``0 .. slots - 3`` have one each (they stay on the
    device), the rest alternate between the last two (one is written while the other is read)."""
    pinned = max(0, slots - 2)
    if layer < pinned:
        return layer
    return pinned + (layer - pinned) % min(slots, 2)


STREAM_AHEAD = 2
"""With layer streaming, a layer's weights are written once the group ``STREAM_AHEAD`` groups back has run:
the GPU still has the previous group to run (the upload overlaps it) and at most this many layers' writes
wait in wgpu's staging memory (unthrottled, the host would stage a whole step's weights at once)."""


class ModelRuntime:
    """A compiled model on one wgpu device: the ``Backend`` protocol of ``rusty_ir.generate``."""

    name = "wgpu"

    def __init__(
        self,
        schedule: Schedule | str | bytes | Mapping[str, Any],
        wgsl_source: str,
        weights: Mapping[str, TensorView],
        context_length: int,
        device: Device | None = None,
        *,
        max_prefill: int | None = None,
        resident_layers: int | None = None,
        on_upload: Callable[[int], None] | None = None,
    ) -> None:
        """``resident_layers=N`` streams the layers' weights: only N layers' weights are on the device
        (N slots: the first N - 2 layers keep theirs, the others take turns in the last two), each
        streamed layer's written to its slot from the (memory-mapped) weights just before it runs,
        while the GPU runs the layer before; every other weight (embedding, output, final norm) stays
        resident. For models larger than device memory: every step uploads the layers beyond the
        first N - 2, so it is slower. None, or N at least the number of layers,
        keeps every layer resident (one command buffer per step). ``on_upload(nbytes)`` is told of each
        weight uploaded at load (for a progress bar)."""
        start = time.perf_counter()
        self.schedule = load_schedule(schedule)
        if context_length <= 0:
            raise RustyError(f"the context length must be positive, got {context_length}")
        self.context_length = context_length
        self.max_prefill = min(context_length, DEFAULT_MAX_PREFILL) if max_prefill is None else max_prefill
        if not 1 <= self.max_prefill <= context_length:
            raise RustyError(f"max_prefill must be between 1 and the context length {context_length}, got {max_prefill}")
        entries = [*ENTRIES, *(e for e in (LOGITS_ENTRY, *SAMPLE_ENTRIES, VERIFY_ENTRY) if e in self.schedule.functions)]
        self._expansions = expansions = {e: _Expander(self.schedule, context_length, e).run() for e in entries}
        self.max_verify = min(context_length, MAX_VERIFY_TOKENS)
        """Tokens of one ``verify`` step at most."""
        self._steps = {"prefill": self.max_prefill, "decode": 1, LOGITS_ENTRY: self.max_prefill, "prefill_sample": self.max_prefill,
                       "decode_sample": 1, VERIFY_ENTRY: self.max_verify}  # fmt: skip
        self.can_verify = VERIFY_ENTRY in expansions
        """Whether the schedule has the ``verify`` entry (speculative decoding)."""
        self.can_sample = all(e in expansions for e in SAMPLE_ENTRIES)
        """Whether the schedule has the sampling entries (``prefill_sample``, ``decode_sample``)."""
        self._on_upload = on_upload
        if resident_layers is not None and (isinstance(resident_layers, bool) or not isinstance(resident_layers, int) or resident_layers < 1):
            raise RustyError(f"resident_layers must be a whole number of layers, at least 1, got {resident_layers!r}")
        layered = {name: tl for x in expansions.values() for name, tl in x.weight_layers.items()}
        self.num_layers = len({layer for _, layer in layered.values()})
        self.resident_layers = resident_layers if resident_layers is not None and resident_layers < self.num_layers else None
        """Layers whose weights the device holds when streaming; None when every layer is resident."""
        self._stream: _Stream | None = None

        self.device = device if device is not None else Device()
        self._queue = self.device.device.queue
        shader = self.device.compile(wgsl_source, label="model")
        used = sorted({launch.kernel for x in expansions.values() for launch in x.launches})
        self._kernels: dict[str, Kernel] = {k: self.device.kernel(shader, self.schedule.kernels[k]) for k in used}
        self._buffers: dict[tuple[Any, ...], Any] = {}
        self._bytes = {"weights": 0, "slots": 0, "io": 0, "params": 0}
        self._unshared_slot_bytes = 0
        self._upload_weights(weights, expansions.values(), layered if self.resident_layers else {})
        self._caches = KvCaches(self.device, self.schedule.kv_caches, context_length, self.max_prefill)
        self._buffers.update(self._caches.buffers)
        self._create_slots(expansions.values())
        self._plans = self._make_plans()
        self._token = np.zeros(1, np.int32)
        self.load_seconds = time.perf_counter() - start
        self.last_step_seconds: tuple[float, float, float] = (0.0, 0.0, 0.0)
        """(prepare, encode, submit + wait + read) of the last step."""

    # -- the Backend protocol ------------------------------------------------------

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        """Run ``tokens`` at positions ``pos ..`` (in chunks of ``max_prefill``); the greedy next token."""
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        n = ids.size
        if n == 0:
            raise RustyError("prefill needs at least one token")
        self._reserve(n, pos)
        token = 0
        for start in range(0, n, self.max_prefill):
            chunk = ids[start : start + self.max_prefill]
            token = self._step(self._plans["prefill"], chunk, chunk.size, pos + start)
        return token

    def decode(self, token: int, pos: int) -> int:
        """Run one token at position ``pos``; the greedy next token."""
        self._reserve(1, pos)
        self._token[0] = token
        return self._step(self._plans["decode"], self._token, 1, pos)

    def prefill_logits(self, tokens: np.ndarray, pos: int = 0) -> np.ndarray:
        """The last row's logits after ``tokens`` (one step of at most ``max_prefill`` tokens)."""
        plan, _ = self._run_entry(LOGITS_ENTRY, "logits_entry", self.max_prefill, tokens, pos)
        return np.frombuffer(plan.result, np.float32).copy()

    def verify(self, tokens: np.ndarray, pos: int) -> np.ndarray:
        """Run ``tokens`` (one step: at most ``max_verify``) at positions ``pos ..``, as a prefill step does (their
        KV-cache rows written); the greedy next token after each of them (int32, one per token): the
        verification step of speculative decoding. Only the token ids are read back."""
        plan, _ = self._run_entry(VERIFY_ENTRY, "verify_entry", self.max_verify, tokens, pos)
        return np.frombuffer(plan.result, np.int32)[: np.size(tokens)].copy()

    def _run_entry(self, entry: str, option: str, most: int, tokens: np.ndarray, pos: int,
                   words: np.ndarray | None = None) -> tuple[_Plan, int]:  # fmt: skip
        """One step of the optional ``entry`` (compiled with ``option``) over at most ``most`` tokens, the packed
        sampling ``words`` written first for a sampling entry: its plan, and the token the step read back."""
        if entry not in self._plans:
            raise RustyError(f"this schedule has no '{entry}' entry (compile with {option}=True)")
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        if not 1 <= ids.size <= most:
            raise RustyError(f"{entry} takes 1..{most} tokens, got {ids.size}")
        self._reserve(ids.size, pos)
        plan = self._plans[entry]  # new bind groups if the cache grew
        if words is not None:
            self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(words, np.int32))
        return plan, self._step(plan, ids, ids.size, pos)

    def truncate(self, length: int) -> None:
        """Keep the KV-cache rows of positions ``0 .. length - 1`` only: a paged cache's blocks past them go back
        to its pool through the block table (nothing is copied or cleared). Speculative decoding calls it after a
        verification step whose rejected tokens wrote rows past the accepted ones."""
        self._caches.truncate(length)

    def prefill_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> int:
        """``tokens`` (one step: at most ``max_prefill``) at positions ``pos ..``; the next token drawn under
        the packed sampling ``words`` (``rusty_ir.sampling.pack``). A longer prompt's earlier steps are ``prefill``'s."""
        return self._run_entry("prefill_sample", "sampling_entries", self.max_prefill, tokens, pos, words)[1]

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int:
        """One token at position ``pos``; the next token drawn under the packed sampling ``words``."""
        self._reserve(1, pos)
        plan = self._sample_plan("decode_sample", words)
        self._token[0] = token
        return self._step(plan, self._token, 1, pos)

    def _sample_plan(self, entry: str, words: np.ndarray | None = None) -> _Plan:
        """A sampling entry's plan (after ``_reserve``, which may rebuild the plans), its words written."""
        plan = self._plans.get(entry)
        if plan is None:
            raise RustyError(f"this schedule has no '{entry}' entry (compile with sampling_entries=True)")
        if words is not None:
            self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(words, np.int32))
        return plan

    def reset(self) -> None:
        """Start a new sequence: a paged cache's blocks go back to its pool. Nothing is cleared: a step
        writes the cache rows of positions ``pos .. pos+S-1`` before it reads them, and never reads
        rows past them (causal kernels)."""
        self._caches.reset()

    def weight_bindings(self, entry: str) -> dict[str, int]:
        """For one step of ``entry``: each weight it binds (by resolved name) and how many dispatches bind it."""
        x = _Expander(self.schedule, self.context_length, entry).run()
        counts: dict[str, int] = dict.fromkeys(x.weights, 0)
        for launch in x.launches:
            for name in {b.key[1] for b in launch.buffers if b.key[0] == "weight"}:
                counts[name] += 1
        return counts

    def dispatches_per_step(self, entry: str) -> int:
        """Dispatches of one ``entry`` step of the most tokens it takes."""
        plan = self._plans[entry]
        return len(self._active(plan, self._values(plan, plan.max_tokens, 0)))

    def memory_report(self) -> dict[str, int]:
        """Bytes of device memory by use now: weights, kv_cache (paged pools grow with the sequence),
        slots, io, params, and total."""
        used = {**self._bytes, "kv_cache": self._caches.nbytes}
        return {**used, "total": sum(used.values())}

    def kv_cache_report(self) -> dict[str, dict[str, int]]:
        """Per paged KV cache: block size and blocks used by the sequence, allocated, and needed for the context."""
        return self._caches.report()

    def memory_planning_report(self) -> dict[str, int]:
        """What plan-memory's buffer sharing saves: the activation slots' bytes, against one buffer
        per allocated value (every alloc of the largest entry's expansion, layers unrolled)."""
        return {"slots": self._bytes["slots"], "one_buffer_per_value": self._unshared_slot_bytes}

    # -- profiling (not on the per-step path) ------------------------------------------

    QUERIES_PER_SET = 4096
    """wgpu's limit on the queries of one query set."""

    def profile_step(self, entry: str, tokens: np.ndarray, pos: int) -> list[tuple[str, float]] | None:
        """GPU seconds of every dispatch of one ``entry`` step, in order: [(kernel name, seconds)].

        None when the device lacks the 'timestamp-query' feature (the device must be
        created with it: ``rusty_ir.bench.profiling_device``). Each dispatch runs in its
        own compute pass with timestamp writes at its beginning and end, so the step is
        slower than a normal one as a whole, but each kernel's time is its own. The step
        does what a normal step does (KV cache rows, ``out``) and takes at most the
        entry's step size of tokens (no chunking).
        """
        if self._stream is not None:
            raise RustyError("profile_step runs a step as one command buffer; it does not support layer streaming (resident_layers)")
        if "timestamp-query" not in self.device.features:
            return None
        plan = self._plans.get(entry)
        if plan is None:
            raise RustyError(f"no entry '{entry}' to profile (entries: {', '.join(self._plans)})")
        ids = np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1)
        if not 1 <= ids.size <= plan.max_tokens:
            raise RustyError(f"profile_step: {entry} takes 1..{plan.max_tokens} tokens, got {ids.size}")
        self._reserve(ids.size, pos)
        plan = self._plans[entry]
        values = self._values(plan, ids.size, pos)
        self._queue.write_buffer(plan.tokens, 0, ids)
        self._write_params(plan, values)
        active = self._active(plan, values)
        dev = self.device.device
        per_set = self.QUERIES_PER_SET // 2
        encoder = dev.create_command_encoder()
        resolved = []
        for start in range(0, len(active), per_set):
            chunk = active[start : start + per_set]
            count = 2 * len(chunk)
            query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=count)
            for j, (_, (pipeline, group, gx, gy, gz, _)) in enumerate(chunk):
                compute = encoder.begin_compute_pass(
                    timestamp_writes={"query_set": query_set, "beginning_of_pass_write_index": 2 * j, "end_of_pass_write_index": 2 * j + 1}
                )
                compute.set_pipeline(pipeline)
                compute.set_bind_group(0, group)
                compute.dispatch_workgroups(values[gx], values[gy], values[gz])
                compute.end()
            buf = dev.create_buffer(size=8 * count, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
            encoder.resolve_query_set(query_set, 0, count, buf, 0)
            resolved.append(buf)
        self._queue.submit([encoder.finish()])
        stamps = np.concatenate([np.frombuffer(self._queue.read_buffer(b), np.uint64) for b in resolved])
        ns = (stamps[1::2].astype(np.int64) - stamps[0::2].astype(np.int64)).clip(min=0)
        return [(plan.bound[i].kernel.interface.name, float(t) * 1e-9) for (i, _), t in zip(active, ns, strict=True)]

    def _reserve(self, n: int, pos: int) -> None:
        """Refuse positions past the context; give the KV cache rows for positions up to ``pos + n``
        (rebuilding the plans' bind groups when a paged pool grew)."""
        if pos < 0 or pos + n > self.context_length:
            raise RustyError(
                f"{n} token{'s' if n > 1 else ''} at position {pos} exceed the context length {self.context_length}"
            )
        if self._caches.reserve(pos + n):
            self._buffers.update(self._caches.buffers)
            self._plans = self._make_plans()

    # -- one step: the hot path ------------------------------------------------------

    def _step(self, plan: _Plan, tokens: np.ndarray, S: int, pos: int) -> int:
        t0 = time.perf_counter()
        t1 = self._submit(plan, tokens, S, pos, plan.staging)
        t2 = time.perf_counter()
        token = self._read(plan, plan.staging)
        self.last_step_seconds = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        return token

    def _submit(self, plan: _Plan, tokens: np.ndarray | None, S: int, pos: int, staging: Any) -> float:
        """Write the step's inputs, encode every dispatch into one command buffer, submit it.

        ``tokens=None`` (decode only) takes the input token from ``out`` on the GPU: the
        previous step's argmax, so the host need not have read it yet. Returns the time
        the inputs were written (the rest is encoding).
        """
        if plan.groups is not None:
            return self._submit_streamed(plan, tokens, S, pos, staging)
        values = self._values(plan, S, pos)
        if tokens is not None:
            self._queue.write_buffer(plan.tokens, 0, tokens)
        self._write_params(plan, values)
        written = time.perf_counter()
        encoder = self.device.device.create_command_encoder()
        if tokens is None:
            encoder.copy_buffer_to_buffer(plan.out, 0, plan.tokens, 0, 4)
        self._encode(encoder, plan.dispatches, values)
        encoder.copy_buffer_to_buffer(plan.out, 0, staging, 0, staging.size)
        self._queue.submit([encoder.finish()])
        return written

    @staticmethod
    def _encode(encoder: Any, dispatches: Sequence[tuple[Any, ...]], values: list[Any]) -> None:
        """One compute pass of the ``dispatches`` whose guards hold, at these expression values."""
        compute = PassEncoder(encoder.begin_compute_pass())
        last = None
        for pipeline, group, gx, gy, gz, guard in dispatches:
            if guard is not None and not values[guard]:
                continue
            compute.dispatch(pipeline, group, values[gx], values[gy], values[gz], pipeline is last)
            last = pipeline
        compute.end()

    def _submit_streamed(self, plan: _Plan, tokens: np.ndarray | None, S: int, pos: int, staging: Any) -> float:
        """``_submit`` with layer streaming: one command buffer per group of ``plan.groups``, each submitted once
        its layer's weights are written to its slot. A write issued after the previous group's submit lands after
        that group ran (the queue orders writes and submits), and the GPU runs that group meanwhile."""
        stream = self._stream
        assert stream is not None and plan.groups is not None
        values = self._values(plan, S, pos)
        if tokens is not None:
            self._queue.write_buffer(plan.tokens, 0, tokens)
        self._write_params(plan, values)
        written = time.perf_counter()
        dispatches, fences, held, last = plan.dispatches, stream.fences, stream.held, len(plan.groups) - 1
        for g, (start, end, layer) in enumerate(plan.groups):
            if layer is not None and held[stream.slot[layer]] != layer:
                if g >= STREAM_AHEAD:  # bound the writes waiting in staging memory (STREAM_AHEAD)
                    fence = fences[(g - STREAM_AHEAD) % len(fences)]
                    fence.map_sync(wgpu.MapMode.READ)
                    fence.unmap()
                for buf, data, tail, offset in stream.layers[layer]:
                    self._queue.write_buffer(buf, 0, data)
                    if tail:
                        self._queue.write_buffer(buf, offset, tail)
                held[stream.slot[layer]] = layer
            encoder = self.device.device.create_command_encoder()
            if g == 0 and tokens is None:
                encoder.copy_buffer_to_buffer(plan.out, 0, plan.tokens, 0, 4)
            self._encode(encoder, dispatches[start:end], values)
            if g == last:
                encoder.copy_buffer_to_buffer(plan.out, 0, staging, 0, staging.size)
            encoder.clear_buffer(fences[g % len(fences)], 0, 4)
            self._queue.submit([encoder.finish()])
        return written

    @staticmethod
    def _values(plan: _Plan, S: int, pos: int) -> list[Any]:
        """Every interned expression of ``plan`` at step size ``S`` and position ``pos``."""
        values = plan.table.base.copy()
        values[0] = S
        values[1] = pos
        try:
            for i, f, a, b in plan.table.code:
                values[i] = f(values[a], values[b])
        except ZeroDivisionError:
            raise RustyError(f"{plan.entry}: division by zero evaluating the schedule at S={S}, pos={pos}") from None
        return values

    def _write_params(self, plan: _Plan, values: list[Any]) -> None:
        """Upload the kernels' scalar arguments of one step."""
        if plan.params_buffer is None:
            return
        v = np.array(values)
        words = plan.params_words
        words[plan.int_dst] = v[plan.int_src]  # type: ignore[index]
        if plan.float_dst is not None:
            words.view(np.float32)[plan.float_dst] = v[plan.float_src]  # type: ignore[union-attr]
        self._queue.write_buffer(plan.params_buffer, 0, words)

    @staticmethod
    def _active(plan: _Plan, values: list[Any]) -> list[tuple[int, tuple[Any, ...]]]:
        """(index, dispatch) of the dispatches a step with these values runs (guards hold)."""
        return [(i, d) for i, d in enumerate(plan.dispatches) if d[5] is None or values[d[5]]]

    def _read(self, plan: _Plan, staging: Any) -> int:
        """Wait for the step that copied into ``staging``; its token (and ``plan.result``, the bytes)."""
        staging.map_sync(wgpu.MapMode.READ)
        plan.result = staging.read_mapped(0, staging.size)
        staging.unmap()
        return int.from_bytes(plan.result[:4], "little", signed=True)

    def decode_stream(self, token: int, pos: int, count: int, sampling: Callable[[], np.ndarray] | None = None) -> Iterator[int]:
        """``count`` greedy decode steps from ``token`` at ``pos``, yielding each next token; with
        ``sampling`` (a function giving each step's packed words, ``rusty_ir.sampling``) sampled ones.

        One step stays in flight: step ``i + 1`` is encoded and submitted (its input
        token copied from step ``i``'s argmax on the GPU) before step ``i``'s token is
        read back, so the host's encoding overlaps the GPU's work. Stopping early
        (closing the generator) leaves at most one extra step's KV row written,
        which the next step at that position overwrites. With layer streaming
        (``resident_layers``) steps run one at a time: each uploads every layer anyway.
        """
        if count <= 0:
            return
        self._reserve(count, pos)
        plan = self._plans["decode"] if sampling is None else self._sample_plan("decode_sample")

        def write_words() -> None:  # queued after the step in flight, before the next
            if sampling is not None:
                self._queue.write_buffer(plan.sampling, 0, np.ascontiguousarray(sampling(), np.int32))

        if plan.groups is not None:  # layer streaming: one step at a time (each step uploads every layer anyway)
            for i in range(count):
                self._token[0] = token
                write_words()
                token = self._step(plan, self._token, 1, pos + i)
                yield token
            return
        if plan.spare_staging is None:
            plan.spare_staging = self.device.device.create_buffer(
                size=plan.staging.size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label="decode.out2"
            )
        stagings = (plan.staging, plan.spare_staging)
        self._token[0] = token
        write_words()
        self._submit(plan, self._token, 1, pos, stagings[0])
        for i in range(1, count):
            write_words()
            self._submit(plan, None, 1, pos + i, stagings[i % 2])
            yield self._read(plan, stagings[(i - 1) % 2])
        yield self._read(plan, stagings[(count - 1) % 2])

    # -- load time -------------------------------------------------------------------

    def _points(self, entry: str) -> list[tuple[int, int]]:
        """(S, pos) pairs buffer sizes and grids are checked at: the largest step and a one-token step,
        each at the first and the last position (guards compare S with constants)."""
        s = self._steps[entry]
        return sorted({(s, 0), (s, self.context_length - s), (1, 0), (1, self.context_length - 1)})

    def _upload_weights(self, weights: Mapping[str, TensorView], expansions: Any, streamed: Mapping[str, tuple[str, int]]) -> None:
        """Upload every weight the expansions bind, except the ``streamed`` ones (name -> (template, layer)),
        which get slots (``_make_stream``) and are written per step."""
        limit = self.device.limits.get("max-storage-buffer-binding-size")
        expansions = list(expansions)
        bound = _weight_ranges(expansions, self._kernels)  # per weight: (kernel, byte range or None) of each binding
        views: dict[str, TensorView] = {}
        for x in expansions:
            for name, step in x.weights.items():
                if ("weight", name) in self._buffers or name in views:
                    continue
                stored = name.split(PART_SEPARATOR)[0]
                try:
                    view = weights[stored]
                except KeyError:
                    raise RustyError(f"the schedule binds weight '{stored}' (from '{step.name}'), which the weights do not have") from None
                if view.scheme.name != step.scheme or tuple(view.shape) != tuple(step.shape):
                    raise RustyError(
                        f"weight '{stored}' is {view.scheme.name}{list(view.shape)} in the weights "
                        f"but {step.scheme}{list(step.shape)} in the schedule"
                    )
                if step.part is not None:  # one buffer of the split layout: a copy of those bytes
                    view = _Part(name, view.scheme, tuple(view.shape), split_part(view, step.part))  # type: ignore[assignment]
                self._check_weight_ranges(name, view.nbytes, bound.get(name, ()), limit)
                if name in streamed:
                    views[name] = view  # its pages stay mapped: read every step (a split part: held in memory)
                    continue
                self._buffers[("weight", name)] = self.device.buffer(view.data, label=name)
                if step.part is None:
                    release_mapped_pages(view.data)  # uploaded: the model is not held twice where GPU memory is host memory
                self._bytes["weights"] += view.nbytes
                if self._on_upload is not None:
                    self._on_upload(view.nbytes)
        if streamed:
            self._stream = self._make_stream(streamed, views)

    def _make_stream(self, streamed: Mapping[str, tuple[str, int]], views: Mapping[str, TensorView]) -> _Stream:
        """The slots of layer streaming (one buffer per weight template each) and what to write into them;
        ``self._buffers`` maps each streamed weight to its layer's slot, so the bind groups bind slots.
        Nothing is uploaded here: the first step writes what it runs."""
        n = self.resident_layers
        assert n is not None
        by_layer: dict[int, dict[str, str]] = {}  # layer -> template -> resolved name
        for name, (template, layer) in streamed.items():
            by_layer.setdefault(layer, {})[template] = name
        templates = sorted({t for t, _ in streamed.values()})
        kinds: dict[str, tuple[str, tuple[int, ...], int]] = {}
        for layer, names in sorted(by_layer.items()):
            missing = sorted(set(templates) - set(names))
            if missing:
                raise RustyError(f"layer streaming needs every layer to bind the same weights; layer {layer} has no {', '.join(missing)}")
            for t, name in sorted(names.items()):
                v = views[name]
                kind = (v.scheme.name, tuple(v.shape), v.nbytes)
                first = kinds.setdefault(t, kind)
                if kind != first:
                    raise RustyError(
                        f"layer streaming needs every layer's weights to have one shape: '{name}' is {kind[0]}{list(kind[1])}, "
                        f"an earlier layer's '{t}' is {first[0]}{list(first[1])}"
                    )
        slots = [{t: self.device.empty(kinds[t][2], label=f"slot{i}:{t}") for t in templates} for i in range(n)]
        layers: dict[int, list[tuple[Any, memoryview, bytes, int]]] = {}
        slot = {layer: slot_of_layer(layer, n) for layer in by_layer}
        for layer, names in sorted(by_layer.items()):
            writes = layers[layer] = []
            for t, name in sorted(names.items()):
                buf = slots[slot[layer]][t]
                self._buffers[("weight", name)] = buf
                data = as_bytes_view(views[name].data)  # a view of the memory map: no copy
                aligned = data.nbytes // 4 * 4
                tail = bytes(data[aligned:]).ljust(-(-(data.nbytes - aligned) // 4) * 4, b"\0")  # WebGPU writes whole words
                writes.append((buf, data[:aligned], tail, aligned))
        self._bytes["weights"] += n * sum(k[2] for k in kinds.values())
        fences = [
            self.device.device.create_buffer(size=4, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label=f"stream.fence{i}")
            for i in range(STREAM_AHEAD + 1)
        ]
        return _Stream(slot, layers, {name: layer for name, (_, layer) in streamed.items()}, [None] * n, fences,
                       sum(views[name].nbytes for name in streamed))  # fmt: skip

    def _check_weight_ranges(self, name: str, nbytes: int, ranges: Any, limit: int | None) -> None:
        """Refuse a weight the device cannot hold, or that some kernel binds (whole or a part) beyond what one binding may be."""
        max_buffer = self.device.limits.get("max-buffer-size")
        if max_buffer is not None and nbytes > max_buffer:
            raise RustyError(f"weight '{name}' has {nbytes} bytes; the device's buffers hold at most {max_buffer} (max-buffer-size)")
        align = self.device.limits.get("min-storage-buffer-offset-alignment", 256)
        for kernel, byte_range in sorted(ranges, key=str):
            offset, size = (0, nbytes) if byte_range is None else byte_range
            what = "binds all of it" if byte_range is None else f"binds bytes {offset}..{offset + size} of it"
            if limit is not None and size > limit:
                hint = "; compile with a smaller split-bindings max-bytes" if byte_range is None else ""
                raise RustyError(
                    f"weight '{name}' has {nbytes} bytes and kernel '{kernel}' {what}; the device binds at most {limit} "
                    f"(max-storage-buffer-binding-size){hint}"
                )
            if offset % align or offset + size > nbytes:
                raise RustyError(
                    f"weight '{name}' has {nbytes} bytes and kernel '{kernel}' {what}: a part must lie inside it and start at a "
                    f"multiple of {align} bytes (min-storage-buffer-offset-alignment)"
                )

    def _create_slots(self, expansions: Any) -> None:
        sizes: dict[tuple[Any, ...], int] = {}
        for x in expansions:
            points = self._points(x.entry)
            unshared = 0
            for slot, nbytes, where, guard in x.allocs:
                n = max((_eval(nbytes, s, p) for s, p in points if _eval(guard, s, p)), default=0)
                if not isinstance(n, int) or n < 0:
                    raise RustyError(f"schedule: {x.entry}: {where}: buffer size {_show(nbytes)} is {n}")
                sizes[("slot", slot)] = max(sizes.get(("slot", slot), 0), n)
                unshared += n
            self._unshared_slot_bytes = max(self._unshared_slot_bytes, unshared)
            for role, (buf, _) in x.io.items():
                n = max(_eval(_nbytes(buf.element_type, buf.shape, role), s, p) for s, p in points)
                sizes[buf.key] = n
        for key, n in sorted(sizes.items(), key=str):
            self._buffers[key] = self.device.empty(n, label=":".join(map(str, key)))
            self._bytes["slots" if key[0] == "slot" else "io"] += max(4, -(-n // 4) * 4)

    def _make_plans(self) -> dict[str, _Plan]:
        """Every entry's plan (its bind groups hold the current buffers)."""
        self._bytes["params"] = 0
        return {e: self._plan(x) for e, x in self._expansions.items()}

    def _plan(self, x: _Expansion) -> _Plan:
        dev = self.device
        table = _Table()
        max_groups = dev.limits.get("max-compute-workgroups-per-dimension", 65535)
        align = max(16, dev.limits.get("min-uniform-buffer-offset-alignment", 256))
        params: dict[tuple[Any, ...], int] = {}  # (field types/offsets, size, value indices) -> byte offset
        int_fields: list[tuple[int, int]] = []
        float_fields: list[tuple[int, int]] = []
        groups: dict[tuple[Any, ...], Any] = {}
        dispatches: list[tuple[Any, Any, int, int, int, int | None]] = []
        bound: list[BoundKernel] = []
        pending: list[tuple[Kernel, list[Any], tuple[Any, ...], int | None]] = []
        layer_of: list[int | None] = []  # with layer streaming: the layer whose streamed weights each dispatch binds
        total = 0
        for launch in x.launches:
            kernel = self._kernels[launch.kernel]
            iface = kernel.interface
            if len(launch.buffers) != len(iface.buffers):
                raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' takes {len(iface.buffers)} buffers, got {len(launch.buffers)}")
            fields = iface.params.fields if iface.params is not None else ()
            if len(launch.scalars) != len(fields):
                raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' takes {len(fields)} scalars, got {len(launch.scalars)}")
            keys = tuple(b.key for b in launch.buffers)
            if self._stream is not None:
                layers = {self._stream.names[k[1]] for k in keys if k[0] == "weight" and k[1] in self._stream.names}
                if len(layers) > 1:
                    raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' binds weights of layers {sorted(layers)}; "
                                     "layer streaming (resident_layers) needs one layer per dispatch")  # fmt: skip
                layer_of.append(layers.pop() if layers else None)
            for key in keys:  # WebGPU forbids a writable binding aliasing another in one dispatch
                if keys.count(key) > 1 and any(iface.buffers[j].access == "read_write" for j, k in enumerate(keys) if k == key):
                    raise RustyError(f"schedule: {launch.where}: kernel '{iface.name}' binds {':'.join(map(str, key))} twice and writes it")
            for axis, g in enumerate(launch.grid):
                if isinstance(g, float) or any(not 0 <= _eval(g, s, p) <= max_groups for s, p in self._points(x.entry)):
                    raise RustyError(f"schedule: {launch.where}: grid {'xyz'[axis]} = {_show(g)} leaves 0..{max_groups} (max-compute-workgroups-per-dimension)")
            offset = None
            if iface.params is not None:
                packing = tuple((f.type, f.offset) for f in iface.params.fields)
                pkey = (packing, iface.params.size, tuple(table.intern(s) for s in launch.scalars))
                if pkey not in params:
                    params[pkey] = total
                    for f, src in zip(iface.params.fields, pkey[2], strict=True):
                        (int_fields if f.type == "i32" else float_fields).append(((total + f.offset) // 4, src))
                    total += -(-iface.params.size // align) * align
                offset = params[pkey]
            pending.append((kernel, [self._buffers[k] for k in keys], keys, offset))
            grid = tuple(table.intern(g) for g in launch.grid)
            guard = None if launch.guard == 1 else table.intern(launch.guard)
            dispatches.append((kernel.pipeline, None, *grid, guard))
        params_buffer = None
        if total:
            params_buffer = dev.device.create_buffer(size=total, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST, label=f"{x.entry}.params")
            self._bytes["params"] += total
        for i, (kernel, buffers, keys, offset) in enumerate(pending):
            gkey = (kernel.interface.name, keys, offset)
            if gkey not in groups:
                entries: list[dict[str, Any]] = [
                    {"binding": b.binding, "resource": b.resource(buf)}
                    for b, buf in zip(kernel.interface.buffers, buffers, strict=True)
                ]
                if kernel.interface.params is not None:
                    p = kernel.interface.params
                    entries.append({"binding": p.binding, "resource": {"buffer": params_buffer, "offset": offset, "size": p.size}})
                group = dev.device.create_bind_group(layout=kernel.layout, entries=entries, label=kernel.interface.name)
                groups[gkey] = BoundKernel(kernel, group, params_buffer)
            bound.append(groups[gkey])
            pipeline, _, gx, gy, gz, guard = dispatches[i]
            dispatches[i] = (pipeline, groups[gkey].bind_group, gx, gy, gz, guard)
        out = self._buffers[x.io["out"][0].key]
        staging = dev.device.create_buffer(size=out.size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST, label=f"{x.entry}.out")
        plan = _Plan(
            x.entry, table, dispatches, bound,
            tokens=self._buffers[x.io["tokens"][0].key], out=out, staging=staging,
            max_tokens=self._steps[x.entry], params_buffer=params_buffer,
        )  # fmt: skip
        if self._stream is not None:
            plan.groups = _layer_groups(layer_of)
        if "sampling" in x.io:
            plan.sampling = self._buffers[x.io["sampling"][0].key]
        if params_buffer is not None:
            plan.params_words = np.zeros(total // 4, np.int32)
            plan.int_dst = np.array([d for d, _ in int_fields], np.intp)
            plan.int_src = np.array([s for _, s in int_fields], np.intp)
            if float_fields:
                plan.float_dst = np.array([d for d, _ in float_fields], np.intp)
                plan.float_src = np.array([s for _, s in float_fields], np.intp)
        return plan


def _layer_groups(layer_of: Sequence[int | None]) -> list[tuple[int, int, int | None]]:
    """Runs of dispatches, (start, end, layer): a new run starts at each dispatch binding a streamed layer other
    than the run's; dispatches binding none stay in the run they sit in (those before the first layer: the first)."""
    groups: list[tuple[int, int, int | None]] = []
    start, current = 0, None
    for i, layer in enumerate(layer_of):
        if layer is None or layer == current:
            continue
        if current is not None:
            groups.append((start, i, current))
            start = i
        current = layer
    groups.append((start, len(layer_of), current))
    return groups


def _weight_ranges(expansions: Any, kernels: Mapping[str, Kernel]) -> dict[str, set[tuple[str, tuple[int, int] | None]]]:
    """Each weight's bindings: (kernel, byte range of a split-bindings part, or None for the whole buffer)."""
    out: dict[str, set[tuple[str, tuple[int, int] | None]]] = {}
    for x in expansions:
        for launch in x.launches:
            for b, binding in zip(launch.buffers, kernels[launch.kernel].interface.buffers, strict=False):
                if b.key[0] == "weight":
                    out.setdefault(b.key[1], set()).add((launch.kernel, binding.byte_range))
    return out


__all__ = ["ModelRuntime"]
