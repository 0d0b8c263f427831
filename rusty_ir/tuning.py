"""Measured tuning: time candidate lowering configs of each dispatch region on the wgpu adapter, and cache the winners.

The compile driver runs it (``CompileOptions.tune``, ``rusty compile/run/bench --tune``) on the module after
the stage 'merged', before 'tuned'; then ``tune-workgroups{configs=FILE}`` reads the winners from the cache
file of this adapter, by region signature. Passes never time anything. It can also be driven directly::

    tuner = Tuner(device, TuningCache(path), TARGETS["nvidia"])
    tuner.tune_module(module)                # measures every region, writes the cache
    tuner.measurements                       # candidate timings taken (0 when everything came from the cache)

How one region is tuned:

1. Its **signature** (``passes/tuning/signature.py``) hashes the region without configs or label, the
   target and the sources of the kernel generator. Identical regions (every decoder layer's) share it and
   are tuned once.
2. The **cache** (``TuningCache``: one JSON file per adapter, ``tuning/<adapter>.json`` under the compile
   cache) is looked up under the signature; a hit is used without timing.
3. Otherwise the region is outlined (``outline``) and given arguments for each representative **step**:
   decode (1 token at position L) and prefill (L tokens at position 0), L = ``prefill_length``.
   Activations get the step's token count as their dynamic dimension, KV caches L + 1 rows, index
   operands the value the host computes for them (``HostScalars``).
4. The **search** starts at the heuristic's configs (``generic.default_configs``) and goes axis by axis
   (``search_axes``, coordinate descent over the typed config's fields). A region over tokens has two
   configs, and each is searched on the step that runs it: the single-token config on decode, the
   config on prefill; a region without one has its config searched on every step. A candidate is
   lowered alone through the default pipeline's passes after 'tuned' (``LOWERING``), compiled, and timed
   on random inputs: ``repeats`` runs after a warm-up, the median of the GPU time between two
   timestamps around one compute pass (wall clock without 'timestamp-query'); one whose first run
   takes over ``CUTOFF`` times the best's is not run again. On a discrete GPU the runs cycle through
   enough copies of the arguments (``ROTATE_BYTES``) that the weights come from memory, not the L2.
5. A candidate replaces the best when its time (summed over its steps, relative to the heuristic's) is
   at least ``MIN_GAIN`` lower. Its outputs must match the heuristic config's (``check_outputs``). A best
   that is not the heuristic's is timed again against it and kept only if it still wins by ``MIN_GAIN``.

The timed kernels read weights in the layout the region is given (``weight-layout`` changes the outlined
function's arguments, so it is not run): relative timings, not the model's absolute ones.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import operator
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import FunctionType, IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp, TensorType
from xdsl.ir import Block, BlockArgument, OpResult, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from rusty_ir.backends.runtime.execute import Buffer, ConcreteHost, Executor
from rusty_ir.backends.runtime.schedule import Alloc, Launch, Step, Weight
from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.gpu.attrs import module_target, set_module_target
from rusty_ir.errors import RustyError
from rusty_ir.passes.codegen.flash_attention import flash_threads
from rusty_ir.passes.tuning.generic import FLASH_TILES, contraction_weights, default_configs, gemm_tiles
from rusty_ir.passes.tuning.signature import config_text, parse_config, region_signature
from rusty_ir.probes import spin_up
from rusty_ir.stages import DEFAULT_STAGES
from rusty_ir.targets import TargetDescription

TUNER_VERSION = 3
"""Changes when the measuring method or the cache format changes (version 1: untyped configs; 2: timed without
spinning an idle GPU up first, so winners may have been ranked at a low clock)."""

FUNCTION = "tuned_region"
"""The host function an outlined region lives in."""

LOWERING: tuple[str, ...] = tuple(
    spec for name, spec in DEFAULT_STAGES[[n for n, _ in DEFAULT_STAGES].index("tuned") + 1 :] if name != "laid-out"
)
"""The default pipeline's passes after 'tuned', but ``weight-layout`` (it would change the outlined function's
arguments); ``TARGET`` stands for the target's name."""

MIN_GAIN = 0.01
"""A candidate must score this much (relative) below the best so far to replace it."""

ROTATE_BYTES = 256 << 20
"""On discrete GPUs, each timed run reads at least this many bytes of argument copies (L2 caches are 50-100 MiB)."""

MAX_COPIES = 32
"""At most this many copies of a region's arguments."""

CUTOFF = 2.0
"""A candidate whose first timed run is this many times slower than the best's is not run again for that step."""
IDLE_SECONDS = 0.1
"""A timing that starts this long after the previous one ended (a candidate was compiled in between) first
spins the GPU up for ``SPIN_UP_SECONDS``: an idle GPU drops its clock."""
SPIN_UP_SECONDS = 0.25

CACHE_FORMAT = "rusty-tuning"


# --- steps, outlining ------------------------------------------------------------------------


@dataclass(frozen=True)
class TimedStep:
    """A representative model step: ``tokens`` tokens starting at position ``pos``."""

    name: str
    tokens: int
    pos: int


def representative_steps(prefill_length: int) -> list[TimedStep]:
    """Decode (1 token after ``prefill_length`` positions) and, for a length above 1, prefill."""
    steps = [TimedStep("decode", 1, prefill_length)]
    if prefill_length > 1:
        steps.append(TimedStep("prefill", prefill_length, 0))
    return steps


def outline(region: RegionOp, target: TargetDescription) -> ModuleOp:
    """A module for ``target`` holding a copy of ``region`` alone, without configs, labelled ``tuned``, in
    ``func.func @tuned_region``: the region's operands are the function's arguments (in order) and its results
    the function's results, so ``rusty-bufferize`` makes them trailing out-buffers, as in a model."""
    types = [a.type for a in region.args]
    block = Block(arg_types=types)
    copy = RegionOp("tuned", block.args, [r.type for r in region.outputs], region.body.clone())
    block.add_ops([copy, func.ReturnOp(*copy.outputs)])
    fn = func.FuncOp(FUNCTION, FunctionType.from_lists(types, [r.type for r in region.outputs]), Region(block))
    module = ModuleOp([fn])
    set_module_target(module, target)
    return module


# --- the cache file -------------------------------------------------------------------------


def cache_path(root: Path, adapter: str) -> Path:
    """The tuning cache of one adapter: ``tuning/<hash of its identity>.json`` under the compile cache ``root``."""
    return Path(root) / "tuning" / f"{hashlib.sha256(adapter.encode()).hexdigest()[:16]}.json"


class TuningCache:
    """Winning configs of one adapter by region signature, in one JSON file written atomically (temp file +
    rename). ``tune-workgroups{configs=FILE}`` reads its ``regions``. An unreadable file is reported once and
    treated as empty (the next write replaces it)."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.warn = warn
        self.entries: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != CACHE_FORMAT or data.get("version") != TUNER_VERSION or not isinstance(data.get("regions"), dict):
                raise ValueError("not a rusty-ir tuning cache of this version")
            return dict(data["regions"])
        except (OSError, ValueError, AttributeError) as err:
            if self.warn is not None:
                self.warn(f"ignoring the tuning cache {self.path}: {err}")
            return {}

    def get(self, signature: str) -> dict[str, Any] | None:
        return self.entries.get(signature)

    def put(self, signature: str, entry: dict[str, Any]) -> None:
        """Record an entry and write the file (merged with what other processes wrote meanwhile)."""
        self.entries = {**self._read(), **self.entries, signature: entry}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"format": CACHE_FORMAT, "version": TUNER_VERSION, "regions": self.entries}, f, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def describe(config: LoweringConfigAttr | None) -> str:
    return config_text(config) or "none"


# --- candidates ------------------------------------------------------------------------------

Axis = Callable[[LoweringConfigAttr], list[LoweringConfigAttr]]
"""Configs that differ from the given one in one aspect, the given one first."""

THREADS: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)
"""Workgroup sizes tried for elementwise and row regions (those within the target's ``max_invocations``)."""


def _config(base: LoweringConfigAttr, **changes: Any) -> LoweringConfigAttr | None:
    """``base`` with fields changed, or None where the attribute's verifier refuses it."""
    fields = {**base.config.__dict__, **changes}
    strategy, workgroup = fields.pop("strategy"), fields.pop("workgroup")
    try:
        return LoweringConfigAttr(strategy, list(workgroup), **{k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
    except (VerifyException, ValueError, TypeError):
        return None


def _unique(base: LoweringConfigAttr, configs: Sequence[LoweringConfigAttr | None], target: TargetDescription) -> list[LoweringConfigAttr]:
    out = [base]
    for c in configs:
        if c is not None and c not in out and c.config.threads <= target.max_invocations:
            out.append(c)
    return out


def search_axes(config: LoweringConfigAttr, target: TargetDescription, weights: int = 1) -> list[Axis]:
    """The axes searched from the heuristic's ``config``, in order (by its strategy); ``weights``: the most
    weights one contraction of the region multiplies (gemm tiles share their columns among them)."""
    strategy = config.config.strategy

    def threads(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
        return _unique(c, [_config(c, workgroup=(t, 1, 1)) for t in THREADS], target)

    if strategy == "gemv":

        def rows(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:  # rows per invocation x row groups per workgroup
            cfg = c.config
            tokens, _ = cfg.workgroup_tile
            out = [_config(c, workgroup=(g * cfg.split, 1, 1), workgroup_tile=(tokens, g * r), thread_tile=(r,))
                   for r in (1, 2, 4, 8) for g in (1, 2, 4, 8)]  # fmt: skip
            return _unique(c, out, target)

        def unroll(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, reduction_tile=u) for u in (1, 2, 4)], target)

        def math(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, math=m) for m in (("f32", "dp4a") if target.int_dot else ("f32",))], target)

        return [rows, unroll, math]
    if strategy == "gemm":

        def tiles(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            out = [_config(c, workgroup=((bm // tm) * (bn // tn), 1, 1), workgroup_tile=(bm, bn), thread_tile=(tm, tn), reduction_tile=bk)
                   for bm, bn, tm, tn in gemm_tiles(weights) for bk in (32, 64)]  # fmt: skip
            return _unique(c, out, target)

        def depth(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            return _unique(c, [_config(c, pipeline_depth=d) for d in (1, 2)], target)

        return [tiles, depth]
    if strategy == "attention":

        def attention(c: LoweringConfigAttr) -> list[LoweringConfigAttr]:
            cfg = c.config
            if cfg.workgroup_tile:  # FlashAttention over blocks of query rows
                out = [_config(c, workgroup=(flash_threads(bq, bk), 1, 1), workgroup_tile=(bq,), reduction_tile=bk) for bq, bk in FLASH_TILES]
            else:  # one workgroup per (head, query row), split-KV when split
                out = [_config(c, workgroup=(t, 1, 1), reduction_tile=min(t, cfg.reduction_tile or t), split=sp)
                       for t in (64, 128, 256, 512, 1024) for sp in ((32, 64, 128) if cfg.split else (0,))]  # fmt: skip
            return _unique(c, out, target)

        return [attention]
    if strategy in ("elementwise", "row"):
        return [threads]
    return []  # sample: one workgroup, nothing to search


# --- host values of a region's index operands ------------------------------------------------


class UnknownHostValue(Exception):
    """An index operand whose value in a representative step the tuner cannot work out."""


_ARITH: Mapping[str, Callable[[int, int], int]] = {
    "arith.addi": operator.add,
    "arith.subi": operator.sub,
    "arith.muli": operator.mul,
    "arith.divui": operator.floordiv,
    "arith.divsi": operator.floordiv,
    "arith.floordivsi": operator.floordiv,
    "arith.ceildivui": lambda a, b: -(-a // b),
    "arith.ceildivsi": lambda a, b: -(-a // b),
    "arith.remui": operator.mod,
    "arith.remsi": operator.mod,
    "arith.minui": min,
    "arith.minsi": min,
    "arith.maxui": max,
    "arith.maxsi": max,
}
_PASS_THROUGH = frozenset({"arith.index_cast", "arith.index_castui"})


class HostScalars:
    """Values of host index values in a representative step (docs/compiler.md, "Invariants").

    The one dynamic dimension of an activation is the step's token count, of a KV
    cache buffer its row count; an index argument of an entry function (one no
    ``func.call`` calls) is the step's position; an argument of a called function is
    what its first call site passes; a loop's induction variable is its lower bound.
    """

    def __init__(self, module: ModuleOp) -> None:
        self.calls: dict[str, func.CallOp] = {}
        for op in module.walk():
            if isinstance(op, func.CallOp):
                self.calls.setdefault(op.callee.root_reference.data, op)

    def value(self, v: SSAValue, step: TimedStep, rows: int, depth: int = 0) -> int:
        if depth > 64:
            raise UnknownHostValue("too deep")
        if isinstance(v, BlockArgument):
            return self._argument(v, step, rows, depth)
        assert isinstance(v, OpResult)
        op = v.op
        if op.name == "arith.constant":
            value = op.properties.get("value")
            if isinstance(value, IntegerAttr):
                return int(value.value.data)
        elif op.name in ("tensor.dim", "memref.dim"):
            source, index = op.operands
            k = self.value(index, step, rows, depth + 1)
            ty = source.type
            assert isinstance(ty, TensorType | MemRefType)
            size = ty.get_shape()[k]
            if size >= 0:
                return size
            return step.tokens if isinstance(ty, TensorType) else rows
        elif op.name in _ARITH:
            a, b = (self.value(x, step, rows, depth + 1) for x in op.operands)
            return _ARITH[op.name](a, b)
        elif op.name in _PASS_THROUGH:
            return self.value(op.operands[0], step, rows, depth + 1)
        raise UnknownHostValue(f"'{op.name}'")

    def _argument(self, v: BlockArgument, step: TimedStep, rows: int, depth: int) -> int:
        owner = v.block.parent_op()
        if isinstance(owner, scf.ForOp) and v.index == 0:
            return self.value(owner.lb, step, rows, depth + 1)
        if isinstance(owner, func.FuncOp):
            call = self.calls.get(owner.sym_name.data)
            if call is not None:
                return self.value(call.arguments[v.index], step, rows, depth + 1)
            if isinstance(v.type, IndexType):
                return step.pos
        raise UnknownHostValue(f"argument #{v.index} of '{owner.name if owner else '?'}'")


# --- arguments of an outlined region ---------------------------------------------------------


@dataclass(frozen=True)
class BufferArg:
    element_type: str
    """The schedule's element type name (f32, f16, bf16, i32 or a quantized scheme)."""
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        if self.element_type == "i32":
            return 4 * int(np.prod(self.shape, dtype=np.int64))
        from rusty_ir.weights import scheme  # noqa: PLC0415

        return scheme(self.element_type).nbytes(self.shape)


StepArgs = tuple[BufferArg | int, ...]
"""The outlined function's arguments in one step: buffers (shape, type) and scalar values."""


def random_array(arg: BufferArg, rng: np.random.Generator) -> np.ndarray:
    """Random contents for a buffer: normal floats, zero token ids, and for quantized or
    bf16 data bytes below 0x3c (every f16 scale then finite and below 1)."""
    n = int(np.prod(arg.shape, dtype=np.int64))
    if arg.element_type == "f32":
        return rng.standard_normal(n, dtype=np.float32)
    if arg.element_type == "f16":
        return rng.standard_normal(n, dtype=np.float32).astype(np.float16)
    if arg.element_type == "i32":
        return np.zeros(n, np.int32)  # token ids: 0 is valid for every table
    return rng.integers(0, 0x3C, size=arg.nbytes, dtype=np.uint8)


# --- lowering and running one candidate ------------------------------------------------------


@dataclass
class Lowered:
    """One candidate of a region (its config and single-token config), lowered: WGSL, kernel interfaces and the
    host function's schedule."""

    configs: tuple[LoweringConfigAttr, LoweringConfigAttr | None]
    source: str
    kernels: dict[str, Any]
    function: Any
    """``rusty_ir.backends.runtime.schedule.Function`` of ``@tuned_region``."""

    @property
    def workgroup_memory_bytes(self) -> int:
        return max((k.workgroup_memory_bytes for k in self.kernels.values()), default=0)


class RegionBenchmark:
    """One region outlined (``outline``) and lowered per candidate through ``LOWERING``."""

    def __init__(self, region: RegionOp, target: TargetDescription) -> None:
        self.region = region
        self.target = target
        self.module = outline(region, target)

    def lower(self, config: LoweringConfigAttr, single: LoweringConfigAttr | None = None) -> Lowered:
        """The candidate lowered; a RustyError when the passes or the emitters refuse it."""
        from rusty_ir.backends.schedule import build_schedule  # noqa: PLC0415
        from rusty_ir.backends.wgsl import emit_program  # noqa: PLC0415
        from rusty_ir.pipeline import build_pipeline  # noqa: PLC0415
        from rusty_ir.registry import build_registry  # noqa: PLC0415

        module = self.module.clone()
        for op in module.walk():
            if isinstance(op, RegionOp):
                op.config = config
                if single is not None:
                    op.single_token_config = single
        registry = build_registry()
        try:
            build_pipeline(registry, ",".join(LOWERING).replace("TARGET", self.target.name)).apply(registry.context(), module)
            module.verify()
            program = emit_program(module)
            schedule = build_schedule(module)
        except RustyError:
            raise
        except Exception as err:  # noqa: BLE001 - a pass refusing a config is a rejected candidate
            raise RustyError(f"{type(err).__name__}: {err}") from None
        return Lowered((config, single), program.source, dict(schedule.kernels), schedule.functions[FUNCTION])

    def step_args(self, step: TimedStep, host: HostScalars, rows: int, lowered: Lowered) -> StepArgs:
        """The outlined function's arguments in ``step``: the region's operands, then its results' out-buffers."""
        region_types = [a.type for a in self.region.args] + [r.type for r in self.region.outputs]
        fn_args = lowered.function.args
        if len(fn_args) != len(region_types):
            raise RustyError(f"@{FUNCTION} has {len(fn_args)} arguments, expected {len(region_types)}")
        out: list[BufferArg | int] = []
        for i, (arg, ty) in enumerate(zip(fn_args, region_types, strict=True)):
            if arg.kind == "buffer":
                dynamic = rows if isinstance(ty, MemRefType) else step.tokens
                out.append(BufferArg(arg.element_type, tuple(dynamic if d is None else d for d in arg.shape)))
            elif isinstance(ty, IndexType | IntegerType):
                out.append(host.value(self.region.args[i], step, rows))
            else:
                raise UnknownHostValue(f"argument #{i} of type {ty}")
        return tuple(out)


class _TunerHost(ConcreteHost):
    """The tuner's side of the schedule executor: an alloc is a fresh device buffer, a launch a bound kernel and its
    grid; an outlined region has no weights or caches."""

    def __init__(self, device: Any, pipelines: Mapping[str, Any]) -> None:
        self.device = device
        self.pipelines = pipelines
        self.out: list[tuple[Any, tuple[int, int, int]]] = []

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> Any:
        return self.device.empty(BufferArg(step.element_type, shape).nbytes)

    def weight(self, step: Weight, layer: int | None, where: str) -> Any:
        self.unsupported(step, where)

    def launch(self, step: Launch, buffers: list[Any], grid: tuple[int, ...], scalars: list[Any], where: str) -> None:
        kernel = self.pipelines[step.kernel]
        bound = kernel.bind(buffers, scalars if kernel.interface.params is not None else None)
        x, y, z = grid
        self.out.append((bound, (x, y, z)))

    def unsupported(self, step: Step, where: str) -> NoReturn:
        raise RustyError(f"@{FUNCTION}: unexpected host step '{step.OP}' in an outlined region ({where})")


class DeviceRunner:
    """Builds, binds and times lowered candidates on one ``rusty_ir.backends.runtime.Device``."""

    def __init__(self, device: Any, repeats: int = 5, warmup: int = 1) -> None:
        self.device = device
        self.repeats = repeats
        self.warmup = warmup
        self.timestamps = "timestamp-query" in device.features
        self.cpu = str(device.info.get("adapter_type", "")).lower() == "cpu"
        self.measurements = 0
        """Candidate timings taken (one per candidate and step)."""
        self._last_timed = -math.inf

    def build(self, lowered: Lowered) -> dict[str, Any]:
        """Pipelines of every kernel; a RustyError when the device refuses one (limits, WGSL)."""
        shader = self.device.compile(lowered.source, label=FUNCTION)
        return {name: self.device.kernel(shader, iface) for name, iface in lowered.kernels.items()}

    def upload(self, args: StepArgs, rng: np.random.Generator, copies: int = 1) -> list[list[Any]]:
        """``copies`` sets of device arguments (buffers with random contents; scalars as they are)."""
        first = [self.device.buffer(random_array(a, rng)) if isinstance(a, BufferArg) else a for a in args]
        sets = [first]
        if copies > 1:
            encoder = self.device.device.create_command_encoder()
            for _ in range(copies - 1):
                copy = []
                for a, buf in zip(args, first, strict=True):
                    if isinstance(a, BufferArg):
                        new = self.device.empty(a.nbytes)
                        encoder.copy_buffer_to_buffer(buf, 0, new, 0, buf.size)
                        copy.append(new)
                    else:
                        copy.append(buf)
                sets.append(copy)
            self.device.device.queue.submit([encoder.finish()])
        return sets

    def copies_for(self, args: StepArgs) -> int:
        """Argument copies a timed run cycles through (1 on CPU adapters, where there is no L2 to defeat)."""
        if self.cpu:
            return 1
        nbytes = sum(a.nbytes for a in args if isinstance(a, BufferArg))
        return max(1, min(MAX_COPIES, math.ceil(ROTATE_BYTES / max(nbytes, 1))))

    def dispatches(self, lowered: Lowered, pipelines: Mapping[str, Any], values: Sequence[Any], shapes: Sequence[Any]) -> list[tuple[Any, tuple[int, int, int]]]:
        """The bound launches of the host function for one set of arguments (the schedule executor,
        ``rusty_ir.backends.runtime.execute``, walks it; allocs get fresh device buffers)."""
        fn = lowered.function
        args = [Buffer(v, s.shape) if isinstance(s, BufferArg) else v for v, s in zip(values, shapes, strict=True)]
        host = _TunerHost(self.device, pipelines)
        Executor(host).call(fn, args, f"@{FUNCTION}")
        return host.out

    def time(self, runs: Sequence[Sequence[tuple[Any, tuple[int, int, int]]]], cutoff: float = math.inf) -> float:
        """Median seconds of one set of dispatches (``runs``: one list per argument copy, cycled in one pass).

        A run slower than ``cutoff`` ends the measurement early (a clear loser need not be timed ``repeats`` times).
        """
        dev = self.device.device
        import wgpu  # noqa: PLC0415

        if time.perf_counter() - self._last_timed > IDLE_SECONDS:  # compiling left the GPU idle: its clock dropped
            spin_up(self.device, SPIN_UP_SECONDS)
        samples: list[float] = []
        for r in range(self.warmup + self.repeats):
            encoder = dev.create_command_encoder()
            query_set = resolve = None
            if self.timestamps:
                query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=2)
                compute = encoder.begin_compute_pass(
                    timestamp_writes={"query_set": query_set, "beginning_of_pass_write_index": 0, "end_of_pass_write_index": 1}
                )
            else:
                compute = encoder.begin_compute_pass()
            for dispatches in runs:
                for bound, (gx, gy, gz) in dispatches:
                    compute.set_pipeline(bound.kernel.pipeline)
                    compute.set_bind_group(0, bound.bind_group)
                    compute.dispatch_workgroups(gx, gy, gz)
            compute.end()
            if query_set is not None:
                resolve = dev.create_buffer(size=16, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
                encoder.resolve_query_set(query_set, 0, 2, resolve, 0)
            start = time.perf_counter()
            dev.queue.submit([encoder.finish()])
            if resolve is not None:
                t0, t1 = np.frombuffer(dev.queue.read_buffer(resolve), np.uint64)
                seconds = max(int(t1) - int(t0), 0) * 1e-9  # the period is taken as 1 ns; ranking does not depend on it
            else:
                dev.queue.on_submitted_work_done_sync()
                seconds = time.perf_counter() - start
            if r >= self.warmup:
                samples.append(seconds / len(runs))
                if samples[-1] > cutoff:
                    break
        self.measurements += 1
        self._last_timed = time.perf_counter()
        return float(statistics.median(samples))

    def poison(self, values: Sequence[Any], shapes: StepArgs, indices: Sequence[int]) -> None:
        """Fill the buffers at ``indices`` with 0xFF bytes (NaN as f32, -1 as i32)."""
        for i in indices:
            arg = shapes[i]
            assert isinstance(arg, BufferArg)
            self.device.write(values[i], np.full(arg.nbytes, 0xFF, np.uint8))

    def read(self, values: Sequence[Any], shapes: StepArgs, indices: Sequence[int]) -> list[np.ndarray]:
        """The buffers at ``indices``, read back (f32, f16 and i32 as such; other element types as bytes)."""
        out = []
        for i in indices:
            arg = shapes[i]
            assert isinstance(arg, BufferArg)
            dtype = {"f32": np.float32, "f16": np.float16, "i32": np.int32}.get(arg.element_type, np.uint8)
            count = int(np.prod(arg.shape, dtype=np.int64)) if dtype is not np.uint8 else arg.nbytes
            out.append(self.device.read(values[i], dtype, count))
        return out

    def execute(self, lowered: Lowered, args: Sequence[np.ndarray | int], shapes: StepArgs) -> list[np.ndarray | int]:
        """Run the candidate once on the given arguments; every buffer argument read back (outputs included)."""
        pipelines = self.build(lowered)
        values = [self.device.buffer(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
        self.device.run(self.dispatches(lowered, pipelines, values, shapes))
        return [
            self.device.read(v, a.dtype, a.size).reshape(a.shape) if isinstance(a, np.ndarray) else a
            for a, v in zip(args, values, strict=True)
        ]


# --- the search -------------------------------------------------------------------------------

Pair = tuple[LoweringConfigAttr, LoweringConfigAttr | None]
"""A region's config and single-token config."""


@dataclass
class RegionResult:
    """How one region's configs were chosen."""

    label: str
    strategy: str
    config: LoweringConfigAttr
    single: LoweringConfigAttr | None
    source: str
    """``measured``, ``cache`` or ``heuristic`` (with ``note`` saying why)."""
    tried: list[Pair] = field(default_factory=list[Pair])
    """Candidates timed, the heuristic's first."""
    rejected: dict[str, str] = field(default_factory=dict[str, str])
    """Candidates (``describe``) that could not be lowered, built or checked, and why."""
    seconds: dict[str, float] = field(default_factory=dict[str, float])
    """The winner's median time per step."""
    default_seconds: dict[str, float] = field(default_factory=dict[str, float])
    """The heuristic's median time per step."""
    timings: int = 0
    """Times a candidate was timed on its steps: once per candidate tried, plus the rechecks."""
    note: str = ""


class Tuner:
    """Measured tuning of the dispatch regions of a module (the module docstring says how)."""

    def __init__(self, device: Any, cache: TuningCache | None, target: TargetDescription | None = None, prefill_length: int = 512,
                 repeats: int = 5, log: Callable[[str], None] | None = None, seed: int = 0) -> None:  # fmt: skip
        """``target``: the one the configs are for (default: the module's ``#rgpu.target``)."""
        self.runner = DeviceRunner(device, repeats)
        self.cache = cache
        self.target = target
        self.prefill_length = prefill_length
        self.adapter = device.identity
        self.log = log
        self.seed = seed
        self.results: list[RegionResult] = []

    @property
    def measurements(self) -> int:
        """Candidate timings taken so far (none when every region came from the cache)."""
        return self.runner.measurements

    def _say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)

    def tune_module(self, module: ModuleOp) -> list[RegionResult]:
        """Find every region's configs (cache or search; identical regions once) and record the measured ones in the
        cache; the regions themselves are left as they are (``tune-workgroups{configs=...}`` applies the cache)."""
        target = self.target or module_target(module)
        host = HostScalars(module)
        done: dict[str, RegionResult] = {}
        results: list[RegionResult] = []
        for region in [op for op in module.walk() if isinstance(op, RegionOp)]:
            signature = region_signature(region, target)
            if signature not in done:
                done[signature] = self.tune_region(region, target, host, signature)
            results.append(done[signature])
        self.results += results
        return results

    def tune_region(self, region: RegionOp, target: TargetDescription, host: HostScalars, signature: str) -> RegionResult:
        """The configs of one region: from the cache, else measured, else (arguments unknown) the heuristic's."""
        ops = region_ops(region)
        label = region.label.data
        config, single = default_configs(ops, target)
        strategy = config.config.strategy
        entry = self.cache.get(signature) if self.cache is not None else None
        if entry is not None:
            try:
                cached = (parse_config(entry["config"]), parse_config(entry["single_token_config"]) if entry.get("single_token_config") else None)
                return RegionResult(label, strategy, *cached, "cache", seconds=dict(entry.get("seconds", {})),
                                    default_seconds=dict(entry.get("default_seconds", {})))  # fmt: skip
            except Exception:  # noqa: BLE001, S110 - a stale or hand-edited entry is tuned again
                pass
        start = time.perf_counter()
        result = self._search(region, target, host, strategy, (config, single))
        spent = time.perf_counter() - start
        if result.source == "measured":
            if self.cache is not None:
                self.cache.put(signature, {
                    "label": label, "strategy": strategy, "config": config_text(result.config),
                    "single_token_config": config_text(result.single), "adapter": self.adapter, "target": target.name,
                    "prefill_length": self.prefill_length, "seconds": result.seconds, "default_seconds": result.default_seconds,
                    "candidates": len(result.tried), "search_seconds": round(spent, 3),
                    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                })  # fmt: skip
            gains = ", ".join(f"{k} {result.default_seconds[k] / v:.2f}x" for k, v in result.seconds.items() if v > 0 and k in result.default_seconds)
            note = f"; {result.note}" if result.note else ""
            self._say(f"{label} ({strategy}): {len(result.tried)} candidates timed in {spent:.1f} s, {gains or 'no timing'} over the "
                      f"heuristic{note}: {describe(result.config)}" + (f", single token {describe(result.single)}" if result.single else ""))  # fmt: skip
        else:
            self._say(f"{label} ({strategy}): the heuristic's configs: {result.note}")
        return result

    def _search(self, region: RegionOp, target: TargetDescription, host: HostScalars, strategy: str, seed: Pair) -> RegionResult:
        label = region.label.data
        bench = RegionBenchmark(region, target)
        result = RegionResult(label, strategy, *seed, "heuristic")
        try:
            first = bench.lower(*seed)
        except RustyError as err:
            result.note = f"the heuristic's configs do not lower on their own ({err})"
            return result
        rows = self.prefill_length + 1
        steps: list[tuple[TimedStep, StepArgs]] = []
        try:
            for step in representative_steps(self.prefill_length):
                args = bench.step_args(step, host, rows, first)
                if all(args != seen for _, seen in steps):
                    steps.append((step, args))
        except (UnknownHostValue, RustyError) as err:
            result.note = f"cannot give its arguments representative values ({err})"
            return result
        rng = np.random.default_rng(self.seed)
        uploads = {step.name: self.runner.upload(args, rng, self.runner.copies_for(args)) for step, args in steps}
        # each config on the steps that run it: the single-token one on decode, the other on prefill
        phases = [(0, steps)] if seed[1] is None else [(1, [s for s in steps if s[0].tokens == 1]), (0, [s for s in steps if s[0].tokens > 1])]
        try:
            best = seed
            for which, phase in phases:
                if phase:
                    best = self._descend(bench, target, which, best, first if best == seed else None, phase, uploads, result)
                    if best is None:
                        return result
            result.config, result.single = best
            result.source = "measured"
            return result
        finally:
            for sets in uploads.values():
                for values in sets:
                    for v in values:
                        if hasattr(v, "destroy"):
                            v.destroy()

    def _descend(self, bench: RegionBenchmark, target: TargetDescription, which: int, seed: Pair, first: Lowered | None,
                 steps: list[tuple[TimedStep, StepArgs]], uploads: dict[str, list[list[Any]]], result: RegionResult) -> Pair | None:  # fmt: skip
        """Coordinate descent over config ``which`` (0: the config, 1: the single-token config) from ``seed``,
        timed on ``steps``; the best pair, or None when the seed itself does not run."""
        timed: dict[Pair, dict[str, float] | None] = {}
        runs_of: dict[Pair, dict[str, list[Any]]] = {}
        best_times: dict[str, float] = {}

        def time_runs(pair: Pair, cutoffs: bool = True) -> dict[str, float]:
            out: dict[str, float] = {}
            for step, _ in steps:
                cutoff = CUTOFF * best_times[step.name] if cutoffs and step.name in best_times else math.inf
                out[step.name] = self.runner.time(runs_of[pair][step.name], cutoff)
            result.timings += 1
            return out

        n_args = len(steps[0][1])
        results_at = range(n_args - len(bench.region.outputs), n_args)  # the out-buffers of the region's results
        reference: dict[str, list[np.ndarray]] = {}

        def measure(pair: Pair, lowered: Lowered | None = None) -> dict[str, float] | None:
            if pair in timed:
                return timed[pair]
            timed[pair] = None
            try:
                lowered = lowered or bench.lower(*pair)
                if lowered.workgroup_memory_bytes > target.max_workgroup_memory:
                    raise RustyError(f"{lowered.workgroup_memory_bytes} bytes of workgroup memory > {target.max_workgroup_memory}")
                pipelines = self.runner.build(lowered)
                runs_of[pair] = {step.name: [self.runner.dispatches(lowered, pipelines, values, args) for values in uploads[step.name]]
                                 for step, args in steps}  # fmt: skip
                for step, args in steps:  # outputs poisoned, so what is read back is this candidate's
                    self.runner.poison(uploads[step.name][0], args, results_at)
                times = time_runs(pair)
                for step, args in steps:
                    got = self.runner.read(uploads[step.name][0], args, results_at)
                    if step.name not in reference:
                        reference[step.name] = got
                    else:
                        check_outputs(got, reference[step.name], step.name, loose=_loose(pair[which], seed[which]))
            except RustyError as err:
                result.rejected[describe(pair[which])] = str(err).splitlines()[0]
                return None
            result.tried.append(pair)
            timed[pair] = times
            return times

        baseline = measure(seed, first)
        if baseline is None:
            result.note = f"the heuristic's configs do not run: {result.rejected.get(describe(seed[which]))}"
            return None

        def score(times: dict[str, float]) -> float:
            return sum(t / baseline[k] if baseline[k] > 0 else 1.0 for k, t in times.items())

        def with_(config: LoweringConfigAttr) -> Pair:
            return (config, seed[1]) if which == 0 else (seed[0], config)

        best = seed
        best_times.update(baseline)
        for axis in search_axes(seed[which], target, contraction_weights(region_ops(bench.region))):
            for config in axis(best[which])[1:]:
                times = measure(with_(config))
                if times is not None and score(times) < score(best_times) * (1 - MIN_GAIN):
                    best = with_(config)
                    best_times.clear()
                    best_times.update(times)
        if best != seed:
            # head to head: both timed again, so that a winner that noise picked is dropped
            again_seed, again_best = time_runs(seed, cutoffs=False), time_runs(best, cutoffs=False)
            relative = sum(again_best[k] / again_seed[k] if again_seed[k] > 0 else 1.0 for k in again_seed) / len(again_seed)
            baseline = again_seed
            if relative > 1 - MIN_GAIN:
                best, best_times = seed, again_seed
                result.note = "the best candidate did not beat the heuristic when timed again"
            else:
                best_times = again_best
        result.seconds.update(best_times)
        result.default_seconds.update(baseline)
        return best


def _loose(config: LoweringConfigAttr, seed: LoweringConfigAttr) -> bool:
    """Whether a candidate computes with other rounding than the heuristic's (int8 activations, f16 tiles)."""
    return config.config.math != seed.config.math


OUTPUT_TOLERANCE = 1e-3
"""A candidate's outputs may differ from the heuristic config's by this much, relative to the largest of them."""


LOOSE_TOLERANCE = 2e-2
"""The same for a candidate with other arithmetic than the heuristic's (``math``: int8 activations, f16 tiles)."""


def check_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], step: str, loose: bool = False) -> None:
    """RustyError unless a candidate's outputs match the heuristic config's (summation order may differ; ``loose``:
    its arithmetic rounds differently)."""
    tol = LOOSE_TOLERANCE if loose else OUTPUT_TOLERANCE
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        if not np.issubdtype(w.dtype, np.floating):
            if not np.array_equal(g, w):
                raise RustyError(f"wrong results: {step} output #{k} differs from the heuristic config's")
            continue
        finite = np.isfinite(w)
        scale = float(np.abs(w[finite]).max()) if finite.any() else 0.0
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.allclose(g64, w64, rtol=tol, atol=tol * max(scale, 1e-30), equal_nan=True):
            diff = np.abs(g64 - w64)[finite]
            err = float(diff.max()) / max(scale, 1e-30) if diff.size and np.isfinite(diff).all() else math.inf
            raise RustyError(f"wrong results: {step} output #{k} differs from the heuristic config's (max rel err {err:.3g})")




_DEVICE: dict[str, Any] = {}


def measuring_device() -> tuple[Any, str]:
    """The process's wgpu device for tuning (created once), or None and the reason there is none."""
    if "device" not in _DEVICE:
        try:
            from rusty_ir.backends.runtime import Device  # noqa: PLC0415

            _DEVICE["device"], _DEVICE["reason"] = Device(), ""
        except Exception as err:  # noqa: BLE001 - no driver, no adapter: tuning falls back to the heuristic
            _DEVICE["device"], _DEVICE["reason"] = None, f"{type(err).__name__}: {err}".splitlines()[0]
    return _DEVICE["device"], _DEVICE["reason"]


def stderr_log(message: str) -> None:
    print(f"tuning: {message}", file=sys.stderr, flush=True)


def tune_for_compile(module: ModuleOp, prefill_length: int, cache_root: Path, log: Callable[[str], None] = stderr_log) -> Path | None:
    """The driver's step before 'tuned': measure the module's regions on this machine's adapter into its cache
    file; that file (for ``tune-workgroups{configs=...}``), or None without an adapter (the heuristic then)."""
    device, reason = measuring_device()
    if device is None:
        log(f"no wgpu adapter to measure on ({reason}): using the {module_target(module).name} heuristic")
        return None
    path = cache_path(cache_root, device.identity)
    tuner = Tuner(device, TuningCache(path, warn=log), prefill_length=prefill_length, log=log)
    start = time.perf_counter()
    results = tuner.tune_module(module)
    distinct = {id(r): r for r in results}.values()
    counts = {s: sum(r.source == s for r in distinct) for s in ("measured", "cache", "heuristic")}
    log(f"{len(results)} regions, {len(distinct)} distinct, on {device.identity}: {counts['measured']} measured "
        f"({tuner.measurements} timings, {time.perf_counter() - start:.1f} s), {counts['cache']} from the cache, "
        f"{counts['heuristic']} heuristic")  # fmt: skip
    return path
