"""The ``gemv`` schedule: contractions over a few tokens (decode), streaming weights at memory speed.

For config ``workgroup_tile = [T, N]``, ``thread_tile = [R]``, ``split = S``,
``reduction_tile = U``:

    workgroups (wn, wt) over (ceil(N_total / N), ceil(tokens / T))
      invocations (g, lane) over (N / R, S)            -- every invocation
        [prologue reductions of the T tokens, unless factored: whole workgroup]
        for blk = lane; blk < blocks(K); blk += S * U    -- each invocation its share of K
          U blocks: the T tokens' activation values of the block (loaded once,
          used for R rows), the R rows' weight blocks (quant.load_block),
          acc[t][r] += scale * sum_j x_j q_j  (+ offset * sum_j x_j)
          [factored prologue: the reductions' partial sums, at the same k]
        tiled.reduce add over the S invocations of the row group (a subgroup
        when S is the target's subgroup size)
        lane 0: the epilogue of its R rows x T tokens (stores of consecutive rows)

A factored prologue (RMSNorm: ``x * rsqrt(mean(x^2) + eps) * g``) costs one
extra multiply-add per activation value and nothing else: ``sum x^2`` is
summed where the activation is read anyway, and the row scale multiplies the
reduced dot products.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import Operation, SSAValue

from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.common import clone_body, pick, reduction_kind
from rusty_ir.passes.codegen.contraction import Contraction, analyse_all, by_segment
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.materialize import Materializer


def _prologue(c: Contraction, b: IRBuilder, tokens: Sequence[SSAValue], linear: SSAValue) -> list[list[SSAValue]]:
    """The prologue reductions of each token, by the whole workgroup (strided partials, one tiled.reduce)."""
    kernel = c.kernel
    partials: list[SSAValue] = []
    for t in tokens:
        for red in c.prologue:
            init = c.reduction_init(b, red, t)

            def fold(ib: IRBuilder, k: SSAValue, acc: Sequence[SSAValue], red=red, t=t) -> list[SSAValue]:  # noqa: ANN001
                return [c.reduction_element(ib, red, t, k, acc[0])]

            # every invocation starts from the init; the tree adds them: only the first keeps it (add reductions)
            first = b.select(b.cmpi("eq", linear, b.index(0)), init, b.f32(0.0)) if reduction_kind(red) == "add" else init
            partials.append(b.for_loop(linear, b.index(c.k_total), b.index(kernel.threads), [first], fold)[0])
    kinds = {reduction_kind(red) for red in c.prologue}
    if len(kinds) != 1:
        raise RustyError("prologue reductions of different kinds in one contraction are not supported", c.root)
    totals = kernel.reduce(b, kinds.pop(), partials, kernel.threads)
    p = len(c.prologue)
    return [totals[i * p : (i + 1) * p] for i in range(len(tokens))]


def lower_gemv(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid. A region with several contractions
    gives each its own range of workgroups along x."""
    segments = analyse_all(kernel, mat, ops)
    cfg = kernel.config
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

    g = kernel.grid_b
    grid_tokens = segments[0].batch_size(g, kernel.grid_args)
    grid = [g.index(sum(tiles)), g.ceildiv(grid_tokens, g.index(tokens_per_wg)), g.index(1)]

    b = kernel.b
    batch = segments[0].batch_size(b)
    wg_bounds = [b.index(sum(tiles)), b.ceildiv(batch, b.index(tokens_per_wg))]

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        wn, wt = wivs

        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            def segment(sb: IRBuilder, i: int, local: SSAValue) -> None:
                c = segments[i]
                _invocation(c, sb, ivs, local, wt, rows, rows_per_wg, tokens_per_wg, split, unroll, c.block, c.k_total // c.block)

            by_segment(ib, wn, tiles, segment)

        kernel.invocations(wb, [groups, split], per_invocation)

    kernel.workgroups(wg_bounds, per_workgroup)
    return grid


def _invocation(c: Contraction, b: IRBuilder, ivs: Sequence[SSAValue], wn: SSAValue, wt: SSAValue, rows: int, rows_per_wg: int,
                tokens_per_wg: int, split: int, unroll: int, block: int, blocks: int) -> None:  # fmt: skip
    kernel = c.kernel
    grp, lane = ivs
    batch = c.batch_size(b)
    n0 = b.addi(b.muli(wn, b.index(rows_per_wg)), b.muli(grp, b.index(rows)))
    ns = [b.addi(n0, b.index(r)) if r else n0 for r in range(rows)]
    n_in = [b.minui(n, b.index(c.n_total - 1)) for n in ns]  # rows past N compute row N-1 and store nothing
    t0 = b.muli(wt, b.index(tokens_per_wg))
    ts = [b.addi(t0, b.index(i)) if i else t0 for i in range(tokens_per_wg)]
    t_in = [b.minui(t, b.subi(batch, b.index(1))) for t in ts]
    linear = b.addi(b.muli(grp, b.index(split)), lane)

    factored = c.factored
    prologue: list[list[SSAValue]] = [[] for _ in ts]
    if c.prologue and not factored:
        prologue = _prologue(c, b, t_in, linear)
    n_out = c.n_out
    per_token = rows * n_out
    # carried: acc[t][r][w], then (factored) the prologue partials per token
    inits: list[SSAValue] = []
    for t in t_in:
        for n in n_in:
            inits += [c.init(b, i, t, n) for i in range(n_out)] if not c.mac else [b.f32(0.0)] * n_out
    if factored:
        for t in t_in:
            inits += [b.select(b.cmpi("eq", lane, b.index(0)), c.reduction_init(b, red, t), b.f32(0.0)) for red in c.prologue]
    needs_sum = any(r is not None and r.scheme.name == "q4_1" for r in c.refs)

    def step(lb: IRBuilder, blk: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        acc = list(carried)
        for u in range(unroll):
            bu = lb.addi(blk, lb.index(u * split)) if u else blk
            ok = lb.cmpi("ult", bu, lb.index(blocks)) if unroll > 1 or blocks % split else None
            bb = lb.minui(bu, lb.index(blocks - 1)) if ok is not None else bu
            k0 = lb.muli(bb, lb.index(block))
            ks = [lb.addi(k0, lb.index(j)) if j else k0 for j in range(block)]
            xs = [[c.lhs_value(lb, t, k, prologue[ti]) for k in ks] for ti, t in enumerate(t_in)]
            if factored:
                base = len(t_in) * per_token
                for ti, t in enumerate(t_in):
                    for pi, red in enumerate(c.prologue):
                        slot = base + ti * len(c.prologue) + pi
                        new = acc[slot]
                        for k in ks:
                            new = c.reduction_element(lb, red, t, k, new)
                        acc[slot] = lb.select(ok, new, acc[slot]) if ok is not None else new
            sums = [_sum(lb, x) for x in xs] if needs_sum else []
            for r, n in enumerate(n_in):
                if c.mac and all(ref is not None for ref in c.refs):
                    for w, ref in enumerate(c.refs):
                        assert ref is not None
                        scale, offset, q = ref.load_block(lb, n, bb)
                        if ok is not None:
                            scale = lb.select(ok, scale, lb.f32(0.0))
                            offset = lb.select(ok, offset, lb.f32(0.0))
                        for ti in range(len(t_in)):
                            slot = ti * per_token + r * n_out + w
                            acc[slot] = lb.fma(scale, _dot(lb, xs[ti], q), acc[slot])
                            if ref.scheme.name == "q4_1":
                                acc[slot] = lb.fma(offset, sums[ti], acc[slot])
                    continue
                for ti in range(len(t_in)):  # the general path: the contraction's body per value
                    first = ti * per_token + r * n_out
                    new = acc[first : first + n_out]
                    for k, x in zip(ks, xs[ti]):
                        new = clone_body(lb, c.root, [x, *(c.mat.element(lb, w, [n, k]) for w in c.weights)], new)
                    acc[first : first + n_out] = [lb.select(ok, v, a) for v, a in zip(new, acc[first : first + n_out])] if ok is not None else new
        return acc

    carried = list(b.for_loop(lane, b.index(blocks), b.index(split * unroll), inits, step))
    totals = c.kernel.reduce(b, "add", carried, split)
    if factored:
        base = len(t_in) * per_token
        prologue = [totals[base + ti * len(c.prologue) : base + (ti + 1) * len(c.prologue)] for ti in range(len(t_in))]

    def epilogue(eb: IRBuilder) -> list[SSAValue]:
        for ti, (t, t_clamped) in enumerate(zip(ts, t_in)):
            scale = c.row_scale(eb, t_clamped, prologue[ti]) if factored else None
            values = [[totals[ti * per_token + r * n_out + w] for w in range(n_out)] for r in range(rows)]
            if c.mac and (scale is not None or not c.zero_init):
                values = [[_finish(c, eb, w, t_clamped, n_in[r], v, scale) for w, v in enumerate(vs)] for r, vs in enumerate(values)]

            def known(w: int, kb: IRBuilder, idx: Sequence[SSAValue], values: list[list[SSAValue]] = values) -> SSAValue:
                return pick(kb, idx[-1], [(ns[r], values[r][w]) for r in range(rows)])

            def store_rows(sb: IRBuilder, t: SSAValue = t, known=known) -> list[SSAValue]:  # noqa: ANN001
                for n in ns:
                    if c.n_total % rows_per_wg:
                        sb.if_then(sb.cmpi("ult", n, sb.index(c.n_total)), lambda rb, n=n: (c.store_outputs(rb, t, n, known), [])[1])
                    else:  # consecutive rows' stores in one block: vectorize merges them
                        c.store_outputs(sb, t, n, known)
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


__all__ = ["lower_gemv"]
