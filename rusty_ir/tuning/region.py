"""A dispatch region as measured tuning times it (``rusty_ir.tuning``, step 3 of its docstring): outlined into a
module of its own (``outline``), given arguments for each representative step (``TimedStep``; index operands from
``HostScalars``, buffers as ``BufferArg``) and lowered per candidate config through the rest of the default pipeline
(``RegionBenchmark``, ``LOWERING``)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import FunctionType, IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp, TensorType
from xdsl.ir import Block, BlockArgument, OpResult, Region, SSAValue

from rusty_ir.backends.runtime.kernel_abi import KernelInterface
from rusty_ir.backends.runtime.schedule import Function
from rusty_ir.backends.schedule import build_schedule
from rusty_ir.backends.wgsl import emit_program
from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.gpu.attrs import set_module_target
from rusty_ir.errors import RustyError
from rusty_ir.pipeline import build_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.stages import DEFAULT_STAGES
from rusty_ir.targets import TargetDescription
from rusty_ir.weights import scheme

FUNCTION = "tuned_region"
"""The host function an outlined region lives in."""

LOWERING: tuple[str, ...] = tuple(
    spec for name, spec in DEFAULT_STAGES[[n for n, _ in DEFAULT_STAGES].index("tuned") + 1 :] if name != "laid-out"
)
"""The default pipeline's passes after 'tuned', but ``weight-layout`` (it would change the outlined function's
arguments); ``TARGET`` stands for the target's name."""


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
    """A buffer argument of the outlined function in one step: its element type and its shape there."""

    element_type: str
    """The schedule's element type name (f32, f16, bf16, i32 or a quantized scheme)."""
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        if self.element_type == "i32":
            return 4 * int(np.prod(self.shape, dtype=np.int64))
        return scheme(self.element_type).nbytes(self.shape)


StepArgs = tuple[BufferArg | int, ...]
"""The outlined function's arguments in one step: buffers (shape, type) and scalar values."""


# --- lowering one candidate -------------------------------------------------------------------


@dataclass
class Lowered:
    """One candidate of a region (its config and single-token config), lowered: WGSL, kernel interfaces and the
    host function's schedule."""

    configs: tuple[LoweringConfigAttr, LoweringConfigAttr | None]
    source: str
    kernels: dict[str, KernelInterface]
    function: Function
    """The host schedule's ``@tuned_region``."""

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
        except Exception as err:  # a pass refusing a config is a rejected candidate
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
                assert arg.element_type is not None and arg.shape is not None  # a buffer argument has both
                dynamic = rows if isinstance(ty, MemRefType) else step.tokens
                out.append(BufferArg(arg.element_type, tuple(dynamic if d is None else d for d in arg.shape)))
            elif isinstance(ty, IndexType | IntegerType):
                out.append(host.value(self.region.args[i], step, rows))
            else:
                raise UnknownHostValue(f"argument #{i} of type {ty}")
        return tuple(out)
