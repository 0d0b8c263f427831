"""Translates the host side of gpu-level IR into a ``Schedule`` (docs/compiler.md, "GPU-level host IR").

Top level: ``dispatch.kv_cache`` declarations, ``gpu.module``s (their kernels'
interfaces come from the WGSL emitter) and host ``func.func``s. A host
function may contain only index ``arith`` (constants are inlined, the rest
become ``let`` steps), ``memref.dim``/``alloc``/``cast``/``dealloc``,
``dispatch.weight``/``cache``/``block_table``, ``gpu.launch_func``, ``func.call``,
``scf.for``/``yield``, ``scf.if`` without results (its condition an
``arith.cmpi ule``) and ``func.return``. Anything else is a ``RustyError``
naming the op (``err.op`` is set, so ``rusty-translate`` prints its line).
"""

from __future__ import annotations

import re
from typing import Any

from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import FloatAttr, IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp, TensorType
from xdsl.ir import Attribute, Block, Operation, SSAValue

from rusty_ir.backends.runtime.expand import VERIFY_ENTRY
from rusty_ir.backends.runtime.schedule import (
    FEW_TOKEN_STEPS,
    OPERATORS,
    Alloc,
    Arg,
    BlockTable,
    Cache,
    Call,
    Dim,
    Expr,
    Function,
    If,
    KvCache,
    Launch,
    Let,
    Loop,
    Return,
    Schedule,
    Slot,
    Step,
    Weight,
    WeightDecl,
)
from rusty_ir.dialects.dispatch import BlockTableOp, CacheOp, KvCacheOp, WeightOp
from rusty_ir.dialects.quant.storage import stored_tensor
from rusty_ir.errors import RustyError, describe_op
from rusty_ir.passes.codegen.gemv import GEMV_STEP_TOKENS

ENTRIES = ("prefill", "decode")
"""Host functions the runtime calls (docs/compiler.md)."""

ARITH: dict[str, str] = {
    "arith.addi": "add",
    "arith.subi": "sub",
    "arith.muli": "mul",
    "arith.divui": "div",
    "arith.divsi": "div",
    "arith.floordivsi": "div",
    "arith.ceildivui": "ceildiv",
    "arith.ceildivsi": "ceildiv",
    "arith.remui": "rem",
    "arith.remsi": "rem",
    "arith.minui": "min",
    "arith.minsi": "min",
    "arith.maxui": "max",
    "arith.maxsi": "max",
}
"""Host integer arith and its expression operator (sizes are non-negative, so signedness does not matter)."""

PASS_THROUGH = frozenset({"arith.index_cast", "arith.index_castui", "memref.cast", "builtin.unrealized_conversion_cast"})
"""Ops whose result is their operand (same value or same buffer; convert-tiled-to-gpu casts a stored weight's
buffer to the kernel argument's memref of words)."""


def _error(message: str, op: Operation) -> RustyError:
    return RustyError(f"{message}, in {describe_op(op)}", op)


def element_type_name(t: Attribute, op: Operation) -> str:
    """``f32``, ``f16``, ``bf16``, ``i32`` or a quantized scheme name (``q4_1``...)."""
    scheme = getattr(t, "SCHEME_NAME", None)
    if scheme is not None:
        return scheme
    text = str(t)
    if text in ("f32", "f16", "bf16", "i32"):
        return text
    raise _error(f"the schedule has no buffers of element type {text}", op)


def build_schedule(module: ModuleOp) -> Schedule:
    """The host schedule of a gpu-level module."""
    from rusty_ir.backends.wgsl import emit_program  # the kernels' interfaces

    kernels = {k.name: k for k in emit_program(module).kernels}
    caches: list[KvCache] = []
    functions: dict[str, Function] = {}
    slots: dict[int, set[str]] = {}
    weights: dict[str, WeightDecl] = {}
    for op in module.body.block.ops:
        if op.name == "dispatch.kv_cache":
            assert isinstance(op, KvCacheOp)
            caches.append(
                KvCache(
                    op.sym_name.data, op.num_layers.value.data, op.row_width.value.data,
                    element_type_name(op.cache_element_type, op), op.paged_block_size or 0,
                )
            )  # fmt: skip
        elif isinstance(op, gpu.ModuleOp):
            continue
        elif isinstance(op, func.FuncOp):
            if op.is_declaration:
                raise _error(f"host function @{op.sym_name.data} has no body", op)
            functions[op.sym_name.data] = _FunctionEmitter(op, kernels, slots, weights).emit()
        else:
            raise _error("the schedule emitter cannot translate this op at module level", op)
    return Schedule(
        kernels=kernels,
        functions=functions,
        kv_caches=tuple(caches),
        slots=tuple(Slot(n, tuple(sorted(t))) for n, t in sorted(slots.items())),
        weights=tuple(weights[k] for k in sorted(weights)),
        entries=tuple(e for e in ENTRIES if e in functions),
        # the largest verify step whose kernels are the few-token versions (larger ones take the prefill's tiles)
        extra={FEW_TOKEN_STEPS: GEMV_STEP_TOKENS} if VERIFY_ENTRY in functions else {},
    )


def emit_schedule(module: ModuleOp) -> str:
    """The host schedule as JSON (what ``rusty-translate --to-schedule`` prints)."""
    return build_schedule(module).to_json()


class _FunctionEmitter:
    """Translates one host function; names and inlined constants are scoped to it."""

    def __init__(self, fn: func.FuncOp, kernels: dict[str, Any], slots: dict[int, set[str]], weights: dict[str, WeightDecl]):
        self.fn = fn
        self.kernels = kernels
        self.slots = slots
        self.weights = weights
        self.refs: dict[SSAValue, Expr] = {}
        self.taken: set[str] = set()

    # -- names ---------------------------------------------------------------

    def define(self, value: SSAValue) -> str:
        hint = re.sub(r"[^A-Za-z0-9_]", "_", value.name_hint or "v")
        name, n = hint, 0
        while name in self.taken:
            n += 1
            name = f"{hint}_{n}"
        self.taken.add(name)
        self.refs[value] = name
        return name

    def ref(self, value: SSAValue, op: Operation) -> Expr:
        if value not in self.refs:
            raise _error("an operand is defined outside the host function (or by an op the schedule drops)", op)
        return self.refs[value]

    def buffer(self, value: SSAValue, op: Operation) -> str:
        r = self.ref(value, op)
        if not isinstance(value.type, MemRefType) or not isinstance(r, str):
            raise _error(f"expected a buffer operand, got {value.type}", op)
        return r

    # -- function --------------------------------------------------------------

    def emit(self) -> Function:
        block = self.fn.body.block
        args: list[Arg] = []
        for a in block.args:
            name = self.define(a)
            if isinstance(a.type, MemRefType):
                t = stored_tensor(a) or a.type  # a quantized weight's words: the tensor they store
                shape = tuple(None if d < 0 else d for d in t.get_shape())
                args.append(Arg(name, "buffer", element_type_name(t.element_type, self.fn), shape))
            else:
                args.append(Arg(name, self.scalar_kind(a.type, self.fn)))
        return Function(self.fn.sym_name.data, tuple(args), tuple(self.block(block)))

    def scalar_kind(self, t: Attribute, op: Operation) -> str:
        if isinstance(t, IndexType):
            return "index"
        if str(t) in ("i32", "f32"):
            return str(t)
        raise _error(f"host scalars must be index, i32 or f32, got {t}", op)

    def block(self, block: Block) -> list[Step]:
        steps: list[Step] = []
        for op in block.ops:
            step = self.op(op)
            if step is not None:
                steps.append(step)
        return steps

    def op(self, op: Operation) -> Step | None:  # one case per op
        name = op.name
        if isinstance(op, arith.ConstantOp):
            value = op.value
            if isinstance(value, IntegerAttr) and isinstance(value.type, IndexType | IntegerType):
                self.refs[op.results[0]] = int(value.value.data)
            elif isinstance(value, FloatAttr):
                self.refs[op.results[0]] = float(value.value.data)
            else:
                raise _error(f"host constants must be integers or floats, got {value}", op)
            return None
        if name in ARITH:
            a, b = (self.ref(v, op) for v in op.operands)
            expr = _fold(ARITH[name], a, b)
            if not isinstance(expr, list):
                self.refs[op.results[0]] = expr
                return None
            return Let(self.define(op.results[0]), expr)
        if name in PASS_THROUGH:
            self.refs[op.results[0]] = self.ref(op.operands[0], op)
            return None
        if name == "memref.dealloc":
            return None
        if name == "memref.dim":
            return self.dim(op)
        if isinstance(op, memref.AllocOp):
            return self.alloc(op)
        if isinstance(op, WeightOp):
            return self.weight(op)
        if isinstance(op, CacheOp):
            layer = self.ref(op.layer, op)
            return Cache(self.define(op.results[0]), op.cache.root_reference.data, op.part.data, layer)
        if isinstance(op, BlockTableOp):
            return BlockTable(self.define(op.result), op.cache.root_reference.data)
        if isinstance(op, gpu.LaunchFuncOp):
            return self.launch(op)
        if isinstance(op, func.CallOp):
            args = tuple(self.ref(v, op) for v in op.arguments)
            return Call(op.callee.root_reference.data, args, tuple(self.define(r) for r in op.results))
        if isinstance(op, arith.CmpiOp) and arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data] in ("ule", "sle"):
            a, b = (self.ref(v, op) for v in op.operands)
            expr = _fold("le", a, b)
            if not isinstance(expr, list):
                self.refs[op.results[0]] = expr
                return None
            return Let(self.define(op.results[0]), expr)
        if isinstance(op, scf.ForOp):
            return self.loop(op)
        if isinstance(op, scf.IfOp):
            if op.results:
                raise _error("scf.if with results is not supported on the host", op)
            cond = self.ref(op.cond, op)
            then, orelse = (self.block(r.block) if r.blocks else [] for r in (op.true_region, op.false_region))
            return If(cond, tuple(then), tuple(orelse))
        if isinstance(op, scf.YieldOp) and not op.operands:
            return None
        if isinstance(op, func.ReturnOp):
            return Return(tuple(self.ref(v, op) for v in op.operands))
        raise _error("the schedule emitter cannot translate this op in a host function", op)

    def dim(self, op: Operation) -> Step | None:
        source, index = op.operands
        i = self.ref(index, op)
        if not isinstance(i, int):
            raise _error("memref.dim needs a constant index", op)
        assert isinstance(source.type, MemRefType)
        shape = source.type.get_shape()
        if not 0 <= i < len(shape):
            raise _error(f"memref.dim index {i} is out of range for {source.type}", op)
        if shape[i] >= 0:
            self.refs[op.results[0]] = shape[i]
            return None
        return Dim(self.define(op.results[0]), self.buffer(source, op), i)

    def alloc(self, op: memref.AllocOp) -> Step:
        slot = op.attributes.get("rusty.slot")
        if not isinstance(slot, IntegerAttr):
            raise _error("memref.alloc has no rusty.slot attribute (run plan-memory first)", op)
        if op.symbol_operands:
            raise _error("memref.alloc with symbol operands is not supported", op)
        t = op.results[0].type
        assert isinstance(t, MemRefType)
        elem = element_type_name(t.element_type, op)
        dynamic = iter(op.dynamic_sizes)
        shape = tuple(self.ref(next(dynamic), op) if d < 0 else d for d in t.get_shape())
        self.slots.setdefault(slot.value.data, set()).add(elem)
        return Alloc(self.define(op.results[0]), slot.value.data, elem, shape)

    def weight(self, op: WeightOp) -> Step:
        t = op.results[0].type
        if not isinstance(t, MemRefType):
            raise _error("dispatch.weight must be bufferized (a memref) at the gpu level", op)
        template = op.weight_name.data
        layer = None if op.layer is None else self.ref(op.layer, op)
        part = op.part.data if op.part is not None else None
        stored: TensorType | MemRefType = op.stored or t  # a part's or a quantized weight's stored tensor
        decl = WeightDecl(template, layer is not None, element_type_name(stored.element_type, op), tuple(stored.get_shape()))
        if self.weights.setdefault(template, decl) != decl:
            raise _error(
                f"weight '{template}' is used with two types ({self.weights[template].scheme}"
                f"{list(self.weights[template].shape)} and {decl.scheme}{list(decl.shape)})",
                op,
            )
        return Weight(self.define(op.results[0]), template, layer, decl.scheme, decl.shape, part)

    def launch(self, op: gpu.LaunchFuncOp) -> Step:
        kernel = op.kernel.nested_references.data[-1].data if op.kernel.nested_references.data else op.kernel.root_reference.data
        iface = self.kernels.get(kernel)
        if iface is None:
            raise _error(f"kernel @{kernel} is not a gpu.func kernel of this module", op)
        if op.asyncDependencies or op.asyncToken is not None or op.asyncObject is not None:
            raise _error("async launches are not supported", op)
        if op.dynamicSharedMemorySize is not None or op.clusterSizeX is not None:
            raise _error("dynamic shared memory and clusters are not supported", op)
        grid = (self.ref(op.gridSizeX, op), self.ref(op.gridSizeY, op), self.ref(op.gridSizeZ, op))
        block = (self.ref(op.blockSizeX, op), self.ref(op.blockSizeY, op), self.ref(op.blockSizeZ, op))
        if all(isinstance(b, int) for b in block) and tuple(block) != tuple(iface.workgroup_size):
            raise _error(f"launch of @{kernel} with threads {list(block)} but its known_block_size is {list(iface.workgroup_size)}", op)
        operands = list(op.kernelOperands)
        fields = iface.params.fields if iface.params is not None else ()
        if len(operands) != len(iface.buffers) + len(fields):
            raise _error(f"kernel @{kernel} takes {len(iface.buffers) + len(fields)} arguments, the launch passes {len(operands)}", op)
        buffers = tuple(self.buffer(v, op) for v in operands if isinstance(v.type, MemRefType))
        scalars = tuple(self.ref(v, op) for v in operands if not isinstance(v.type, MemRefType))
        if len(buffers) != len(iface.buffers):
            raise _error(f"kernel @{kernel} takes {len(iface.buffers)} buffers, the launch passes {len(buffers)}", op)
        return Launch(kernel, grid, block, buffers, scalars)

    def loop(self, op: scf.ForOp) -> Step:
        bounds = [self.ref(v, op) for v in (op.lb, op.ub, op.step)]
        inits = [self.ref(v, op) for v in op.iter_args]
        body = op.body.block
        iv = self.define(body.args[0])
        names = [self.define(a) for a in body.args[1:]]
        steps: list[Step] = []
        yields: tuple[Expr, ...] = ()
        for inner in body.ops:
            if isinstance(inner, scf.YieldOp):
                yields = tuple(self.ref(v, inner) for v in inner.operands)
            else:
                step = self.op(inner)
                if step is not None:
                    steps.append(step)
        results = tuple(self.define(r) for r in op.results)
        return Loop(iv, bounds[0], bounds[1], bounds[2], tuple(zip(names, inits, strict=True)), tuple(steps), yields, results)


def _fold(op: str, a: Expr, b: Expr) -> Expr:
    """``[op, a, b]``, or its value when both are literals."""
    if isinstance(a, int) and isinstance(b, int) and not (op in ("div", "ceildiv", "rem") and b == 0):
        return OPERATORS[op](a, b)
    return [op, a, b]
