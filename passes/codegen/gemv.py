"""The ``gemv`` schedule: contractions over a few tokens (decode), streaming weights at memory speed.

For config ``workgroup_tile = [T, N]``, ``thread_tile = [R]``, ``split = S``,
``reduction_tile = U``:

    workgroups (wt, wn) over (ceil(tokens / T), ceil(N_total / N))  -- tokens along x:
                                     a row tile's tokens run side by side
      invocations (g, lane) over (N / R, S)            -- every invocation
        [prologue reductions of the T tokens, unless factored: whole workgroup]
        for blk = lane; blk < blocks(K); blk += S * U    -- each invocation its share of K
          U blocks: the T tokens' activation values of the block (loaded once,
          used for R rows), the R rows' weight blocks (rquant.load_block),
          acc[t][r] += scale * sum_j x_j q_j  (+ offset * sum_j x_j)
          [factored prologue: the reductions' partial sums, at the same k]
        tiled.reduce add over the S invocations of the row group (a subgroup
        when S is the target's subgroup size)
        lane 0: the epilogue of its R rows x T tokens (stores of consecutive rows)

With ``math = dp4a`` the activations are quantized to int8 blocks first
(``int8_activations.py``): by each workgroup into workgroup memory, or, with
``prequantize = 1``, once per step by a first kernel (``lower_gemv_quantize``:
a workgroup per token and run of blocks) or by the producing region's gemv in
its epilogue (``QuantizeFor``: stage the rows, barrier, quantize them) into a
host buffer the gemv reads. The T tokens of a workgroup
then share each weight block: it is read and unpacked once
(``rquant.load_codes``) and multiplied with every token's int8 words, so a
verification step of T tokens costs about one read of the weights.

A factored prologue (RMSNorm: ``x * rsqrt(mean(x^2) + eps) * g``) costs one
extra multiply-add per activation value and nothing else: ``sum x^2`` is
summed where the activation is read anyway, and the row scale multiplies the
reduced dot products. With ``math = dp4a`` the int8 blocks quantize ``x * g``
(the same codes) and carry each block's partial ``sum x^2``, which the walk
adds up: no kernel reads a whole activation row before it quantizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from xdsl.dialects import arith, gpu
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.gpu import Dot4I8Op
from rusty_ir.dialects.quant import OFFSET_SCHEMES
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.common import clone_body, pick
from rusty_ir.passes.codegen.contraction import Contraction, analyse_all, by_segment
from rusty_ir.passes.codegen.int8_activations import (
    QuantizeFor,
    activation_unit,
    carries_sums,
    prologue_reductions,
    quantize_staged,
    quantized_activations,  # fmt: skip
    shared_lhs,
    staging,
)
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.materialize import Materializer

GEMV_STEP_TOKENS = 8
"""Steps of up to this many tokens (speculative decoding's verification steps) run a region's single-token
version. A contraction's is a gemv: one workgroup per (token, rows), the tokens of a row in neighbouring
workgroups, so that the weights are read from memory about once; the gemm's tiles compute 128 tokens whatever
the step holds (a 2-token step cost 31 decode steps on llama3-8b, BENCHMARKS.md, issue 15). Attention's is the
per-row split-KV kernel, a workgroup per (KV head, row, partition): FlashAttention's 64-row tiles made a 2-token
step's attention 2.0x a decode step's whole GPU time on llama3-8b."""


def lower_gemv(kernel: Kernel, mat: Materializer, ops: Sequence[Operation], quantize_for: QuantizeFor | None = None) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid. A region with several contractions
    gives each its own range of workgroups along y. With ``quantize_for``, the epilogue also quantizes the next
    region's activation (``QuantizeFor``)."""
    segments = analyse_all(kernel, mat, ops)
    cfg = kernel.config
    if cfg.math == "dp4a" and not kernel.target.int_dot:
        raise RustyError(f"math = dp4a needs a target with packed 8-bit dot products; {kernel.target.name} has none "
                         "(attach-target{int-dot=1} if the adapter has them)", kernel.region)  # fmt: skip
    tokens_per_wg, rows_per_wg = cfg.workgroup_tile
    (rows,) = cfg.thread_tile
    split, unroll = cfg.split, max(1, cfg.reduction_tile)
    groups = rows_per_wg // rows
    for c in segments:
        if not c.batched and tokens_per_wg != 1:
            raise RustyError("a contraction without a token dim takes one token per workgroup", c.root)
        if c.k_total % c.block:
            raise RustyError(f"K = {c.k_total} is not a multiple of the weights' block of {c.block}", c.root)
    tiles = [-(-c.n_total // rows_per_wg) for c in segments]
    prequantized = kernel.extra_args[0] if cfg.prequantize else None
    if prequantized is not None:
        shared_lhs(segments)

    g = kernel.grid_b
    grid_tokens = segments[0].batch_size(g, kernel.grid_args)
    # tokens along x: the workgroups of one row tile's tokens run side by side and share its weights in the cache
    grid = [g.ceildiv(grid_tokens, g.index(tokens_per_wg)), g.index(sum(tiles)), g.index(1)]

    b = kernel.b
    batch = segments[0].batch_size(b)
    wg_bounds = [b.ceildiv(batch, b.index(tokens_per_wg)), b.index(sum(tiles))]

    stage = staging(kernel, ops, segments, quantize_for, tokens_per_wg, rows_per_wg) if quantize_for is not None else None

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        wt, wn = wivs

        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            def segment(sb: IRBuilder, i: int, local: SSAValue) -> None:
                c = segments[i]
                _invocation(c, sb, ivs, local, wt, rows, rows_per_wg, tokens_per_wg, split, unroll, c.block, c.k_total // c.block,
                            prequantized, stage)  # fmt: skip

            by_segment(ib, wn, tiles, segment)
            if quantize_for is not None and stage is not None:
                ib.insert(gpu.BarrierOp())
                linear = ib.addi(ib.muli(ivs[0], ib.index(split)), ivs[1])
                quantize_staged(kernel, ib, quantize_for, stage[0], linear, segments[0].batch_size(ib), wt, wn, tokens_per_wg, rows_per_wg)

        kernel.invocations(wb, [groups, split], per_invocation)

    kernel.workgroups(wg_bounds, per_workgroup)
    return grid


def _invocation(c: Contraction, b: IRBuilder, ivs: Sequence[SSAValue], wn: SSAValue, wt: SSAValue, rows: int, rows_per_wg: int,
                tokens_per_wg: int, split: int, unroll: int, block: int, blocks: int, prequantized: SSAValue | None,
                stage: tuple[SSAValue, SSAValue] | None = None) -> None:  # fmt: skip
    grp, lane = ivs
    batch = c.batch_size(b)
    n0 = b.addi(b.muli(wn, b.index(rows_per_wg)), b.muli(grp, b.index(rows)))
    ns = [b.addi(n0, b.index(r)) if r else n0 for r in range(rows)]
    n_in = [b.minui(n, b.index(c.n_total - 1)) for n in ns]  # rows past N compute row N-1 and store nothing
    t0 = b.muli(wt, b.index(tokens_per_wg))
    ts = [b.addi(t0, b.index(i)) if i else t0 for i in range(tokens_per_wg)]
    t_in = [b.minui(t, b.subi(batch, b.index(1))) for t in ts]
    linear = b.addi(b.muli(grp, b.index(split)), lane)
    walk = _Walk(c, lane, n_in, t_in, split, unroll, block, blocks)
    if c.kernel.config.math == "dp4a":
        # the activations as int8 blocks: the prologue's row scale inside them, or (``carries_sums``) applied after the
        # sum, from the blocks' partial sums of the prologue reductions
        carried = carries_sums(c)
        if prequantized is not None:  # each token's row of the buffer the quantizing kernel wrote
            starts = [b.muli(t, b.index(blocks * activation_unit(block))) for t in t_in]

            def fetch(lb: IRBuilder, ti: int, start: SSAValue, i: int) -> SSAValue:  # (row + start) + i: a vector load
                at = lb.addi(starts[ti], start)
                return load(lb, prequantized, [lb.addi(at, lb.index(i)) if i else at])
        else:
            prologue = prologue_reductions(c, b, t_in, linear) if c.prologue and not carried else [[] for _ in ts]
            xq = quantized_activations(c, b, linear, t0, t_in, batch, prologue, block, blocks)

            def fetch(lb: IRBuilder, ti: int, start: SSAValue, i: int) -> SSAValue:
                return load(lb, xq, [lb.index(ti), lb.addi(start, lb.index(i)) if i else start])

        totals = c.kernel.reduce(b, "add", walk.integer(b, fetch, carried), split)
        totals, scales = _row_scales(c, b, t_in, rows, totals, carried)
    elif c.factored:  # the prologue's partial sums ride along the walk: one reduction for both
        totals, scales = _row_scales(c, b, t_in, rows, c.kernel.reduce(b, "add", walk.floats(b, []), split), True)
    else:
        prologue = prologue_reductions(c, b, t_in, linear) if c.prologue else [[] for _ in ts]
        totals = c.kernel.reduce(b, "add", walk.floats(b, prologue), split)
        scales = [None] * len(ts)
    _epilogue(c, b, lane, ns, n_in, ts, t_in, batch, totals, scales, rows_per_wg, stage)


def _row_scales(c: Contraction, b: IRBuilder, t_in: Sequence[SSAValue], rows: int, totals: Sequence[SSAValue],
                factored: bool) -> tuple[list[SSAValue], list[SSAValue | None]]:  # fmt: skip
    """The reduced walk split into its dot products and, ``factored``, each token's row scale from the prologue
    sums after them."""
    if not factored:
        return list(totals), [None] * len(t_in)
    per_token, p = len(t_in) * rows * c.n_out, len(c.prologue)
    sums = totals[per_token:]
    return list(totals[:per_token]), [c.row_scale(b, t, sums[ti * p : (ti + 1) * p]) for ti, t in enumerate(t_in)]


def _prologue_inits(c: Contraction, b: IRBuilder, lane: SSAValue, t_in: Sequence[SSAValue]) -> list[SSAValue]:
    """Each token's prologue accumulators for a walk split over lanes: the reductions' initial values in lane 0, 0
    elsewhere (the tree adds them)."""
    return [b.select(b.cmpi("eq", lane, b.index(0)), c.reduction_init(b, red, t), b.f32(0.0)) for t in t_in for red in c.prologue]


class _Walk:
    """One invocation's walk over its share of K's blocks (every ``split``-th, ``unroll`` at a time), accumulating
    ``acc[token][row][output]`` (and, factored, the prologue's partial sums per token after them)."""

    def __init__(self, c: Contraction, lane: SSAValue, n_in: Sequence[SSAValue], t_in: Sequence[SSAValue], split: int, unroll: int,
                 block: int, blocks: int) -> None:  # fmt: skip
        self.c, self.lane, self.n_in, self.t_in = c, lane, list(n_in), list(t_in)
        self.split, self.unroll, self.block, self.blocks = split, unroll, block, blocks

    def slot(self, ti: int, r: int, w: int) -> int:
        return (ti * len(self.n_in) + r) * self.c.n_out + w

    def run(self, b: IRBuilder, inits: list[SSAValue], body) -> list[SSAValue]:
        """``body(builder, acc, block index, in-range flag or None)`` per unrolled block; the final accumulators."""
        split, unroll, blocks = self.split, self.unroll, self.blocks

        def step(lb: IRBuilder, blk: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
            acc = list(carried)
            for u in range(unroll):
                bu = lb.addi(blk, lb.index(u * split)) if u else blk
                ok = lb.cmpi("ult", bu, lb.index(blocks)) if unroll > 1 or blocks % split else None
                body(lb, acc, lb.minui(bu, lb.index(blocks - 1)) if ok is not None else bu, ok)
            return acc

        return list(b.for_loop(self.lane, b.index(blocks), b.index(split * unroll), inits, step))

    def floats(self, b: IRBuilder, prologue: Sequence[Sequence[SSAValue]]) -> list[SSAValue]:
        """The float walk: each block's activation values (once, for every row), times the decoded codes."""
        c, t_in, n_in = self.c, self.t_in, self.n_in
        inits: list[SSAValue] = []
        for t in t_in:
            for n in n_in:
                inits += [c.init(b, i, t, n) for i in range(c.n_out)] if not c.mac else [b.f32(0.0)] * c.n_out
        factored = c.factored
        base = len(inits)
        if factored:
            inits += _prologue_inits(c, b, self.lane, t_in)
        needs_sum = any(r is not None and r.scheme.name in OFFSET_SCHEMES for r in c.refs)
        dot_blocks = c.mac and all(ref is not None for ref in c.refs)

        def body(lb: IRBuilder, acc: list[SSAValue], bb: SSAValue, ok: SSAValue | None) -> None:
            k0 = lb.muli(bb, lb.index(self.block))
            ks = [lb.addi(k0, lb.index(j)) if j else k0 for j in range(self.block)]
            xs = [[c.lhs_value(lb, t, k, prologue[ti] if prologue else []) for k in ks] for ti, t in enumerate(t_in)]
            if factored:
                for ti, t in enumerate(t_in):
                    for pi, red in enumerate(c.prologue):
                        slot = base + ti * len(c.prologue) + pi
                        new = acc[slot]
                        for k in ks:
                            new = c.reduction_element(lb, red, t, k, new)
                        acc[slot] = lb.select(ok, new, acc[slot]) if ok is not None else new
            sums = [_sum(lb, x) for x in xs] if needs_sum else []
            for r, n in enumerate(n_in):
                if dot_blocks:
                    for w, ref in enumerate(c.refs):
                        assert ref is not None
                        scale, offset, q = ref.load_block(lb, n, bb)
                        if ok is not None:
                            scale = lb.select(ok, scale, lb.f32(0.0))
                            offset = lb.select(ok, offset, lb.f32(0.0))
                        for ti in range(len(t_in)):
                            slot = self.slot(ti, r, w)
                            acc[slot] = lb.fma(scale, _dot(lb, xs[ti], q), acc[slot])
                            if ref.scheme.name in OFFSET_SCHEMES:
                                acc[slot] = lb.fma(offset, sums[ti], acc[slot])
                    continue
                for ti in range(len(t_in)):  # the general path: the contraction's body per value
                    first = self.slot(ti, r, 0)
                    outs = acc[first : first + c.n_out]
                    for k, x in zip(ks, xs[ti]):
                        outs = clone_body(lb, c.root, [x, *(c.mat.element(lb, w, [n, k]) for w in c.weights)], outs)
                    acc[first : first + c.n_out] = (
                        [lb.select(ok, v, a) for v, a in zip(outs, acc[first : first + c.n_out])] if ok is not None else outs
                    )

        return self.run(b, inits, body)

    def integer(self, b: IRBuilder, fetch: Callable[[IRBuilder, int, SSAValue, int], SSAValue], carried: bool) -> list[SSAValue]:
        """The dp4a walk: each block's int8 activation words, scale and sum (``fetch(builder, token, block's first
        word, word)``, from workgroup memory or the prequantized buffer; once, for every row); per weight row, for
        one token ``rquant.dot_block``; for several, ``rquant.load_codes`` once (the block read and unpacked once
        for all of them) and a sum of ``rgpu.dot4_i8`` per token; ``acc += d * (scale * dot + offset * asum)``.
        ``carried`` (``carries_sums``): each token's prologue sums follow, summed from the blocks' partial sums."""
        c, t_in, n_in = self.c, self.t_in, self.n_in
        words, unit = self.block // 4, activation_unit(self.block)
        base, p = len(t_in) * len(n_in) * c.n_out, len(c.prologue) if carried else 0

        def add_sums(lb: IRBuilder, acc: list[SSAValue], ti: int, start: SSAValue, ok: SSAValue | None) -> None:
            for pi in range(p):
                part = lb.value(arith.BitcastOp(fetch(lb, ti, start, words + 2 + pi), F32))
                slot = base + ti * p + pi
                acc[slot] = lb.addf(acc[slot], lb.select(ok, part, lb.f32(0.0)) if ok is not None else part)

        def activations(lb: IRBuilder, ti: int, start: SSAValue, ok: SSAValue | None) -> tuple[list[SSAValue], SSAValue, SSAValue]:
            loaded = [fetch(lb, ti, start, i) for i in range(words + 2)]
            d = lb.value(arith.BitcastOp(loaded[words], F32))
            return loaded[:words], lb.select(ok, d, lb.f32(0.0)) if ok is not None else d, loaded[words + 1]

        def add(
            lb: IRBuilder, acc: SSAValue, d: SSAValue, scale: SSAValue, offset: SSAValue, dot: SSAValue, asum: SSAValue | None
        ) -> SSAValue:
            """``acc + d * (scale * dot + offset * asum)`` (``asum`` as f32, once per token and block): the activation
            scale ``d`` applied once, four operations per row instead of six."""
            inner = lb.mulf(scale, lb.sitofp(dot)) if asum is None else lb.fma(scale, lb.sitofp(dot), lb.mulf(offset, asum))
            return lb.fma(d, inner, acc)

        def body(lb: IRBuilder, acc: list[SSAValue], bb: SSAValue, ok: SSAValue | None) -> None:
            start = lb.muli(bb, lb.index(unit))
            pairs = [(r, n, w, ref) for r, n in enumerate(n_in) for w, ref in enumerate(c.refs) if ref is not None]
            for ti in range(len(t_in)):
                add_sums(lb, acc, ti, start, ok)
            if len(t_in) == 1:
                acts, d, asum = activations(lb, 0, start, ok)
                fsum = lb.sitofp(asum) if any(ref.scheme.name in OFFSET_SCHEMES for *_, ref in pairs) else None
                for r, n, w, ref in pairs:
                    scale, offset, dot = ref.dot_block(lb, n, bb, acts, asum)
                    slot = self.slot(0, r, w)
                    acc[slot] = add(lb, acc[slot], d, scale, offset, dot, fsum if ref.scheme.name in OFFSET_SCHEMES else None)
                return
            codes = [(self.slot(0, r, w), ref.load_codes(lb, n, bb)) for r, n, w, ref in pairs]
            for ti in range(len(t_in)):  # the zero point is in load_codes' offset: every scheme has an offset term
                acts, d, asum = activations(lb, ti, start, ok)
                fsum = lb.sitofp(asum)
                for rel, (scale, offset, words_) in codes:
                    slot = self.slot(ti, 0, 0) + rel
                    acc[slot] = add(lb, acc[slot], d, scale, offset, _dot4(lb, words_, acts), fsum)

        return self.run(b, [b.f32(0.0)] * base + (_prologue_inits(c, b, self.lane, t_in) if p else []), body)


def _dot4(b: IRBuilder, codes: Sequence[SSAValue], acts: Sequence[SSAValue]) -> SSAValue:
    """sum_i dot4_i8(codes[i], acts[i]): one weight block's code words (``rquant.load_codes``) against one token's
    int8 activation words."""
    terms = [b.value(Dot4I8Op(code, act)) for code, act in zip(codes, acts, strict=True)]
    total = terms[0]
    for t in terms[1:]:
        total = b.addi(total, t)
    return total


def _epilogue(c: Contraction, b: IRBuilder, lane: SSAValue, ns: Sequence[SSAValue], n_in: Sequence[SSAValue], ts: Sequence[SSAValue],
              t_in: Sequence[SSAValue], batch: SSAValue, totals: Sequence[SSAValue], scales: Sequence[SSAValue | None], rows_per_wg: int,
              stage: tuple[SSAValue, SSAValue] | None = None) -> None:  # fmt: skip
    """Lane 0 of each row group: its rows' reduced sums (times the row scale), through the epilogue, stored; with
    ``stage = (array, value)`` the output ``value`` of each row also goes to ``array[token][row % rows_per_wg]``."""
    rows, n_out = len(ns), c.n_out

    def epilogue(eb: IRBuilder) -> list[SSAValue]:
        for ti, (t, t_clamped) in enumerate(zip(ts, t_in)):
            scale = scales[ti]
            values = [[totals[(ti * rows + r) * n_out + w] for w in range(n_out)] for r in range(rows)]
            if c.mac and (scale is not None or not c.zero_init):
                values = [[_finish(c, eb, w, t_clamped, n_in[r], v, scale) for w, v in enumerate(vs)] for r, vs in enumerate(values)]

            def known(w: int, kb: IRBuilder, idx: Sequence[SSAValue], values: list[list[SSAValue]] = values) -> SSAValue:
                return pick(kb, idx[-1], [(ns[r], values[r][w]) for r in range(rows)])

            def store_rows(sb: IRBuilder, t: SSAValue = t, ti: int = ti, known=known) -> list[SSAValue]:
                for n in ns:
                    if c.n_total % rows_per_wg:
                        sb.when(sb.cmpi("ult", n, sb.index(c.n_total)), partial(c.store_outputs, token=t, n=n, known=known))
                    else:  # consecutive rows' stores in one block: vectorize merges them
                        c.store_outputs(sb, t, n, known)
                    if stage is not None:
                        store(sb, c.mat.element(sb, stage[1], [t, n]), stage[0], [sb.index(ti), sb.remui(n, sb.index(rows_per_wg))])
                return []

            if c.batched:
                eb.if_then(eb.cmpi("ult", t, batch), store_rows)
            else:
                store_rows(eb)
        return []

    b.if_then(b.cmpi("eq", lane, b.index(0)), epilogue)


def _finish(c: Contraction, b: IRBuilder, w: int, t: SSAValue, n: SSAValue, total: SSAValue, scale: SSAValue | None) -> SSAValue:
    """An accumulated dot product, scaled by the factored row scale, added to the output's initial value."""
    value = b.mulf(total, scale) if scale is not None else total
    return value if c.zero_init else b.addf(c.init(b, w, t, n), value)


def _dot(b: IRBuilder, xs: Sequence[SSAValue], qs: Sequence[SSAValue]) -> SSAValue:
    """sum_j xs[j] * qs[j], as four interleaved chains (independent multiply-adds in flight)."""
    chains = [b.mulf(xs[j], qs[j]) for j in range(min(4, len(xs)))]
    for j in range(len(chains), len(xs)):
        chains[j % 4] = b.fma(xs[j], qs[j], chains[j % 4])
    total = chains[0]
    for part in chains[1:]:
        total = b.addf(total, part)
    return total


def _sum(b: IRBuilder, xs: Sequence[SSAValue]) -> SSAValue:
    total = xs[0]
    for x in xs[1:]:
        total = b.addf(total, x)
    return total


__all__ = ["GEMV_STEP_TOKENS", "lower_gemv"]
