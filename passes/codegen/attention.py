"""The ``attention`` schedule: FlashAttention-style online softmax, one workgroup per (KV head, query row).

For config ``workgroup = [W]``, ``reduction_tile = T`` (KV positions per step),
``split = P`` (positions per workgroup; 0 = all of them), with ``G`` query heads
per KV head (grouped-query attention):

    workgroups (kv, s, z) over (kv heads, query rows, ceil((pos + rows) / P') or 1)
      invocations (tid) over (W)                             -- every invocation
        q = promote [G, head_dim]: the group's query rows, scaled (RoPE and
            other fused producers applied as they are read)
        for t0 in this workgroup's positions, T at a time:
          W / T invocations score each position of the tile, each a slice of the
          head dims (one K read serves the G heads), their partial dots combined
          by tiled.reduce; per head m_tile = tiled.reduce max over the tile, the
          running (m, l, acc) rescaled by e^(m - m_new) (FlashAttention-2), the
          position's probability e^(s - m_new) written once to workgroup memory;
          invocation (g, d) accumulates dimension d of V (read once for the G
          heads) over group g's share of the tile
        the groups' (acc, l) meet in workgroup memory; group 0 stores each head's
        acc / l (fused consumers materialized there) or, split, the partition's
        (acc, m, l) into the scratch buffer that ``lower_attention_combine``'s
        kernel merges.

Every K and V row is read once per KV head (not once per query head).

Split-KV's partitions grow with the context (``partition_size``): ``P' = P`` up to
``P * SPLIT_KV_PARTITIONS`` positions, then the next multiple of ``P`` that keeps at most
``SPLIT_KV_PARTITIONS`` partitions a KV head, so that a long context gets larger workgroups
instead of more of them (and a shorter merge). Without a window the grid launches
``SPLIT_KV_PARTITIONS`` partitions whatever the position, and those past the position's do
nothing: a step's grid depends on its size only, so its commands can be recorded and finished
for any position (``backends/runtime/ahead.py``).

With the op's ``window = W`` (sliding-window attention) a row's positions start at
``max(0, pos + s + 1 - W)`` instead of 0; split-KV's partitions start at the first row's
window (``split_origin``: the grid, the scratch buffer and the merge count from there), and
one before a later row's window is empty and weighs 0 in the merge; with ``softcap = c`` each score
becomes ``c * tanh(score / c)`` (``softcap_score``) before the maximum and the exponent.
A model without them gets the kernels it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import gpu, memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.dispatch.attrs import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.common import ILP, outputs
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.kv_cache import cache_load, cache_load_run, cache_row
from rusty_ir.passes.codegen.materialize import Materializer, uniform

SPLIT_KV_PARTITIONS = 32
"""Split-KV partitions a KV head (``partition_size``) from which a longer context grows the partitions instead
of their number. Llama-3-8B's decode attention region (kernel and merge) on an H100, fixed partitions of 32
positions against growing ones, ms at 2048 / 4096 / 8192 positions: 0.021 / 0.036 / 0.064 against 0.022 / 0.032 /
0.052 (``sweep_region.py``, BENCHMARKS.md, issue 15)."""


def _attention(ops: Sequence[Operation]) -> AttentionOp:
    return next(o for o in ops if isinstance(o, AttentionOp))


def _table(mat: Materializer, op: AttentionOp) -> SSAValue | None:
    return None if op.block_table is None else mat.args[op.block_table]


def _barrier(b: IRBuilder) -> None:
    b.insert(gpu.BarrierOp())


SOFTCAP_CLAMP = 20.0
"""``softcap_score`` clamps ``score / cap`` to +-this before the tanh (tanh(20) is 1 in f32): some GPU tanh
implementations return NaN for large arguments (e^2x overflows)."""


def softcap_score(b: IRBuilder, op: AttentionOp, x: SSAValue) -> SSAValue:
    """``cap * tanh(x / cap)`` with the op's ``softcap`` (Gemma 2's attention-logit soft-capping), else ``x``."""
    cap = op.softcap_value
    if cap is None:
        return x
    t = b.minimumf(b.maximumf(b.divf(x, b.f32(cap)), b.f32(-SOFTCAP_CLAMP)), b.f32(SOFTCAP_CLAMP))
    return b.mulf(b.tanh(t), b.f32(cap))


def window_start(b: IRBuilder, op: AttentionOp, end: SSAValue) -> SSAValue | None:
    """The first position a query row at position ``end - 1`` sees under the op's sliding ``window`` W:
    ``max(0, end - W)`` (keys ``t > q - W``, as transformers and llama.cpp mask them); None without a window."""
    w = op.window_size
    if w is None:
        return None
    return b.select(b.cmpi("ugt", end, b.index(w)), b.subi(end, b.index(w)), b.index(0))


def split_origin(b: IRBuilder, op: AttentionOp, pos: SSAValue, split: int) -> SSAValue | None:
    """Split-KV with a sliding window: the first position of partition 0, the step's first row's window start rounded
    down to a partition (``(max(pos + 1, W) - W) / P * P``), so that no partition lies wholly before every row's
    window; None without a window (partitions start at 0). Host and kernels compute it alike (max/sub/div/mul)."""
    w = op.window_size
    if w is None:
        return None
    start = b.subi(b.maxui(b.addi(pos, b.index(1)), b.index(w)), b.index(w))
    return b.muli(b.divui(start, b.index(split)), b.index(split))


def partition_size(b: IRBuilder, op: AttentionOp, pos: SSAValue, rows: SSAValue, split: int) -> SSAValue:
    """Positions a split-KV partition takes for a step of ``rows`` rows from ``pos``: ``split`` for up to
    ``split * SPLIT_KV_PARTITIONS`` positions, else ``split * ceil((pos + rows) / (split * SPLIT_KV_PARTITIONS))``
    (at most ``SPLIT_KV_PARTITIONS`` partitions). With a sliding window ``split`` (the window bounds the positions).
    Host and kernels compute it alike (add/ceildiv/mul)."""
    if op.window_size is not None:
        return b.index(split)
    return b.muli(b.ceildiv(b.addi(pos, rows), b.index(split * SPLIT_KV_PARTITIONS)), b.index(split))


def split_count(b: IRBuilder, op: AttentionOp, pos: SSAValue, rows: SSAValue, split: int) -> SSAValue:
    """The partitions of split-KV attention over positions ``split_origin .. pos + rows - 1``,
    ``partition_size`` at a time."""
    origin = split_origin(b, op, pos, split)
    end = b.addi(pos, rows)
    return b.ceildiv(end if origin is None else b.subi(end, origin), partition_size(b, op, pos, rows, split))


def finite_reference(b: IRBuilder, op: AttentionOp, m: SSAValue) -> SSAValue:
    """The running maximum ``m`` to subtract before exponentiating: with a window a row (or a split's partition)
    may have seen no position yet (``m = -inf``), where ``e^(-inf - -inf)`` would be NaN; 0 is used instead (every
    e^(s - 0) of such a row is e^-inf = 0). Without a window ``m`` itself (a row always sees position 0 first)."""
    if op.window is None:
        return m
    return b.select(b.cmpf("oeq", m, b.f32(float("-inf"))), b.f32(0.0), m)


@dataclass(frozen=True)
class _Geometry:
    """The sizes one per-row attention kernel is built from (its op and config), checked once."""

    heads: int
    kv_heads: int
    hd: int
    tile: int
    """Positions scored per step (``reduction_tile``)."""
    split: int
    """Positions per workgroup along z (split-KV), 0 = one workgroup walks them all."""
    threads: int
    groups: int
    """Invocation groups of ``hd`` (each accumulates its share of a tile's positions)."""
    slices: int
    """Invocations per scored position."""

    @staticmethod
    def of(kernel: Kernel, op: AttentionOp) -> _Geometry:
        heads, kv_heads, hd = (a.value.data for a in (op.num_heads, op.num_kv_heads, op.head_dim))
        tile, split, threads = kernel.config.reduction_tile, kernel.config.split, kernel.threads
        groups = threads // hd
        slices = threads // tile if threads % tile == 0 else 0
        if threads % hd or threads & (threads - 1) or tile & (tile - 1) or not slices or hd % slices or tile % groups:
            raise RustyError(
                f"attention needs a power-of-two workgroup that is a multiple of head_dim ({hd}) and of a power-of-two "
                "reduction_tile, with head_dim divisible by workgroup / reduction_tile and reduction_tile by workgroup / head_dim",
                op,
            )
        return _Geometry(heads, kv_heads, hd, tile, split, threads, groups, slices)


def lower_attention(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid."""
    g = kernel.grid_b
    op = _attention(ops)
    geo = _Geometry.of(kernel, op)
    split, threads = geo.split, geo.threads
    rows = mat.dims(g, op.query, kernel.grid_args)[0]
    fixed = bool(split) and op.window_size is None  # the grid's partitions do not depend on the position
    if not split:
        splits = g.index(1)
    elif fixed:
        splits = g.index(SPLIT_KV_PARTITIONS)
    else:
        splits = split_count(g, op, kernel.grid_args[op.pos], rows, split)
    grid = [g.index(geo.kv_heads), rows, splits]
    b = kernel.b
    rows_b = kernel.grid_dim(b, "y")  # the query rows: a buffer's size on the host, the grid's y in the kernel
    splits_b = split_count(b, op, mat.args[op.pos], rows_b, split) if fixed else kernel.grid_dim(b, "z")
    partition = partition_size(b, op, mat.args[op.pos], rows_b, split) if split else None

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        kv, s, z = wivs
        where = (kv, s, z, rows_b, splits_b)

        def body(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            if not fixed:
                _body(kernel, mat, ops, geo, ib, ivs[0], where, partition)
                return

            def inside(jb: IRBuilder) -> list[SSAValue]:
                _body(kernel, mat, ops, geo, jb, ivs[0], where, partition)
                return []

            # the grid's partitions past the position's do nothing (a uniform condition: the barriers stay uniform)
            ib.if_then(ib.cmpi("ult", z, splits_b), inside)

        kernel.invocations(wb, [threads], body)

    kernel.workgroups([b.index(geo.kv_heads), rows_b, b.index(SPLIT_KV_PARTITIONS) if fixed else splits_b], per_workgroup)
    return grid


def _body(kernel: Kernel, mat: Materializer, ops: Sequence[Operation], geo: _Geometry, b: IRBuilder, tid: SSAValue,
          where: tuple[SSAValue, SSAValue, SSAValue, SSAValue, SSAValue], partition: SSAValue | None) -> None:  # fmt: skip
    """One invocation of the per-row kernel at ``where`` = (KV head, query row, partition, rows, partitions);
    ``partition``: the positions a split-KV partition takes (``partition_size``), None without split-KV."""
    op = _attention(ops)
    hd, tile = geo.hd, geo.tile
    kv, s, z = where[:3]
    threads, groups, slices = geo.threads, geo.groups, geo.slices
    heads = geo.heads // geo.kv_heads  # query heads sharing this KV head
    share = tile // groups  # positions of a tile each group accumulates
    width = hd // slices  # dimensions of a position's dot product each of its invocations takes
    scale = op.scale.value.data
    kv_col = b.muli(kv, b.index(hd))
    lo, hi = _positions(b, op, mat.args[op.pos], s, z, geo.split, partition)
    kc, vc, table = mat.args[op.k_cache], mat.args[op.v_cache], _table(mat, op)
    group = b.divui(tid, b.index(hd))
    d = b.remui(tid, b.index(hd))
    p_of = b.divui(tid, b.index(slices))  # the position (in the tile) this invocation scores
    slice_ = b.remui(tid, b.index(slices))
    dim0 = b.muli(slice_, b.index(width))  # and its first dimension
    q_col0 = b.muli(kv, b.index(heads * hd))  # the group's first query column

    def query(pb: IRBuilder, unit: Sequence[SSAValue]) -> list[SSAValue]:
        q = mat.element(pb, op.query, [s, pb.addi(q_col0, pb.addi(pb.muli(unit[0], pb.index(hd)), unit[1]))])
        return [pb.mulf(q, pb.f32(scale))]

    q_tile = kernel.promote(b, [heads, hd], F32, query, name="q")
    probs = kernel.shared(heads * tile, F32)

    def per_tile(ib: IRBuilder, t0: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        m, lsum, acc = carried[:heads], carried[heads : 2 * heads], carried[2 * heads :]
        t = ib.addi(t0, p_of)
        inside = ib.cmpi("ult", t, hi)

        def score(jb: IRBuilder) -> list[SSAValue]:
            return _dot_slice(jb, op, cache_row(jb, op, table, t), (kc, kv_col), q_tile, heads, dim0, width)

        partial = ib.if_then(inside, score, lambda jb: [jb.f32(0.0)] * heads, [F32] * heads)
        dots = kernel.reduce(ib, "add", list(partial), slices)  # the slices of a position
        scores = [ib.select(inside, softcap_score(ib, op, x), ib.f32(float("-inf"))) for x in dots]
        tile_max = kernel.reduce(ib, "max", scores, threads)
        m_new = [ib.maximumf(mh, th) for mh, th in zip(m, tile_max)]
        alpha = [ib.exp(ib.subf(mh, mn)) for mh, mn in zip(m, m_new)]

        def write(jb: IRBuilder) -> list[SSAValue]:
            for h in range(heads):
                store(jb, jb.exp(jb.subf(scores[h], m_new[h])), probs, [jb.addi(jb.index(h * tile), p_of)])
            return []

        ib.if_then(ib.cmpi("eq", slice_, ib.index(0)), write)
        _barrier(ib)  # the probabilities are read by every group
        first = ib.muli(group, ib.index(share))
        unroll = ILP if share % ILP == 0 else 1
        last_row = ib.subi(hi, ib.index(1))

        def accumulate(jb: IRBuilder, i: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
            # ``unroll`` positions at a time, their loads independent; positions past ``hi`` weigh 0 (their
            # probabilities are e^-inf) and read the last row inside it
            ls, accs = list(c[:heads]), list(c[heads:])
            for u in range(unroll):
                iu = jb.addi(i, jb.index(u)) if u else i
                v = cache_load(jb, op.v_cache, vc, cache_row(jb, op, table, jb.minui(jb.addi(t0, iu), last_row)), jb.addi(kv_col, d))
                for h in range(heads):
                    p = load(jb, probs, [jb.addi(jb.index(h * tile), iu)])
                    ls[h], accs[h] = jb.addf(ls[h], p), jb.fma(p, v, accs[h])
            return [*ls, *accs]

        rescaled = [ib.mulf(x, a) for x, a in zip(lsum, alpha)] + [ib.mulf(x, a) for x, a in zip(acc, alpha)]
        new = ib.for_loop(first, ib.addi(first, ib.index(share)), ib.index(unroll), rescaled, accumulate)
        _barrier(ib)  # the next tile overwrites the probabilities
        return [*m_new, *new]

    inits = [b.f32(float("-inf"))] * heads + [b.f32(0.0)] * (2 * heads)
    carried = b.for_loop(lo, hi, b.index(tile), inits, per_tile)
    _finish(kernel, mat, ops, geo, b, list(carried), (tid, group, d), where, q_col0)


def _positions(b: IRBuilder, op: AttentionOp, pos: SSAValue, s: SSAValue, z: SSAValue, split: int,
               partition: SSAValue | None) -> tuple[SSAValue, SSAValue]:  # fmt: skip
    """The cache positions ``[lo, hi)`` that query row ``s`` (at position ``pos + s``) reads in split-KV partition
    ``z`` of ``partition`` positions (the whole row without split-KV): causal, within a sliding window where the op
    has one."""
    end = b.addi(b.addi(pos, s), b.index(1))
    lo, hi = b.index(0), end
    if partition is not None:
        lo = b.muli(z, partition)
        origin = split_origin(b, op, pos, split)  # with a window, partition 0 starts at its first row's window
        lo = lo if origin is None else b.addi(origin, lo)
        hi = b.minui(end, b.addi(lo, partition))
    start = window_start(b, op, end)  # sliding window: the row's first visible position
    if start is not None:
        lo = start if partition is None else b.maxui(lo, start)
    return lo, hi


def _dot_slice(jb: IRBuilder, op: AttentionOp, row: SSAValue, keys_at: tuple[SSAValue, SSAValue], q_tile: SSAValue, heads: int,
               dim0: SSAValue, width: int) -> list[SSAValue]:  # fmt: skip
    """Each query head's dot product with the key at cache ``row`` over dimensions ``dim0 .. dim0 + width`` (this
    invocation's slice), in ``ILP`` independent partial sums that hide the loads' latency."""
    kc, kv_col = keys_at
    lanes = ILP if width % ILP == 0 else 1

    def dot(kb: IRBuilder, dd: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
        keys = cache_load_run(kb, op.k_cache, kc, row, kb.addi(kv_col, dd), lanes)  # dd: a multiple of lanes
        return [kb.fma(load(kb, q_tile, [kb.index(h), kb.addi(dd, kb.index(u))]), keys[u], c[h * lanes + u])
                for h in range(heads) for u in range(lanes)]  # fmt: skip

    sums = jb.for_loop(dim0, jb.addi(dim0, jb.index(width)), jb.index(lanes), [jb.f32(0.0)] * (heads * lanes), dot)
    totals = []
    for h in range(heads):
        total = sums[h * lanes]
        for part in sums[h * lanes + 1 : (h + 1) * lanes]:
            total = jb.addf(total, part)
        totals.append(total)
    return totals


def _finish(kernel: Kernel, mat: Materializer, ops: Sequence[Operation], geo: _Geometry, b: IRBuilder, carried: list[SSAValue],
            lanes: tuple[SSAValue, SSAValue, SSAValue], where: tuple[SSAValue, SSAValue, SSAValue, SSAValue, SSAValue],
            q_col0: SSAValue) -> None:  # fmt: skip
    """After the key tiles: the groups' partial sums meet in workgroup memory; group 0 writes this split's
    partition (``m``, ``l`` and the unnormalized output, split-KV) or the normalized output rows."""
    op = _attention(ops)
    hd, split, threads, groups = geo.hd, geo.split, geo.threads, geo.groups
    heads = geo.heads // geo.kv_heads
    tid, group, d = lanes
    kv, s, z, rows, n_splits = where
    m, lsum, acc = carried[:heads], carried[heads : 2 * heads], carried[2 * heads :]
    partial_acc = kernel.shared(heads * threads, F32)
    partial_l = kernel.shared(heads * threads, F32)
    for h in range(heads):
        store(b, acc[h], partial_acc, [b.addi(b.index(h * threads), tid)])
        store(b, lsum[h], partial_l, [b.addi(b.index(h * threads), tid)])
    _barrier(b)

    def total(ib: IRBuilder, buf: SSAValue, h: int) -> SSAValue:
        value = load(ib, buf, [ib.addi(ib.index(h * threads), d)])
        for other in range(1, groups):
            value = ib.addf(value, load(ib, buf, [ib.addi(d, ib.index(h * threads + other * hd))]))
        return value

    if split:
        (scratch,) = kernel.extra_args

        def store_partial(ib: IRBuilder) -> list[SSAValue]:
            for h in range(heads):
                head = ib.addi(ib.muli(kv, ib.index(heads)), ib.index(h))
                base = ib.muli(ib.addi(ib.muli(ib.addi(ib.muli(head, rows), s), n_splits), z), ib.index(hd + 2))
                store(ib, total(ib, partial_acc, h), scratch, [ib.addi(base, d)])
                l_total = total(ib, partial_l, h)

                def stats(jb: IRBuilder, h: int = h, base: SSAValue = base, l_total: SSAValue = l_total) -> list[SSAValue]:
                    store(jb, m[h], scratch, [jb.addi(base, jb.index(hd))])
                    store(jb, l_total, scratch, [jb.addi(base, jb.index(hd + 1))])
                    return []

                ib.if_then(ib.cmpi("eq", d, ib.index(0)), stats)
            return []

        b.if_then(b.cmpi("eq", group, b.index(0)), store_partial)
        return

    def write_out(ib: IRBuilder) -> list[SSAValue]:
        for h in range(heads):
            col = ib.addi(ib.addi(q_col0, ib.index(h * hd)), d)
            out = ib.divf(total(ib, partial_acc, h), total(ib, partial_l, h))
            mat.known[op.result] = uniform(out)
            for value, buf in outputs(kernel, ops):
                store(ib, mat.element(ib, value, [s, col]), buf, [s, col])
        return []

    b.if_then(b.cmpi("eq", group, b.index(0)), write_out)


def lower_attention_combine(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """The second kernel of split-KV attention: a workgroup per (head, query row) merges the partitions.

    Invocation ``d < head_dim`` folds every partition's ``(acc_d, m, l)`` from the
    scratch buffer into a running ``(M, L, A)``, rescaling by ``e^(m - M)`` as
    the maximum grows (one pass, ``ILP`` partitions' loads at a time), and
    stores ``A / L``; fused consumers are materialized there.
    """
    g = kernel.grid_b
    op = _attention(ops)
    heads, hd = op.num_heads.value.data, op.head_dim.value.data
    partition = kernel.config.split
    (scratch,) = kernel.extra_args
    grid = [g.index(heads), mat.dims(g, op.query, kernel.grid_args)[0], g.index(1)]
    b = kernel.b
    rows = kernel.grid_dim(b, "y")

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        h, s = wivs

        def merge(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            (tid,) = ivs
            n_splits = split_count(ib, op, mat.args[op.pos], rows, partition)
            base = ib.muli(ib.addi(ib.muli(h, rows), s), n_splits)
            last = ib.subi(n_splits, ib.index(1))

            def fold(jb: IRBuilder, zz: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
                m_run, l_run, acc_run = c
                parts = []
                for u in range(ILP):  # partitions past the last read the last one and weigh nothing
                    zu = jb.addi(zz, jb.index(u))
                    row = jb.muli(jb.addi(base, jb.minui(zu, last)), jb.index(hd + 2))
                    m = load(jb, scratch, [jb.addi(row, jb.index(hd))])
                    parts.append((jb.cmpi("ult", zu, n_splits), m, load(jb, scratch, [jb.addi(row, jb.index(hd + 1))]),
                                  load(jb, scratch, [jb.addi(row, tid)])))  # fmt: skip
                for valid, m, lsum, acc in parts:
                    m_new = jb.maximumf(m_run, jb.select(valid, m, jb.f32(float("-inf"))))
                    ref = finite_reference(jb, op, m_new)  # a window's partitions before it are empty: m = -inf
                    old, w = jb.exp(jb.subf(m_run, ref)), jb.select(valid, jb.exp(jb.subf(m, ref)), jb.f32(0.0))
                    m_run, l_run = m_new, jb.addf(jb.mulf(l_run, old), jb.mulf(lsum, w))
                    acc_run = jb.addf(jb.mulf(acc_run, old), jb.mulf(acc, w))
                return [m_run, l_run, acc_run]

            _, lsum, acc = ib.for_loop(ib.index(0), n_splits, ib.index(ILP), [ib.f32(float("-inf")), ib.f32(0.0), ib.f32(0.0)], fold)
            out = ib.divf(acc, lsum)
            mat.known[op.result] = lambda _b, _idx: out
            col = ib.addi(ib.muli(h, ib.index(hd)), tid)
            for value, buf in outputs(kernel, ops):
                store(ib, mat.element(ib, value, [s, col]), buf, [s, col])

        kernel.invocations(wb, [hd], merge)

    kernel.workgroups([b.index(heads), rows], per_workgroup)
    return grid


def split_kv_scratch(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue], config: LoweringConfigAttr) -> SSAValue:
    """The host buffer split-KV attention's kernels share: ``(acc[head_dim], m, l)`` per
    (head, query row, partition), ``heads * rows * partitions * (head_dim + 2)`` floats. Without a window it is
    sized for ``min(ceil((pos + rows) / split), SPLIT_KV_PARTITIONS)`` partitions, at least ``split_count`` and,
    unlike it, growing with the position (the runtime sizes buffers at a step's first and last positions)."""
    op = _attention(ops)
    heads, hd = op.num_heads.value.data, op.head_dim.value.data
    rows = Materializer(args).dim(b, op.query, 0, args)
    split = config.config.split
    if op.window_size is None:
        splits = b.minui(b.ceildiv(b.addi(args[op.pos], rows), b.index(split)), b.index(SPLIT_KV_PARTITIONS))
    else:
        splits = split_count(b, op, args[op.pos], rows, split)
    size = b.product([b.index(heads), rows, splits, b.index(hd + 2)])
    return b.value(memref.AllocOp([size], [], MemRefType(F32, [DYNAMIC_INDEX])))


__all__ = ["finite_reference", "lower_attention", "lower_attention_combine", "softcap_score", "split_kv_scratch", "window_start"]
