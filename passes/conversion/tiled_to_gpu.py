"""convert-tiled-to-gpu: outline each ``tiled.kernel`` body into a ``gpu.func`` and launch it from the host."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import gpu
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FunctionType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    UnitAttr,
    UnrealizedConversionCastOp,
    i32,
)
from xdsl.ir import Block, BlockArgument, Region
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.gpu import upstream
from rusty_ir.dialects.gpu.upstream import KERNEL_ATTR
from rusty_ir.dialects.tiled import KernelOp, YieldOp
from rusty_ir.errors import RustyError
from rusty_ir.narrow import terminator
from rusty_ir.passes.builder import IRBuilder

KERNELS_MODULE = "kernels"
"""The ``gpu.module`` that receives every outlined kernel."""

CONTAINER_ATTR = "gpu.container_module"
"""Set on the builtin module, as MLIR requires of a module holding ``gpu.module``s and launches."""


def _kernels_module(module: ModuleOp) -> gpu.ModuleOp:
    """The top-level ``gpu.module @kernels``, created at the end of the module if absent."""
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp) and op.sym_name.data == KERNELS_MODULE:
            return op
    kernels = gpu.ModuleOp.build(
        properties={"sym_name": StringAttr(KERNELS_MODULE)}, regions=[Region(Block())]
    )  # its __init__ is typed for a SymbolRefAttr
    module.body.block.add_op(kernels)
    return kernels


def _unique_name(label: str, taken: set[str]) -> str:
    """``label`` as a WGSL-friendly identifier, suffixed ``_1``, ``_2``, ... until unused."""
    base = re.sub(r"\W", "_", label) or "kernel"
    if base[0].isdigit() or base.startswith("__"):
        base = "k_" + base
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def outline(kernel: KernelOp, kernels: gpu.ModuleOp, taken: set[str]) -> gpu.LaunchFuncOp:
    """Moves one kernel's body into ``kernels`` and replaces the kernel by its grid and a launch."""
    # 1. The body becomes a gpu.func: its block arguments are the function's, tiled.yield a gpu.return.
    name = _unique_name(kernel.label.data, taken)
    body = kernel.body.block
    arg_types = [a.type for a in body.args]
    Rewriter.replace_op(terminator(body), gpu.ReturnOp([]))
    fn = upstream.FuncOp.build(
        properties={"function_type": FunctionType.from_lists(arg_types, []),
                    "known_block_size": DenseArrayBase.from_list(i32, list(kernel.workgroup))},
        attributes={"sym_name": StringAttr(name), KERNEL_ATTR: UnitAttr()},
        regions=[Rewriter.move_region_contents_to_new_regions(kernel.body)],
    )  # fmt: skip
    kernels.body.block.add_op(fn)
    # 2. The grid's ops move before the kernel, its block arguments replaced by the kernel's operands.
    grid = kernel.grid.block
    grid_yield = grid.last_op
    assert isinstance(grid_yield, YieldOp)
    # a count may be a grid argument itself (one workgroup per row: the row count)
    counts = [kernel.args[v.index] if isinstance(v, BlockArgument) and v in grid.args else v for v in grid_yield.values]
    Rewriter.erase_op(grid_yield, safe_erase=False)
    Rewriter.inline_block(grid, InsertPoint.before(kernel), kernel.args)
    # 3. The launch, with the workgroup size as index constants and the kernel's operands, each cast to its
    #    argument's type where they differ (a stored weight's buffer binds to the memref<Nxi32> of its words).
    b = IRBuilder(InsertPoint.before(kernel))
    threads = [b.index(w) for w in kernel.workgroup]
    operands = [v if v.type == t else b.value(UnrealizedConversionCastOp.get([v], [t])) for v, t in zip(kernel.args, arg_types)]
    launch = gpu.LaunchFuncOp(SymbolRefAttr(KERNELS_MODULE, [name]), counts, threads, kernelOperands=operands)
    b.insert(launch)
    Rewriter.erase_op(kernel)
    return launch


@dataclass(frozen=True)
class ConvertTiledToGpuPass(ModulePass):
    """Outlines every ``tiled.kernel`` into ``gpu.module @kernels`` and launches it with ``gpu.launch_func``.

    Matches: every ``tiled.kernel`` of the module's host functions (also inside
    ``scf.for`` bodies).

    Produces (docs/compiler.md, "GPU-level host IR")::

        tiled.kernel "axpb"(%x, %y, %s) {workgroup_size = array<i64: 64, 1, 1>} : memref<?x8xf32>, memref<?x8xf32>, index
        grid { ^bb0(%a, %b, %n): ...; tiled.yield %gx, %c1, %c1 : index, index, index }
        body { ^bb0(%a, %b, %n): ...; tiled.yield }
        // becomes, in the host function
        ...grid ops on %x, %y, %s...
        %c64 = arith.constant 64 : index
        %c1 = arith.constant 1 : index
        gpu.launch_func @kernels::@axpb blocks in (%gx, %c1, %c1) threads in (%c64, %c1, %c1) args(%x, %y, %s)
        // and at module level
        gpu.module @kernels {
          gpu.func @axpb(%a: memref<?x8xf32>, %b: memref<?x8xf32>, %n: index) kernel
              attributes {known_block_size = array<i32: 64, 1, 1>} { ...; gpu.return }
        }

    Kernels are marked the upstream way (the ``gpu.kernel`` unit attribute, ``known_block_size`` a property;
    ``dialects/gpu/upstream.py``), so mlir-opt verifies the gpu level.

    The ``gpu.func`` is named after the kernel's label (made an identifier,
    suffixed ``_1``, ``_2``... to stay unique in ``@kernels``) and takes the
    body's block arguments; an operand of another type (a stored weight, bound as
    the ``memref<Nxi32>`` of its words) is cast to the argument's type with
    ``builtin.unrealized_conversion_cast`` (the same buffer; the schedule reads through it). The module gets ``gpu.container_module``. No
    ``tiled`` op remains.

    Pre-conditions: the ``tiled.kernel`` ops verify (three index grid counts, an
    empty body yield); grid regions only hold host-evaluable ops (arith, memref.dim).
    """

    name = "convert-tiled-to-gpu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        found = [k for k in op.walk() if isinstance(k, KernelOp)]
        if not found:
            return
        kernels = _kernels_module(op)
        taken = {f.sym_name.data for f in kernels.body.block.ops if isinstance(f, gpu.FuncOp)}
        for kernel in found:
            if isinstance(kernel.parent_op(), gpu.ModuleOp | gpu.FuncOp):
                raise RustyError("convert-tiled-to-gpu: a tiled.kernel must be in a host function", kernel)
            outline(kernel, kernels, taken)
        op.attributes[CONTAINER_ATTR] = UnitAttr()
        for inner in op.walk():
            if inner.dialect_name() == "tiled":
                raise RustyError(f"convert-tiled-to-gpu: '{inner.name}' remains", inner)


__all__ = ["CONTAINER_ATTR", "KERNELS_MODULE", "ConvertTiledToGpuPass", "outline"]
