"""convert-dispatch-to-tiled: each bufferized dispatch region becomes a tiled.kernel by its strategy."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.errors import RustyError
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.strategies import STRATEGIES, single_token_config
from rusty_ir.passes.dispatch.analysis import Kind, kind


def _kernel(region: RegionOp, config: LoweringConfigAttr) -> Operation:
    """The tiled.kernel of one region under one lowering config."""
    kernel = Kernel(region, config)
    mat = Materializer(kernel.body_args)
    try:
        grid = STRATEGIES[config.strategy.data](kernel, mat, region_ops(region))
    except RustyError as err:
        if err.op is None:
            err.op = region
        raise RustyError(f"dispatch region '{region.label.data}' ({config.strategy.data}): {err}", err.op) from None
    return kernel.finish(grid)


def lower_region(region: RegionOp) -> None:
    """Replace one region by its kernel (the strategy is the region's lowering config).

    A region with a single-token version (``single_token_config``) becomes
    ``scf.if`` on the host: the single-token kernel when the contraction's
    batch (the step's tokens) is at most 1, the tiled kernel otherwise.
    """
    config = region.config
    if config is None:
        raise RustyError(f"dispatch region '{region.label.data}' has no lowering config (run tune-workgroups first)", region)
    if region.outputs:
        raise RustyError(f"dispatch region '{region.label.data}' still returns tensors (run rusty-bufferize first)", region)
    single = single_token_config(config)
    if single is None:
        Rewriter.replace_op(region, _kernel(region, config))
        return
    b = IRBuilder(InsertPoint.before(region))
    root = next(op for op in region_ops(region) if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION)
    host_args = dict(zip(region.block.args, region.args))
    mat = Materializer(host_args)
    batch = b.product([mat.dim(b, root.results[0], i, host_args) for i in range(len(static_shape(root.results[0])) - 1)])
    branches = [Region(Block([_kernel(region, c), scf.YieldOp()])) for c in (single, config)]
    Rewriter.replace_op(region, scf.IfOp(b.cmpi("ule", batch, b.index(1)), [], *branches))


@dataclass(frozen=True)
class ConvertDispatchToTiledPass(ModulePass):
    """Lowers every dispatch.region to a tiled.kernel, following its #dispatch.lowering_config.

    Matches: bufferized ``dispatch.region`` ops (memref operands, no results)
    with a ``config``. Produces: ``tiled.kernel`` ops with the same operands: a
    ``grid`` region computing the workgroup counts on the host, and a ``body``
    of upstream gpu/scf/memref/arith/math ops plus ``rgpu.unpack_f16``, written
    by the region's strategy (elementwise, row, contraction or attention; see
    passes/codegen/strategies.py). Every op of the region is consumed: fused
    producers and epilogues are materialized element by element. A contraction
    tiled over several tokens becomes two kernels under a host ``scf.if`` on
    its batch size (see ``lower_region``).
    Pre-conditions: ``tune-workgroups`` and ``rusty-bufferize`` have run.
    """

    name = "convert-dispatch-to-tiled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for region in [r for r in op.walk() if isinstance(r, RegionOp)]:
            lower_region(region)
