"""convert-dispatch-to-tiled: each bufferized dispatch region becomes a tiled.kernel by its strategy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.errors import RustyError
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.strategies import (
    STRATEGIES,
    Strategy,
    lower_attention_combine,
    single_token_config,
    split_kv_scratch,
    step_tokens,
)


def _kernel(region: RegionOp, config: LoweringConfigAttr, lower: Strategy, extra: Sequence[SSAValue] = ()) -> Operation:
    """The tiled.kernel of one region under one lowering config."""
    kernel = Kernel(region, config, extra)
    mat = Materializer(kernel.body_args)
    try:
        grid = lower(kernel, mat, region_ops(region))
    except RustyError as err:
        if err.op is None:
            err.op = region
        raise RustyError(f"dispatch region '{region.label.data}' ({config.strategy.data}): {err}", err.op) from None
    return kernel.finish(grid)


def _lower(region: RegionOp, config: LoweringConfigAttr, b: IRBuilder) -> None:
    """Insert what replaces ``region`` under ``config``: its kernel, or split-KV attention's
    partials buffer and its two kernels."""
    if config.strategy.data == "attention" and len(config.tile_sizes) == 2:
        scratch = split_kv_scratch(b, region_ops(region), dict(zip(region.block.args, region.args)), config)
        b.insert(_kernel(region, config, STRATEGIES["attention"], [scratch]))
        b.insert(_kernel(region, config, lower_attention_combine, [scratch]))
    else:
        b.insert(_kernel(region, config, STRATEGIES[config.strategy.data]))


def lower_region(region: RegionOp) -> None:
    """Replace one region by its kernel (the strategy is the region's lowering config).

    A region with a single-token version (``single_token_config``) becomes
    ``scf.if`` on the host: the single-token kernels when the step has one
    token (``step_tokens``), the general ones otherwise.
    """
    config = region.config
    if config is None:
        raise RustyError(f"dispatch region '{region.label.data}' has no lowering config (run tune-workgroups first)", region)
    if region.outputs:
        raise RustyError(f"dispatch region '{region.label.data}' still returns tensors (run rusty-bufferize first)", region)
    b = IRBuilder(InsertPoint.before(region))
    single = single_token_config(config, region_ops(region))
    if single is None:
        _lower(region, config, b)
    else:
        tokens = step_tokens(b, region_ops(region), dict(zip(region.block.args, region.args)))
        blocks = [Block(), Block()]
        for block, c in zip(blocks, (single, config)):
            _lower(region, c, IRBuilder(block))
            block.add_op(scf.YieldOp())
        b.insert(scf.IfOp(b.cmpi("ule", tokens, b.index(1)), [], Region(blocks[0]), Region(blocks[1])))
    Rewriter.erase_op(region)


@dataclass(frozen=True)
class ConvertDispatchToTiledPass(ModulePass):
    """Lowers every dispatch.region to a tiled.kernel, following its #dispatch.lowering_config.

    Matches: bufferized ``dispatch.region`` ops (memref operands, no results)
    with a ``config``. Produces: ``tiled.kernel`` ops with the same operands: a
    ``grid`` region computing the workgroup counts on the host, and a ``body``
    of upstream gpu/scf/memref/arith/math ops plus ``rgpu.unpack_f16``, written
    by the region's strategy (elementwise, row, contraction or attention; see
    passes/codegen/strategies.py). Every op of the region is consumed: fused
    producers and epilogues are materialized element by element. Contractions
    tiled over several tokens and attention get a single-token version under a
    host ``scf.if`` on the step's tokens (see ``lower_region``); decode's
    split-KV attention is two kernels sharing a host ``memref.alloc``.
    Pre-conditions: ``tune-workgroups`` and ``rusty-bufferize`` have run.
    """

    name = "convert-dispatch-to-tiled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for region in [r for r in op.walk() if isinstance(r, RegionOp)]:
            lower_region(region)
