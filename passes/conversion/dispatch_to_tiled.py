"""convert-dispatch-to-tiled: each bufferized dispatch region becomes a tiled.kernel, its schedule built from its
lowering config (tile and distribute)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import scf
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.attention import lower_attention, lower_attention_combine, split_kv_scratch
from rusty_ir.passes.codegen.elementwise import lower_elementwise
from rusty_ir.passes.codegen.flash_attention import lower_flash_attention
from rusty_ir.passes.codegen.gemm import lower_gemm
from rusty_ir.passes.codegen.gemv import GEMV_STEP_TOKENS, lower_gemv, lower_gemv_quantize, prequantized_scratch
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.codegen.row import lower_row
from rusty_ir.passes.codegen.sampling import lower_sample
from rusty_ir.passes.dispatch.analysis import Kind, kind
from rusty_ir.targets import TargetDescription

Schedule = Callable[[Kernel, Materializer, Sequence[Operation]], list[SSAValue]]
"""Writes one kernel's body and returns its grid."""

SCHEDULES: dict[str, Schedule] = {
    "attention": lower_attention,
    "elementwise": lower_elementwise,
    "gemm": lower_gemm,
    "gemv": lower_gemv,
    "row": lower_row,
    "sample": lower_sample,
}
"""The schedule builder of each strategy (passes/codegen/<strategy>.py)."""


def check_limits(config: LoweringConfigAttr, target: TargetDescription, region: RegionOp) -> None:
    """A located error when a config asks for more than the target allows."""
    if config.threads > target.max_invocations:
        raise RustyError(
            f"dispatch region '{region.label.data}': {config.threads} invocations per workgroup exceed the "
            f"'{target.name}' target's {target.max_invocations} (max_invocations)", region,
        )  # fmt: skip


def _kernel(
    region: RegionOp, config: LoweringConfigAttr, target: TargetDescription, lower: Schedule, extra: Sequence[SSAValue] = ()
) -> Operation:
    """The tiled.kernel of one region under one lowering config."""
    check_limits(config, target, region)
    kernel = Kernel(region, config, target, extra)
    mat = Materializer(kernel.body_args)
    try:
        grid = lower(kernel, mat, region_ops(region))
    except RustyError as err:
        if err.op is None:
            err.op = region
        raise RustyError(f"dispatch region '{region.label.data}' ({config.strategy}): {err}", err.op) from None
    return kernel.finish(grid)


def _lower(region: RegionOp, config: LoweringConfigAttr, target: TargetDescription, b: IRBuilder) -> None:
    """Insert what replaces ``region`` under ``config``: its kernel, or split-KV attention's
    partials buffer and its two kernels, or a prequantized gemv's activation buffer and its two kernels."""
    if config.strategy not in SCHEDULES:
        raise RustyError(f"dispatch region '{region.label.data}': unknown strategy '{config.strategy}'", region)
    args: dict[SSAValue, SSAValue] = dict(zip(region.block.args, region.args))
    if config.strategy == "attention" and config.config.split:
        scratch = split_kv_scratch(b, region_ops(region), args, config)
        b.insert(_kernel(region, config, target, lower_attention, [scratch]))
        b.insert(_kernel(region, config, target, lower_attention_combine, [scratch]))
    elif config.strategy == "gemv" and config.config.prequantize:
        scratch = prequantized_scratch(b, region_ops(region), args, step_tokens(b, region_ops(region), args))
        b.insert(_kernel(region, config, target, lower_gemv_quantize, [scratch]))
        b.insert(_kernel(region, config, target, lower_gemv, [scratch]))
    elif config.strategy == "attention" and config.config.workgroup_tile:  # blocks of query rows: FlashAttention-2
        query = next(o for o in region_ops(region) if isinstance(o, AttentionOp)).query
        rows = Materializer(args).dim(b, query, 0, args)  # on the host: a kernel cannot read a buffer's size
        b.insert(_kernel(region, config, target, lower_flash_attention, [rows]))
    else:
        b.insert(_kernel(region, config, target, SCHEDULES[config.strategy]))


def step_tokens(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue]) -> SSAValue:
    """The step's token count, on the host: a contraction's batch or an attention's query rows."""
    mat = Materializer(args)
    attention = next((o for o in ops if isinstance(o, AttentionOp)), None)
    if attention is not None:
        return mat.dim(b, attention.query, 0, args)
    from xdsl.dialects.linalg import ops as linalg

    root = next(o for o in ops if isinstance(o, linalg.GenericOp) and kind(o) is Kind.CONTRACTION)
    return b.product([mat.dim(b, root.results[0], i, args) for i in range(len(static_shape(root.results[0])) - 1)])


def single_version_tokens(single: LoweringConfigAttr) -> int:
    """The most tokens of a step that runs a region's single-token version ``single``: ``GEMV_STEP_TOKENS`` for the
    gemv and the per-row attention, one for the others (sampling)."""
    per_row = single.strategy == "attention" and not single.config.workgroup_tile
    return GEMV_STEP_TOKENS if single.strategy == "gemv" or per_row else 1


def lower_region(region: RegionOp, target: TargetDescription) -> None:
    """Replace one region by its kernel(s); with a ``single_token_config`` by host ``scf.if``s on the step's
    token count (``step_tokens``): the single-token kernels for steps of up to ``single_version_tokens`` tokens
    (with a ``few_token_config``: for one token, and the few-token kernels up to ``GEMV_STEP_TOKENS``), the
    general ones otherwise."""
    config = region.config
    if config is None:
        raise RustyError(f"dispatch region '{region.label.data}' has no lowering config (run tune-workgroups first)", region)
    if region.outputs:
        raise RustyError(f"dispatch region '{region.label.data}' still returns tensors (run rusty-bufferize first)", region)
    b = IRBuilder(InsertPoint.before(region))
    single = region.single_token_config
    if single is None:
        _lower(region, config, target, b)
    else:
        few = region.few_token_config
        versions = [(1, single), *few_token_versions(few)] if few is not None else [(single_version_tokens(single), single)]
        _select(region, versions, config, target, b, step_tokens(b, region_ops(region), dict(zip(region.block.args, region.args))))
    Rewriter.erase_op(region)


def few_token_versions(few: LoweringConfigAttr) -> list[tuple[int, LoweringConfigAttr]]:
    """(most tokens, config) of the versions that run steps of 2 to ``GEMV_STEP_TOKENS`` tokens: ``few`` itself, and
    where its workgroups take T > 2 tokens (a prequantized gemv), one with exactly t tokens per workgroup for each
    step of t < T tokens: a workgroup computes all of its T tokens (a branch per token cost 10-25% on an H200 where
    every token was in the step), so a step that does not fill them takes the version it fills."""
    per_workgroup = few.config.workgroup_tile[0] if few.strategy == "gemv" else 1
    exact = [(t, few.replace(workgroup_tile=[t, few.config.workgroup_tile[1]])) for t in range(2, min(per_workgroup, GEMV_STEP_TOKENS))]
    return [*exact, (GEMV_STEP_TOKENS, few)]


def _select(region: RegionOp, versions: list[tuple[int, LoweringConfigAttr]], config: LoweringConfigAttr, target: TargetDescription,
            b: IRBuilder, tokens: SSAValue) -> None:  # fmt: skip
    """``scf.if tokens <= most`` of the first (most, config) version, else the next ones', else ``config``'s."""
    (most, first), rest = versions[0], versions[1:]
    blocks = [Block(), Block()]
    _lower(region, first, target, IRBuilder(blocks[0]))
    if rest:
        _select(region, rest, config, target, IRBuilder(blocks[1]), tokens)
    else:
        _lower(region, config, target, IRBuilder(blocks[1]))
    for block in blocks:
        block.add_op(scf.YieldOp())
    b.insert(scf.IfOp(b.cmpi("ule", tokens, b.index(most)), [], Region(blocks[0]), Region(blocks[1])))


@dataclass(frozen=True)
class ConvertDispatchToTiledPass(ModulePass):
    """Lowers every dispatch.region to a tiled.kernel whose body is the schedule its #dispatch.lowering_config asks for.

    Matches: bufferized ``dispatch.region`` ops (memref operands, no results)
    with a ``config``. Produces: ``tiled.kernel`` ops with the same operands: a
    ``grid`` region computing the workgroup counts on the host, and a ``body``
    that is the tiled and distributed loop nest of the region's strategy
    (``elementwise``, ``row``, ``gemv``, ``gemm``, ``attention`` per query row or, with a
    ``workgroup_tile``, per block of query rows, ``sample``; one builder each in passes/codegen/): ``tiled.forall`` over workgroups and invocations,
    ``tiled.promote`` of tiles into workgroup memory, ``tiled.contract_tile``
    register micro-tiles, ``tiled.reduce`` across invocations, ``rquant.load`` /
    ``rquant.load_block`` of stored weights, around ``scf``/``memref``/``arith``.
    Every op of the region is consumed: fused producers and epilogues are
    materialized element by element where their values are needed. A region
    with a ``single_token_config`` becomes both versions under a host
    ``scf.if`` on the step's tokens (a gemv for steps of up to
    ``GEMV_STEP_TOKENS``, other single-token versions for one token), and
    with a ``few_token_config`` too, three (one token, up to
    ``GEMV_STEP_TOKENS``, more); split-KV attention is two kernels sharing
    a host ``memref.alloc``. Configs beyond the module's target
    (``#rgpu.target``) are located errors. Pre-conditions: ``attach-target``,
    ``tune-workgroups`` and ``rusty-bufferize`` have run.
    """

    name = "convert-dispatch-to-tiled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        regions = [r for r in op.walk() if isinstance(r, RegionOp)]
        if not regions:
            return
        target = module_target(op)
        for region in regions:
            lower_region(region, target)
