"""convert-dispatch-to-tiled: each bufferized dispatch region becomes a tiled.kernel, its schedule built from its
lowering config (tile and distribute)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from xdsl.context import Context
from xdsl.dialects import bufferization, scf
from xdsl.dialects.builtin import MemRefType, ModuleOp, StringAttr, f32
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.gpu.attrs import module_target
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.dialects.quant.storage import buffer_scheme
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.attention import lower_attention, lower_attention_combine, split_kv_scratch
from rusty_ir.passes.codegen.contraction import analyse
from rusty_ir.passes.codegen.elementwise import lower_elementwise
from rusty_ir.passes.codegen.flash_attention import lower_flash_attention
from rusty_ir.passes.codegen.gemm import lower_gemm
from rusty_ir.passes.codegen.gemv import GEMV_STEP_TOKENS, lower_gemv
from rusty_ir.passes.codegen.int8_activations import (
    QuantizeFor,
    carries_sums,
    lower_gemv_quantize,
    prequantized_block,
    prequantized_scratch,  # fmt: skip
)
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.codegen.row import lower_row
from rusty_ir.passes.codegen.sampling import lower_sample
from rusty_ir.passes.codegen.split_sampling import SPLIT_STEPS, lower_sample_split, split_sample_scratch
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


def _kernel(region: RegionOp, config: LoweringConfigAttr, target: TargetDescription, lower: Schedule, extra: Sequence[SSAValue] = (),
            suffix: str = "") -> Operation:  # fmt: skip
    """The tiled.kernel of one region under one lowering config (labelled ``<region>_<suffix>`` with a ``suffix``)."""
    check_limits(config, target, region)
    kernel = Kernel(region, config, target, extra)
    mat = Materializer(kernel.body_args)
    try:
        grid = lower(kernel, mat, region_ops(region))
    except RustyError as err:
        if err.op is None:
            err.op = region
        raise RustyError(f"dispatch region '{region.label.data}' ({config.strategy}): {err}", err.op) from None
    op = kernel.finish(grid)
    if suffix:
        op.label = StringAttr(f"{region.label.data}_{suffix}")
    return op


@dataclass
class _Fused:
    """A region's part in the pairs of ``quantize_pairs``, for its few-token versions: as a consumer it ``reads``
    its int8 activation from the buffer its producer's epilogue writes (no quantizing kernel); as a producer its
    epilogue ``writes`` the consumer's (``quantize_for``; the buffer allocated before the producer)."""

    reads: SSAValue | None = None
    writes: SSAValue | None = None
    quantize_for: QuantizeFor | None = None
    extra: tuple[SSAValue, ...] = ()
    """The producer's: host values its kernels take after ``writes`` (what the consumer's activation reads)."""


def _lower(region: RegionOp, config: LoweringConfigAttr, target: TargetDescription, b: IRBuilder, fused: _Fused | None = None) -> None:
    """Insert what replaces ``region`` under ``config``: its kernel, or split-KV attention's
    partials buffer and its two kernels, or a split sample's scratch buffers and its kernels, or a prequantized
    gemv's activation buffer and its two kernels (the gemv alone where its producer quantizes, ``fused``)."""
    if config.strategy not in SCHEDULES:
        raise RustyError(f"dispatch region '{region.label.data}': unknown strategy '{config.strategy}'", region)
    args: dict[SSAValue, SSAValue] = dict(zip(region.block.args, region.args))
    gemv: Schedule = lower_gemv
    writes: list[SSAValue] = []
    if fused is not None and fused.quantize_for is not None and fused.writes is not None:
        gemv, writes = partial(lower_gemv, quantize_for=fused.quantize_for), [fused.writes, *fused.extra]
    if config.strategy == "attention" and config.config.split:
        scratch = split_kv_scratch(b, region_ops(region), args, config)
        b.insert(_kernel(region, config, target, lower_attention, [scratch]))
        b.insert(_kernel(region, config, target, lower_attention_combine, [scratch]))
    elif config.strategy == "sample" and config.config.split:
        buffers = split_sample_scratch(b, region_ops(region), args, config)
        for kind, first, end in SPLIT_STEPS:

            def launch(lb: IRBuilder, step: SSAValue, _: Sequence[SSAValue], kind: str = kind) -> list[SSAValue]:
                lb.insert(_kernel(region, config, target, partial(lower_sample_split, kind=kind), [*buffers, step], kind))
                return []

            if end - first == 1:
                launch(b, b.index(first), [])
            else:
                b.for_loop(b.index(first), b.index(end), b.index(1), [], launch)
    elif config.strategy == "gemv" and config.config.prequantize:
        activation = fused.reads if fused is not None else None
        if activation is None:
            activation = prequantized_scratch(b, region_ops(region), args, step_tokens(b, region_ops(region), args))
            b.insert(_kernel(region, config, target, lower_gemv_quantize, [activation]))
        b.insert(_kernel(region, config, target, gemv, [activation, *writes]))
    elif config.strategy == "gemv" and writes:
        b.insert(_kernel(region, config, target, gemv, writes))
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
    root = next(o for o in ops if isinstance(o, linalg.GenericOp) and kind(o) is Kind.CONTRACTION)
    return b.product([mat.dim(b, root.results[0], i, args) for i in range(len(static_shape(root.results[0])) - 1)])


def single_version_tokens(single: LoweringConfigAttr) -> int:
    """The most tokens of a step that runs a region's single-token version ``single``: ``GEMV_STEP_TOKENS`` for the
    gemv and the per-row attention, one for the others (sampling)."""
    per_row = single.strategy == "attention" and not single.config.workgroup_tile
    return GEMV_STEP_TOKENS if single.strategy == "gemv" or per_row else 1


def lower_region(region: RegionOp, target: TargetDescription, fused: _Fused | None = None) -> None:
    """Replace one region by its kernel(s); with a ``single_token_config`` by host ``scf.if``s on the step's
    token count (``step_tokens``): the single-token kernels for steps of up to ``single_version_tokens`` tokens
    (with a ``few_token_config``: for one token, and the few-token kernels up to ``GEMV_STEP_TOKENS``, those of a
    ``more_token_config`` for the larger of them, all taking part in ``fused``), the general ones otherwise."""
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
        versions: list[tuple[int, LoweringConfigAttr, _Fused | None]] = [(single_version_tokens(single), single, None)]
        if few is not None:
            few_versions = few_token_versions(few, region.more_token_config, region)
            versions = [(1, single, None), *((most, version, fused) for most, version in few_versions)]
        _select(region, versions, config, target, b, step_tokens(b, region_ops(region), dict(zip(region.block.args, region.args))))
    Rewriter.erase_op(region)


def few_token_versions(
    few: LoweringConfigAttr, more: LoweringConfigAttr | None = None, region: RegionOp | None = None
) -> list[tuple[int, LoweringConfigAttr]]:
    """(most tokens, config) of the versions that run steps of 2 to ``GEMV_STEP_TOKENS`` tokens: ``few`` itself, and
    where its workgroups take T > 2 tokens (a prequantized gemv), one with exactly t tokens per workgroup for each
    step of t < T tokens: a workgroup computes all of its T tokens (a branch per token cost 10-25% on an H200 where
    every token was in the step), so a step that does not fill them takes the version it fills. With ``more``
    (``more_token_config``), ``few``'s versions take steps of up to T tokens and ``more``'s the larger ones."""
    if more is None:
        return _exact_versions(few, 2, GEMV_STEP_TOKENS)
    most = _tokens_per_workgroup(few)
    if not 1 < most < GEMV_STEP_TOKENS or more.strategy != "gemv" or more.config.prequantize != few.config.prequantize:
        raise RustyError(
            "a more_token_config needs a few_token_config of the same kind of gemv whose workgroups take 2 to "
            f"{GEMV_STEP_TOKENS - 1} tokens (the steps it takes)", region,
        )  # fmt: skip
    return [*_exact_versions(few, 2, most), *_exact_versions(more, most + 1, GEMV_STEP_TOKENS)]


def _exact_versions(config: LoweringConfigAttr, first: int, last: int) -> list[tuple[int, LoweringConfigAttr]]:
    """``config``'s versions for steps of ``first`` to ``last`` tokens: one per step size below its workgroups' T
    tokens, then ``config`` itself."""
    steps = range(first, min(_tokens_per_workgroup(config), last))
    exact = [(t, config.replace(workgroup_tile=[t, config.config.workgroup_tile[1]])) for t in steps]
    return [*exact, (last, config)]


def _tokens_per_workgroup(config: LoweringConfigAttr) -> int:
    """The tokens each workgroup of a few-token version takes: a gemv's ``workgroup_tile[0]``, else one."""
    return config.config.workgroup_tile[0] if config.strategy == "gemv" else 1


def _select(region: RegionOp, versions: list[tuple[int, LoweringConfigAttr, _Fused | None]], config: LoweringConfigAttr,
            target: TargetDescription, b: IRBuilder, tokens: SSAValue) -> None:  # fmt: skip
    """``scf.if tokens <= most`` of the first (most, config, fused) version, else the next ones', else ``config``'s."""
    (most, first, fused), rest = versions[0], versions[1:]
    blocks = [Block(), Block()]
    _lower(region, first, target, IRBuilder(blocks[0]), fused)
    if rest:
        _select(region, rest, config, target, IRBuilder(blocks[1]), tokens)
    else:
        _lower(region, config, target, IRBuilder(blocks[1]))
    for block in blocks:
        block.add_op(scf.YieldOp())
    b.insert(scf.IfOp(b.cmpi("ule", tokens, b.index(most)), [], Region(blocks[0]), Region(blocks[1])))


def quantize_pairs(regions: Sequence[RegionOp], target: TargetDescription) -> dict[RegionOp, tuple[RegionOp, int, int]]:
    """producer -> (consumer, the consumer's activation argument, the producer's argument it writes): each region
    whose few-token version is a prequantized gemv (``prequantize = 1``) of an activation the previous writer of its
    buffer, a region of one contraction whose few-token gemv gives a workgroup whole blocks of rows, computes. The
    producer's few-token kernels then quantize the consumer's activation in their epilogue (``QuantizeFor``) and
    the consumer runs no quantizing kernel: on llama3-8b the o projection feeds gate+up, gate+up feeds down."""
    pairs: dict[RegionOp, tuple[RegionOp, int, int]] = {}
    writers: dict[SSAValue, tuple[RegionOp, int]] = {}
    for region in regions:
        few = region.few_token_config
        if few is not None and few.config.prequantize:
            activation = _activation_arg(region)
            source = writers.get(region.args[activation]) if activation is not None else None
            if (
                activation is not None
                and source is not None
                and source[0] not in pairs
                and _quantizes_whole_blocks(source[0], region, target)
            ):
                pairs[source[0]] = (region, activation, source[1])
        ops = region_ops(region)
        for op in ops:
            if isinstance(op, bufferization.MaterializeInDestinationOp):
                for i, arg in enumerate(region.block.args):
                    if arg is op.dest:
                        writers[region.args[i]] = (region, i)
    return pairs


def _activation_arg(region: RegionOp) -> int | None:
    """The argument a prequantized gemv's activation is computed from: its one token-major f32 buffer of K values."""
    ops = region_ops(region)
    _, k = prequantized_block(ops, dict(zip(region.block.args, region.args)))
    read = {o.memref for o in ops if isinstance(o, bufferization.ToTensorOp)}
    found = [i for i, a in enumerate(region.block.args) if a in read and isinstance(a.type, MemRefType)
             and len(a.type.get_shape()) == 2 and a.type.get_shape()[-1] == k and a.type.element_type == f32]  # fmt: skip
    return found[0] if len(found) == 1 else None


def _quantizes_whole_blocks(producer: RegionOp, consumer: RegionOp, target: TargetDescription) -> bool:
    """Whether ``producer``'s few-token gemvs can quantize ``consumer``'s activation: one contraction, workgroups of
    whole blocks of its rows, and a consumer whose prologue (if any) rides in the blocks (``carries_sums``)."""
    configs = [c for c in (producer.few_token_config, producer.more_token_config) if c is not None]
    if not configs or any(c.strategy != "gemv" for c in configs):
        return False
    ops = region_ops(producer)
    if sum(1 for o in ops if isinstance(o, linalg.GenericOp) and kind(o) is Kind.CONTRACTION) != 1:
        return False
    c_args: dict[SSAValue, SSAValue] = dict(zip(consumer.block.args, consumer.args))
    block, k = prequantized_block(region_ops(consumer), c_args)
    rows = [c.config.workgroup_tile[1] for c in configs]
    consumer_few = consumer.few_token_config
    assert consumer_few is not None
    kernel = Kernel(consumer, consumer_few, target)
    c = analyse(kernel, Materializer(kernel.body_args), region_ops(consumer))
    return all(r % block == 0 and k % r == 0 for r in rows) and (not c.prologue or carries_sums(c, block))


def _fuse(producer: RegionOp, pair: tuple[RegionOp, int, int], b: IRBuilder, fused: dict[RegionOp, _Fused]) -> None:
    """Both sides of one pair into ``fused``: the consumer's int8 buffer allocated at ``b`` (before the producer),
    and what of the consumer's arguments the producer's kernels take."""
    consumer, activation, produced = pair
    c_args: dict[SSAValue, SSAValue] = dict(zip(consumer.block.args, consumer.args))
    tokens = step_tokens(b, region_ops(producer), dict(zip(producer.block.args, producer.args)))
    # written and read by few-token versions only: a buffer for at most their GEMV_STEP_TOKENS
    scratch = prequantized_scratch(b, region_ops(consumer), c_args, b.minui(tokens, b.index(GEMV_STEP_TOKENS)))
    few = producer.few_token_config
    assert few is not None
    first = len(producer.args) + (1 if few.config.prequantize else 0)  # after the producer's own prequantized buffer
    extra: list[SSAValue] = []
    mapping: list[tuple[int, int]] = []
    read = {o.memref for o in region_ops(consumer) if isinstance(o, bufferization.ToTensorOp)}
    for i, (arg, value) in enumerate(c_args.items()):
        if i == activation or (isinstance(arg.type, MemRefType) and (arg not in read or buffer_scheme(arg) is not None)):
            continue  # the staged rows; the consumer's outputs and weights
        if value in producer.args:
            mapping.append((i, list(producer.args).index(value)))
        else:
            extra.append(value)
            mapping.append((i, first + len(extra)))
    block, _ = prequantized_block(region_ops(consumer), c_args)
    quantize_for = QuantizeFor(consumer, activation, produced, tuple(mapping), first, block)
    side = fused.setdefault(producer, _Fused())
    side.writes, side.quantize_for, side.extra = scratch, quantize_for, tuple(extra)
    fused.setdefault(consumer, _Fused()).reads = scratch


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
    ``GEMV_STEP_TOKENS``, more; a ``more_token_config`` takes the larger
    few-token steps); split-KV attention is two kernels sharing
    a host ``memref.alloc``, and so is a prequantized gemv (its activation
    quantized by a first kernel), unless the region before it computes that
    activation with whole blocks of rows per workgroup (``quantize_pairs``):
    then that region's few-token kernels quantize it in their epilogue into
    a buffer allocated before both, and the gemv is one kernel. A split
    sample (``split`` > 0) is a kernel per kind of step, launched for each
    of its steps (a host ``scf.for`` where there are several), the step an
    argument, around two host buffers (passes/codegen/split_sampling.py). Configs beyond the module's target
    (``#rgpu.target``) are located errors. Pre-conditions: ``attach-target``,
    ``tune-workgroups`` and ``rusty-bufferize`` have run.
    """

    name = "convert-dispatch-to-tiled"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        regions = [r for r in op.walk() if isinstance(r, RegionOp)]
        if not regions:
            return
        target = module_target(op)
        pairs = quantize_pairs(regions, target)
        fused: dict[RegionOp, _Fused] = {}
        for region in regions:
            if region in pairs:
                _fuse(region, pairs[region], IRBuilder(InsertPoint.before(region)), fused)
            lower_region(region, target, fused.get(region))
