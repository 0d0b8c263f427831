"""convert-dispatch-to-tiled: each bufferized dispatch region becomes a tiled.kernel by its strategy."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.errors import RustyError
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer
from rusty_ir.passes.codegen.strategies import STRATEGIES


def lower_region(region: RegionOp) -> None:
    """Replace one region by its kernel (the strategy is the region's lowering config)."""
    config = region.config
    if config is None:
        raise RustyError(f"dispatch region '{region.label.data}' has no lowering config (run tune-workgroups first)", region)
    if region.outputs:
        raise RustyError(f"dispatch region '{region.label.data}' still returns tensors (run rusty-bufferize first)", region)
    kernel = Kernel(region, config)
    mat = Materializer(kernel.body_args)
    try:
        grid = STRATEGIES[config.strategy.data](kernel, mat, region_ops(region))
    except RustyError as err:
        if err.op is None:
            err.op = region
        raise RustyError(f"dispatch region '{region.label.data}' ({config.strategy.data}): {err}", err.op) from None
    Rewriter.replace_op(region, kernel.finish(grid))


@dataclass(frozen=True)
class ConvertDispatchToTiledPass(ModulePass):
    """Lowers every dispatch.region to a tiled.kernel, following its #dispatch.lowering_config.

    Matches: bufferized ``dispatch.region`` ops (memref operands, no results)
    with a ``config``. Produces: ``tiled.kernel`` ops with the same operands: a
    ``grid`` region computing the workgroup counts on the host, and a ``body``
    of upstream gpu/scf/memref/arith/math ops plus ``rgpu.unpack_f16``, written
    by the region's strategy (elementwise, row, contraction or attention; see
    passes/codegen/strategies.py). Every op of the region is consumed: fused
    producers and epilogues are materialized element by element.
    Pre-conditions: ``tune-workgroups`` and ``rusty-bufferize`` have run.
    """

    name = "convert-dispatch-to-tiled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for region in [r for r in op.walk() if isinstance(r, RegionOp)]:
            lower_region(region)
