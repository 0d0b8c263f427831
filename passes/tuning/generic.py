"""Default lowering configs for any GPU, within the target's limits (the heuristic of ``tune-workgroups``).

``default_configs(region ops, target)`` returns the config of a region and, for
regions over tokens, the config of its single-token (decode) version:

- elementwise and row: ``min(256, max_invocations)`` invocations;
- contractions over tokens: ``gemm`` for steps of many tokens, ``gemv`` for
  steps of one; contractions without a token dim (the last row's logits): ``gemv``;
- attention: FlashAttention-2 over blocks of query rows, split-KV for one token.

The sizes come from measurements on an H200 (docs/notes/kernel-lab.md) and fit
the target: a ``gemm`` tile's workgroup memory (activation and weight tiles,
f16 with the target's f16) must fit ``max_workgroup_memory``.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import BFloat16Type, Float16Type, ShapedType
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Operation, OpResult, SSAValue

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import ArgmaxOp, AttentionOp, SampleOp
from rusty_ir.dialects.quant import DOT_SCHEMES, DequantizeOp, kernel_block
from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.passes.codegen.flash_attention import flash_threads, flash_tile
from rusty_ir.passes.codegen.gemv import GEMV_STEP_TOKENS
from rusty_ir.passes.codegen.int8_activations import activation_unit, one_activation
from rusty_ir.passes.codegen.split_sampling import sample_split
from rusty_ir.passes.dispatch.analysis import Kind, is_mac, kind, region_strategy, root_of
from rusty_ir.targets import TargetDescription

SPLIT_KV_TILE = 32
"""Positions per workgroup (one tile) of decode's split-KV attention: Llama-3-8B's 8 KV heads give 144 workgroups
at 576 positions."""

GEMV_ROWS = 4
"""Rows each invocation of a gemv accumulates: four rows' loads in flight per block (2.6x over one row, H200)."""

GEMV_GROUPS = 4
"""Row groups per gemv workgroup."""


def _pow2_floor(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _pow2_ceil(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def _contractions(root: linalg.GenericOp, ops: Sequence[Operation]) -> list[linalg.GenericOp]:
    """``root`` and the other contractions of its region (``merge-dispatches`` may put several in one)."""
    return [root, *(op for op in ops if op is not root and isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION)]


def _stored(weight: SSAValue) -> Attribute | None:
    """The element type a contraction's weight operand is stored in (through its ``rquant.dequantize``)."""
    owner = weight.owner
    if isinstance(owner, DequantizeOp):
        weight = owner.input
    return getattr(weight.type, "element_type", None)


def _weight_block(root: linalg.GenericOp, ops: Sequence[Operation] = ()) -> int:
    """Values of K the kernels decode at once from the weights (``quant.kernel_block``) of ``root`` and of the
    other contractions in ``ops``: the largest."""
    sizes = set()
    for w in (w for r in _contractions(root, ops) for w in r.inputs[1:]):
        elem = _stored(w)
        sizes.add(
            kernel_block(elem.scheme) if isinstance(elem, BlockQuantType) else 8 if isinstance(elem, Float16Type | BFloat16Type) else 4
        )
    return max(sizes) if sizes else 4


GEMV_MIN_WORKGROUPS = 256
"""Workgroups a dp4a gemv aims for (two per multiprocessor on an H200's 132): Llama-3-8B's 4096-row matrices
take 2 rows per invocation instead of 4."""

DP4A_GROUPS = 8
"""Row groups per gemv workgroup with ``math = dp4a``: the workgroup quantizes the activation once for all of
them, so more rows per workgroup amortize it (8 groups of 4 rows ran 2.5 TB/s on an H200 where 4 ran 2.4)."""


def _dot_weights(root: linalg.GenericOp, ops: Sequence[Operation]) -> bool:
    """Whether every contraction of the region multiply-adds weights whose codes ``rquant.dot_block`` takes."""
    for r in _contractions(root, ops):
        elems = [_stored(w) for w in r.inputs[1:]]
        if not is_mac(r) or not all(isinstance(e, BlockQuantType) and e.scheme.name in DOT_SCHEMES for e in elems):
            return False
    return True


def _shape(value: SSAValue) -> tuple[int, ...]:
    """The shape of a contraction's operand or result (a tensor at the dispatch level)."""
    ty = value.type
    assert isinstance(ty, ShapedType), ty
    return ty.get_shape()


def gemv_config(root: linalg.GenericOp, target: TargetDescription, ops: Sequence[Operation] = ()) -> LoweringConfigAttr:
    """Row groups of ``GEMV_ROWS`` rows, each walked by up to one subgroup of invocations splitting K, two
    weight blocks in flight per invocation where a row has blocks enough; int8 dot products (``dp4a``,
    ``DP4A_GROUPS`` row groups) where the target has them and the weights' codes allow."""
    k = _shape(root.inputs[0])[-1]
    block = _weight_block(root, ops)
    blocks = max(1, k // block)
    split = max(1, min(target.subgroup_size or 32, _pow2_floor(blocks)))
    dp4a = target.int_dot and _dot_weights(root, ops) and 4 * blocks * activation_unit(block) <= target.max_workgroup_memory
    groups = max(1, min(DP4A_GROUPS if dp4a else GEMV_GROUPS, target.max_invocations // split))
    rows = GEMV_ROWS
    if dp4a:  # fewer rows per invocation where the matrix is too narrow to keep every multiprocessor busy
        n = sum(_shape(r.results[0])[-1] for r in _contractions(root, ops))
        while rows > 2 and -(-n // (groups * rows)) < GEMV_MIN_WORKGROUPS:  # 2: RoPE epilogues read a row's partner
            rows //= 2
    unroll = 2 if blocks >= 4 * split else 1
    return LoweringConfigAttr("gemv", [groups * split, 1, 1], workgroup_tile=[1, groups * rows], thread_tile=[rows], split=split,
                              reduction_tile=unroll, math="dp4a" if dp4a else "f32")  # fmt: skip


GEMM_TILES = ((128, 128, 8, 8), (64, 128, 4, 8), (64, 64, 4, 4), (32, 64, 4, 4), (32, 32, 4, 4), (16, 32, 4, 4))
"""(M, N, TM, TN) of gemm workgroup tiles, largest first: 128 x 128 of 8 x 8 registers ran 38 TFLOP/s (f16) on an
H200 where 64 x 128 ran 34 (docs/notes/kernel-lab.md); the smaller ones fit WebGPU's guaranteed limits."""

GEMM_MIN_WORKGROUPS = 128
"""A gemm tile is taken only if the weight rows alone give this many workgroups (an H200 has 132
multiprocessors; fewer workgroups leave some idle), unless no tile does."""


def gemm_tiles(weights: int = 1, tiles: Sequence[tuple[int, int, int, int]] = GEMM_TILES) -> list[tuple[int, int, int, int]]:
    """``GEMM_TILES`` for contractions of ``weights`` weights: the N columns of a tile (and TN of the register
    tile) are shared among the weights, so TN must hold 4 columns of each; a tile whose TN does not keeps its
    invocations and widens to 4 columns per weight (128 x 128 of 8 x 8 is 64 rows of gate and 64 of up, 8 x 4
    registers each; with 3 weights it becomes 128 x 192 of 8 x 12)."""
    out = []
    for bm, bn, tm, tn in tiles:
        per = 4 * max(1, tn // (4 * weights))  # columns of each weight per invocation
        out.append((bm, (bn // tn) * per * weights, tm, per * weights))
    return out


def contraction_weights(ops: Sequence[Operation]) -> int:
    """The most weights one contraction among ``ops`` multiplies (2 for gate and up; 1 when there is none)."""
    return max((len(op.outputs) for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION), default=1)


DP4A_GEMM_TILES = ((64, 128, 4, 8), (128, 128, 8, 8), (64, 64, 4, 4), (32, 64, 4, 4), (32, 32, 4, 4), (16, 32, 4, 4))
"""``GEMM_TILES`` for ``math = dp4a``, 64 x 128 first: on an H200 (scripts/kernel_lab.py, Q4_0 codes against int8
activations, 512 x 14336 x 4096) it ran 65 TFLOP/s where 128 x 128 ran 56 (K steps of 64)."""


def _dp4a_gemm(root: linalg.GenericOp, target: TargetDescription, ops: Sequence[Operation]) -> bool:
    """Whether a gemm of ``root`` multiplies 8-bit codes (``math = dp4a``): the target has packed dot products and
    every weight is stored in a ``DOT_SCHEMES`` scheme of 32-value blocks."""
    if not (target.int_dot and _dot_weights(root, ops)):
        return False
    stored = [_stored(w) for r in _contractions(root, ops) for w in r.inputs[1:]]
    return {kernel_block(e.scheme) for e in stored if isinstance(e, BlockQuantType)} == {32}


def gemm_config(root: linalg.GenericOp, target: TargetDescription, ops: Sequence[Operation] = ()) -> LoweringConfigAttr:
    """Register-tiled, pipelined: 8-bit codes with packed dot products where the target and the weights allow
    (``_dp4a_gemm``), else f16 where the target has it; 64 or 32 k per step (below). The largest tile of
    ``gemm_tiles`` (``DP4A_GEMM_TILES`` order with dp4a) whose workgroup memory and invocations the target allows
    and whose output columns give ``GEMM_MIN_WORKGROUPS`` workgroups over a 512-token prefill. ``ops``: the
    region's ops, when it holds several contractions (they run in different workgroups and share the tiles'
    workgroup memory)."""
    segments = len(_contractions(root, ops))
    weights = contraction_weights([root, *ops])
    n = _shape(root.results[0])[-1] * len(root.outputs)
    k = _shape(root.inputs[0])[-1]
    if _dp4a_gemm(root, target, ops):
        return _dp4a_gemm_config(target, weights, segments, n, k)
    f16 = target.f16
    block = _weight_block(root, ops)
    elem = 2 if f16 else 4
    fitting = []
    # K per step (128 x 128 of 8 x 8 on an H200, scripts/sweep_gemm.py and sweep_region.py): 32 where a weight unit
    # is small (f16: 40.2 TFLOP/s at 32, 39.1 at 64, 36.4 at 16) and for contractions of several weights (Llama-3-8B's
    # Q4_0 gate+up: 32.9 at 32, 30.2 at 64); 64 for 32-value blocks of one weight, so that every invocation
    # dequantizes a block of a 128-row tile (Q4_0 o and down: 40.1 and 39.8 at 64, 30.7 and 29.8 at 32)
    for bk in (64, 32, 16, 8, 4) if block >= 32 and weights == 1 else (32, 64, 16, 8, 4):
        if k % bk or bk % block:
            continue
        for bm, bn, tm, tn in gemm_tiles(weights):
            threads = (bm // tm) * (bn // tn)
            # the tiles, a float per row for prologue reductions and an invocation's partial sum, per segment
            memory = (bm + bn) * bk * elem + 4 * (bm + threads) * segments
            if threads <= target.max_invocations and memory <= target.max_workgroup_memory:
                fitting.append((bm, bn, tm, tn, bk, threads))
    return _gemm_choice(fitting, n, "f16" if f16 else "f32", target)


def _gemm_choice(
    fitting: Sequence[tuple[int, int, int, int, int, int]], n: int, math: str, target: TargetDescription
) -> LoweringConfigAttr:
    """The first of the ``fitting`` tiles (bm, bn, tm, tn, bk, invocations) whose workgroups over ``n`` output columns
    and a 512-token prefill number ``GEMM_MIN_WORKGROUPS``, else the first: its pipelined gemm config."""
    if not fitting:
        raise ValueError(f"no gemm tile with math = {math} fits the '{target.name}' target")
    busy = [f for f in fitting if -(-512 // f[0]) * -(-n // f[1]) >= GEMM_MIN_WORKGROUPS]
    bm, bn, tm, tn, bk, threads = (busy or fitting)[0]
    return LoweringConfigAttr("gemm", [threads, 1, 1], workgroup_tile=[bm, bn], thread_tile=[tm, tn], reduction_tile=bk,
                              pipeline_depth=2, math=math)  # fmt: skip


def _dp4a_gemm_config(target: TargetDescription, weights: int, segments: int, n: int, k: int) -> LoweringConfigAttr:
    """``gemm_config`` with ``math = dp4a``: K steps of two blocks (one where K has an odd count); per step and row,
    a tile holds each block's 8 words and two scale rows (4 bytes each)."""
    fitting = []
    for bk in (64, 32):
        if k % bk:
            continue
        rows = bk // 32 * 10
        for bm, bn, tm, tn in gemm_tiles(weights, DP4A_GEMM_TILES):
            threads = (bm // tm) * (bn // tn)
            memory = 4 * (bm + bn) * rows + 4 * (bm + threads) * segments
            if threads <= target.max_invocations and memory <= target.max_workgroup_memory:
                fitting.append((bm, bn, tm, tn, bk, threads))
    return _gemm_choice(fitting, n, "dp4a", target)


FLASH_TILES = ((64, 32), (32, 32), (32, 16), (16, 16), (16, 8), (16, 4), (8, 4))
"""(query rows, keys) per step of the tiled prefill attention, largest first."""


def flash_memory(bq: int, bk: int, hd: int, f16: bool) -> int:
    """Workgroup memory of a FlashAttention tile: Q, K, V and P tiles (f16 with the target's f16), the scores,
    a row's alpha and total."""
    return (2 if f16 else 4) * (bq * hd + 2 * bk * hd + bk * bq) + 4 * bq * bk + 8 * bq


def attention_configs(root: AttentionOp, target: TargetDescription) -> tuple[LoweringConfigAttr, LoweringConfigAttr]:
    """Prefill: FlashAttention-2 over blocks of query rows (``flash_attention.py``), the largest of ``FLASH_TILES``
    whose tiles fit the target's workgroup memory and invocations. One token: one workgroup per KV head and
    ``SPLIT_KV_TILE`` positions (split-KV), two invocations per head dim (up to the target's limit)."""
    hd = root.head_dim.value.data
    wg = max(_pow2_ceil(hd), min(_pow2_floor(min(1024, target.max_invocations)), 2 * _pow2_ceil(hd)))
    kv_tile = min(wg, SPLIT_KV_TILE)
    single = LoweringConfigAttr("attention", [wg, 1, 1], reduction_tile=kv_tile, split=kv_tile)
    for bq, bk in FLASH_TILES:
        threads = flash_threads(bq, bk)
        fits = threads <= target.max_invocations and flash_memory(bq, bk, hd, target.f16) <= target.max_workgroup_memory
        if fits and flash_tile(bq, bk, hd) is not None:
            return LoweringConfigAttr("attention", [threads, 1, 1], workgroup_tile=[bq], reduction_tile=bk), single
    return LoweringConfigAttr("attention", [wg, 1, 1], reduction_tile=wg), single


PREQUANTIZED_THREADS = 128
"""Invocations of a prequantized few-token gemv workgroup: ``128 / split`` row groups of 2 rows."""

PREQUANTIZED_LANE_BLOCKS = {1: (4, 8), 2: (16, 16)}
"""Weight blocks each lane of a prequantized few-token gemv walks at most, by the weights of the region's first
contraction, in steps of 2 tokens and of ``MORE_TOKENS`` or more (the split is K's blocks over this, a power of two
from 8 to 64). On an H200 in llama3-8b's verification steps (``profile_step``, µs a layer at 2 / 3 / 4 / 5 / 8
tokens, BENCHMARKS.md, issue 15): with one weight, qkv at 4 blocks a lane 14.8 / 17.2 / 22.8 / 25.3 / 42.2, at 8
17.3 / 17.2 / 18.2 / 19.9 / 25.4; the LM head (128256 rows) 98 / 106 / 161 / 151 / 286 at 4, 84 / 100 / 126 / 131
/ 203 at 8; down (448 blocks) fastest at 7 from 2 to 8 tokens (14 a lane: 28.2 -> 37-38 µs at 5 tokens). A
contraction of two weights (gate and up) does twice the work per block and lane: at 5 tokens its gate+up ran 53.6
µs a layer with 4 blocks a lane, 38.1 with 8, 36.2 with 16, about the same at 2 tokens (29.0, 27.7, 29.0); with 16
a workgroup has 32 rows, whole blocks of down's activation, which its epilogue then quantizes (``quantize_pairs``)."""

MORE_TOKENS = 3
"""The fewest tokens of a step that takes a prequantized gemv's ``more_token_config`` (where it has one)."""

PREQUANTIZED_NARROW_TOKENS = 3
"""Tokens a workgroup of a prequantized gemv of one weight and fewer than ``PREQUANTIZED_WIDE_ROWS`` rows takes in
steps of ``MORE_TOKENS`` or more: a step's tokens in ceil(t / 3) workgroups a row tile, each holding 3 tokens'
accumulators and activation words (fewer registers, more warps a multiprocessor), the weights read by each. On an
H100 in llama3-8b's verification steps (BENCHMARKS.md, issue 15, ninth session), µs a layer at 5 / 6 / 8 tokens:
down 32.8 / 37.4 / 44.5 -> 28.9 / 28.7 / 38.0 (2 tokens a workgroup 34.5 / 33.6 / 40.6, 4: 32.6 / 34.7 / 35.6), qkv
21.4 / 23.2 / 26.5 -> 18.6 / 18.5 / 24.0. Not for gate+up (two weights: 49.4 against 42.9 µs at 6 tokens) nor the
LM head (its rows past ``PREQUANTIZED_WIDE_ROWS``: 174.5 against 168.9 µs a step)."""

PREQUANTIZED_WIDE_ROWS = 32768
"""Rows (all of a region's contractions) from which a prequantized few-token gemv's lanes walk the larger number of
``PREQUANTIZED_LANE_BLOCKS`` in steps of 2 tokens too: enough workgroups either way, fewer lanes to add up.
Llama-3-8B's LM head (128256 rows) at 2 tokens: 84.2 µs with 8 blocks a lane, 98.3 with 4 on an H200, 111.8 against
118.2 on an H100 (in the model, two runs); its qkv (6144 rows, fewer workgroups) 17.3 against 14.8 on the H200
(``profile_step``, BENCHMARKS.md, issue 15)."""


def few_token_configs(single: LoweringConfigAttr | None, ops: Sequence[Operation],
                      target: TargetDescription) -> tuple[LoweringConfigAttr | None, LoweringConfigAttr | None]:  # fmt: skip
    """(few, more): the versions for steps of 2 to ``GEMV_STEP_TOKENS`` tokens (speculative verification) of the
    region of ``ops``, where they should differ from the single-token gemv ``single``, else None.

    Where every workgroup of the single-token gemv would quantize much (``_prequantizes``: an activation computed
    in the region, or a long one), ``prequantize = 1``: the step's activations are quantized once, and
    each workgroup takes all of a step's tokens (``convert-dispatch-to-tiled`` makes one version per step size, so
    none is computed in vain) of 2 rows per invocation, K split among enough lanes that each walks at most
    ``PREQUANTIZED_LANE_BLOCKS`` weight blocks. Where the number differs for steps of ``MORE_TOKENS`` or more, ``few``
    takes steps of up to ``MORE_TOKENS - 1`` tokens and ``more`` the others, up to ``GEMV_STEP_TOKENS``. At 5
    tokens on an H200, llama3-8b's gate+up 72.5 -> 36.2 µs, down 44.1 -> 24.8, qkv 19.8 -> 18.2 (BENCHMARKS.md, issue 15).
    From ``PREQUANTIZED_WIDE_ROWS`` rows, the larger steps' config takes every step. Below them, a region of one
    weight (not gate+up's two) takes ``PREQUANTIZED_NARROW_TOKENS`` tokens a workgroup in the larger steps.
    Otherwise a gemv that took fewer than ``GEMV_ROWS`` rows per invocation, to keep every multiprocessor busy
    on one token, gets ``GEMV_ROWS`` back, since a step's tokens multiply its workgroups (o 13.6 -> 11.3 µs); a dp4a
    one, whose every workgroup quantizes its token's activation, also twice the invocations where the target
    allows: half the workgroups, each quantizing once for twice the rows (o at 2 / 5 / 8 tokens 14.7 / 21.3 / 22.7 ->
    14.4 / 15.4 / 21.1 µs with 64 rows a workgroup instead of 32)."""
    if single is None or single.strategy != "gemv":
        return None, None
    root = root_of(list(ops)) if ops else None
    if single.config.math == "dp4a" and isinstance(root, linalg.GenericOp) and _prequantizes(root, ops):
        blocks = max(1, _shape(root.inputs[0])[-1] // _weight_block(root, ops))
        few, more = (_prequantized_gemv(blocks, per_lane) for per_lane in PREQUANTIZED_LANE_BLOCKS[min(2, len(root.outputs))])
        rows = sum(_shape(r.outputs[0])[-1] * len(r.outputs) for r in _contractions(root, ops))
        if rows >= PREQUANTIZED_WIDE_ROWS:
            return more, None
        if len(root.outputs) == 1:
            more = more.replace(workgroup_tile=[PREQUANTIZED_NARROW_TOKENS, more.config.workgroup_tile[1]])
        elif more == few:
            return more, None
        return few.replace(workgroup_tile=[MORE_TOKENS - 1, few.config.workgroup_tile[1]]), more
    if single.config.thread_tile[0] >= GEMV_ROWS:
        return None, None
    groups = single.config.workgroup_tile[1] // single.config.thread_tile[0]
    threads = single.config.workgroup[0]
    if single.config.math == "dp4a" and 2 * threads <= target.max_invocations:
        groups, threads = 2 * groups, 2 * threads
    tile = [single.config.workgroup_tile[0], groups * GEMV_ROWS]
    return single.replace(workgroup=[threads, 1, 1], workgroup_tile=tile, thread_tile=[GEMV_ROWS]), None


def _prequantized_gemv(blocks: int, per_lane: int) -> LoweringConfigAttr:
    """A prequantized few-token gemv of K's ``blocks`` split among lanes walking at most ``per_lane`` of them each
    (a power of two from 8 to 64), ``PREQUANTIZED_THREADS`` invocations of 2 rows, ``GEMV_STEP_TOKENS`` tokens a
    workgroup."""
    split = max(8, min(64, _pow2_ceil(-(-blocks // per_lane))))
    rows = PREQUANTIZED_THREADS // split * 2
    return LoweringConfigAttr("gemv", [PREQUANTIZED_THREADS, 1, 1], workgroup_tile=[GEMV_STEP_TOKENS, rows], thread_tile=[2], split=split,
                              math="dp4a", prequantize=1)  # fmt: skip


PREQUANTIZE_MIN_K = 8192
"""Rows of K from which a few-token gemv quantizes a plain (not computed) activation once per step instead of in
every workgroup: llama3-8b's down projection (K = 14336) ran 44.1 -> 24.8 µs at 5 tokens, its o projection (K =
4096) 11.3 -> 14.5 at best (the first kernel's dispatch costs more than it saves)."""


def _prequantizes(root: linalg.GenericOp, ops: Sequence[Operation]) -> bool:
    """Whether the region's few-token gemv should quantize its activation once per step: one activation for all of
    its contractions, computed in the region (a fused RMSNorm or producer that every workgroup would recompute) or
    at least ``PREQUANTIZE_MIN_K`` long."""
    roots = _contractions(root, ops)
    if not one_activation(roots):
        return False
    return all(isinstance(r.inputs[0], OpResult) for r in roots) or _shape(root.inputs[0])[-1] >= PREQUANTIZE_MIN_K


def default_configs(ops: Sequence[Operation], target: TargetDescription) -> tuple[LoweringConfigAttr, LoweringConfigAttr | None]:
    """(config, single-token config or None) of a region's ops."""
    strategy = region_strategy(list(ops))
    root = root_of(list(ops))
    threads = min(256, target.max_invocations)
    if strategy == "contraction":
        assert isinstance(root, linalg.GenericOp) and kind(root) is Kind.CONTRACTION
        batched = len(_shape(root.results[0])) > 1
        single = gemv_config(root, target, ops)
        if not batched:
            return single, None
        try:
            return gemm_config(root, target, ops), single
        except ValueError:  # no register tile fits (e.g. 128-value weight blocks in f32 on WebGPU's 16 KiB): token by token
            return single, single
    if strategy == "attention":
        assert isinstance(root, AttentionOp)
        return attention_configs(root, target)
    if isinstance(root, ArgmaxOp):  # one workgroup walks the whole vocabulary: as wide as the target allows
        threads = target.max_invocations
    if isinstance(root, SampleOp):  # a chunk of the vocabulary per workgroup, where it has more than one
        return LoweringConfigAttr(strategy, [threads, 1, 1], split=sample_split(_shape(root.input)[-1], threads)), None
    return LoweringConfigAttr(strategy, [threads, 1, 1]), None


__all__ = ["contraction_weights", "default_configs", "few_token_configs", "gemm_config", "gemm_tiles", "gemv_config"]
