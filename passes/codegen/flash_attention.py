"""The tiled ``attention`` schedule (``workgroup_tile = [Bq]``): FlashAttention-2 over blocks of query rows (prefill).

For config ``workgroup = [W]``, ``workgroup_tile = [Bq]``, ``reduction_tile = Bk`` (the kernel's extra
operand is the number of query rows, computed on the host), ``W = (Bq / 4) * (Bk / 4)``:

    workgroups (h, qb) over (heads, ceil(query rows / Bq))
      invocations (t) over (W)                                  -- every invocation
        Qt = promote [Bq, head_dim] (stored [head_dim][Bq]): the block's query
             rows of head h, scaled (RoPE and other fused producers applied as
             they are read); f16 where the target has it
        for t0 = 0; t0 <= the block's last position; t0 += Bk
          Kt = promote [Bk, head_dim] (stored [head_dim][Bk]), V = promote
               [Bk, head_dim]: the KV head's rows t0 .. t0 + Bk - 1
          S = contract_tile(Qt, Kt): a 4 x 4 register tile of (row, key) per
              invocation, keys past each row's position masked, into
              workgroup memory
          the online softmax, W / Bq invocations per row (or Bq / W rows per
              invocation): m_new = max(m, max_j S[r, j]), alpha = e^(m - m_new),
              P[r, j] = e^(S[r, j] - m_new) into workgroup memory (as Pt [Bk][Bq]),
              l = l alpha + sum_j P[r, j]
          O = O * alpha[row] + contract_tile(Pt, V): a TM x TN register tile of
              the Bq x head_dim output per invocation
        O / l stored (fused consumers materialized there)

With the op's ``window = W`` the key loop starts at the block's first row's first visible position
(``max(0, pos + s0 + 1 - W)``, the tiles before it are wholly outside every row's window) and each score
of a key at or before its row's position minus W is masked too; with ``softcap = c`` the scores become
``c * tanh(S / c)`` before the mask. A model without them gets the kernels it had.

Both products are the gemm's register micro-kernel (``tiled.contract_tile``,
``wide``: f16 tiles, f32 arithmetic). Every K and V row is read from the cache
once per block of Bq query rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from xdsl.dialects import arith, gpu, vector
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, Float16Type, MemRefType, VectorType, f32
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.attention import finite_reference, softcap_score, window_start
from rusty_ir.passes.codegen.common import outputs, pick
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.kv_cache import cache_load, cache_row
from rusty_ir.passes.codegen.materialize import Materializer


def output_tile(bq: int, hd: int, threads: int) -> tuple[int, int] | None:
    """(TM, TN) of each invocation's register tile of the Bq x head_dim output: multiples of 4, as square as
    the sizes allow; None when the output has fewer than 16 values per invocation or does not divide."""
    per = bq * hd // threads
    if per * threads != bq * hd or per < 16:
        return None
    tm = 4
    while tm * 2 * tm * 2 <= per and bq % (tm * 2) == 0 and per % (tm * 2) == 0:
        tm *= 2
    tn = per // tm
    if tn % 4 or hd % tn or bq % tm:
        return None
    return tm, tn


def flash_threads(bq: int, bk: int) -> int:
    """Invocations of a FlashAttention workgroup over ``bq`` query rows and ``bk`` keys: one per 4 x 4 scores."""
    return (bq // 4) * (bk // 4)


def flash_tile(bq: int, bk: int, hd: int) -> tuple[int, int] | None:
    """The output register tile (TM, TN) of a FlashAttention workgroup over ``bq`` rows and ``bk`` keys with
    ``flash_threads(bq, bk)`` invocations, or None where the module docstring's mappings do not fit: sizes
    multiples of 4, at least 16 output values per invocation (Bk <= head_dim), softmax rows that divide among
    the invocations."""
    threads = flash_threads(bq, bk)
    rows_fit = (threads % bq == 0 and bk % (threads // bq) == 0) or bq % threads == 0
    if bq % 4 or bk % 4 or hd % 4 or not threads or not rows_fit:
        return None
    return output_tile(bq, hd, threads)


def _check(kernel: Kernel, op: AttentionOp) -> tuple[int, int, int, int, tuple[int, int]]:
    """(threads, Bq, Bk, head_dim, output register tile) after checking that the mappings of the module docstring fit."""
    hd = op.head_dim.value.data
    threads = kernel.threads
    (bq,) = kernel.config.workgroup_tile
    bk = kernel.config.reduction_tile
    tile = flash_tile(bq, bk, hd)
    if tile is None or flash_threads(bq, bk) != threads:
        raise RustyError(
            f"tiled attention needs Bq ({bq}), Bk ({bk}) and head_dim ({hd}) multiples of 4, a workgroup of (Bq / 4) * (Bk / 4) "
            f"invocations (has {threads}), at least 16 output values per invocation (Bk <= head_dim) and rows that divide "
            "among the invocations", op
        )  # fmt: skip
    return threads, bq, bk, hd, tile


def lower_flash_attention(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid."""
    op = next(o for o in ops if isinstance(o, AttentionOp))
    geometry = _check(kernel, op)
    threads, bq = geometry[0], geometry[1]
    heads = op.num_heads.value.data
    g = kernel.grid_b
    grid = [g.index(heads), g.ceildiv(mat.dims(g, op.query, kernel.grid_args)[0], g.index(bq)), g.index(1)]
    b = kernel.b
    (rows,) = kernel.extra_args  # the query rows, computed on the host (convert-dispatch-to-tiled)

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        h, qb = wivs
        kernel.invocations(wb, [threads], lambda ib, ivs: _body(kernel, mat, op, ops, geometry, ib, ivs[0], h, qb, rows))

    kernel.workgroups([b.index(heads), b.ceildiv(rows, b.index(bq))], per_workgroup)
    return grid


def _vec4(b: IRBuilder, value: float | SSAValue) -> SSAValue:
    ty = VectorType(f32, [4])
    if isinstance(value, SSAValue):
        return b.value(vector.BroadcastOp(value, ty))
    return b.value(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(ty, [value] * 4), ty))


def _body(kernel: Kernel, mat: Materializer, op: AttentionOp, ops: Sequence[Operation], geometry: tuple[int, int, int, int, tuple[int, int]],
          b: IRBuilder, tid: SSAValue, h: SSAValue, qb: SSAValue, rows: SSAValue) -> None:  # fmt: skip
    threads, bq, bk, hd, (tm, tn) = geometry
    elem = Float16Type() if kernel.target.f16 else F32
    wide = kernel.target.f16
    pos = mat.args[op.pos]
    kc, vc = mat.args[op.k_cache], mat.args[op.v_cache]
    table = None if op.block_table is None else mat.args[op.block_table]
    kv_col = b.muli(b.divui(h, b.index(op.num_heads.value.data // op.num_kv_heads.value.data)), b.index(hd))
    s0 = b.muli(qb, b.index(bq))
    last_row = b.subi(rows, b.index(1))
    # the block's last query position bounds its keys (causal)
    end = b.addi(pos, b.minui(b.addi(s0, b.index(bq)), rows))

    query = partial(_query, mat, op, (s0, last_row), h, hd)
    q_t = kernel.promote(b, [bq, hd], elem, query, permutation=[1, 0], unit=4, deal=[1, 0], name="q_tile")
    scores = kernel.shared(bq * bk, F32)
    p_t = kernel.shared([bk, bq], elem)
    alphas = kernel.shared(bq, F32)
    # the scores' 4 x 4 tile: rows sy*4 .., keys sx*4 ..
    sy = b.divui(tid, b.index(bk // 4))
    sx = b.remui(tid, b.index(bk // 4))
    # the softmax: lanes per row (or rows per invocation)
    lanes = max(1, threads // bq)
    mine = [b.divui(tid, b.index(lanes))] if lanes > 1 else [b.addi(tid, b.index(i * threads)) if i else tid for i in range(bq // threads)]
    lane = b.remui(tid, b.index(lanes)) if lanes > 1 else b.index(0)
    # the output's TM x TN tile: rows oy*4 + (i / 4) * (Bq / (TM/4)) + i % 4, columns ox*4 + (j / 4) * (hd / (TN/4)) + j % 4
    oy = b.divui(tid, b.index(hd // tn))
    ox = b.remui(tid, b.index(hd // tn))
    row_stride, col_stride = bq // (tm // 4), hd // (tn // 4)
    out_rows = [b.addi(b.muli(oy, b.index(4)), b.index((i // 4) * row_stride + i % 4)) for i in range(tm)]

    def kv_tile(t0: SSAValue, cache: SSAValue, buf: SSAValue, lb: IRBuilder, transposed: bool, name: str) -> SSAValue:
        def rows_of(pb: IRBuilder, unit: Sequence[SSAValue]) -> list[SSAValue]:
            j, dq = unit
            t = pb.minui(pb.addi(t0, j), pb.subi(end, pb.index(1)))  # past the block's last position: a row it may read
            row = cache_row(pb, op, table, t)
            col0 = pb.addi(kv_col, pb.muli(dq, pb.index(4)))
            return [cache_load(pb, cache, buf, row, pb.addi(col0, pb.index(c)) if c else col0) for c in range(4)]

        if transposed:
            return kernel.promote(lb, [bk, hd], elem, rows_of, permutation=[1, 0], unit=4, deal=[1, 0], name=name)
        return kernel.promote(lb, [bk, hd], elem, rows_of, unit=4, name=name)

    def per_tile(lb: IRBuilder, t0: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        ms, ls, acc = carried[: len(mine)], carried[len(mine) : 2 * len(mine)], carried[2 * len(mine) :]
        k_t = kv_tile(t0, op.k_cache, kc, lb, True, "k_tile")
        v = kv_tile(t0, op.v_cache, vc, lb, False, "v_tile")
        sc = kernel.contract_tile(lb, q_t, lb.muli(sy, lb.index(4)), k_t, lb.muli(sx, lb.index(4)), [_vec4(lb, 0.0)] * 4, hd, 4, 4,
                                  bq, bk, wide)  # fmt: skip
        _store_scores(lb, op, sc, scores, (sy, sx), bk, t0, (pos, s0))
        lb.insert(gpu.BarrierOp())  # every score of a row is read by its lanes
        new_m, new_l = _online_softmax(kernel, lb, op, (scores, p_t, alphas), bk, mine, (lane, lanes), ms, ls)
        lb.insert(gpu.BarrierOp())  # P and the rows' alphas are read by every invocation
        rescaled = []
        for i, row in enumerate(out_rows):
            alpha = _vec4(lb, load(lb, alphas, [row]))
            rescaled += [lb.mulf(a, alpha) for a in acc[i * (tn // 4) : (i + 1) * (tn // 4)]]
        acc = kernel.contract_tile(lb, p_t, lb.muli(oy, lb.index(4)), v, lb.muli(ox, lb.index(4)), rescaled, bk, tm, tn,
                                   row_stride, col_stride, wide)  # fmt: skip
        return [*new_m, *new_l, *acc]

    inits = [b.f32(float("-inf"))] * len(mine) + [b.f32(0.0)] * len(mine) + [_vec4(b, 0.0)] * (tm * tn // 4)
    first = None if op.window is None else window_start(b, op, b.addi(pos, b.addi(s0, b.index(1))))  # the block's first row's window
    carried = b.for_loop(b.index(0) if first is None else first, end, b.index(bk), inits, per_tile)
    ls, acc = carried[len(mine) : 2 * len(mine)], carried[2 * len(mine) :]
    totals = _row_totals(kernel, b, bq, mine, ls, lane)
    cols = [b.addi(b.addi(b.muli(h, b.index(hd)), b.muli(ox, b.index(4))), b.index((j // 4) * col_stride + j % 4)) for j in range(tn)]
    for i, row in enumerate(out_rows):
        s = b.addi(s0, row)
        row_acc = acc[i * (tn // 4) : (i + 1) * (tn // 4)]
        b.if_then(
            b.cmpi("ult", s, rows), partial(_write_row, kernel, mat, op, ops, row_acc=row_acc, totals=totals, row=row, s=s, cols=cols)
        )


def _query(mat: Materializer, op: AttentionOp, block: tuple[SSAValue, SSAValue], h: SSAValue, hd: int, pb: IRBuilder,
           unit: Sequence[SSAValue]) -> list[SSAValue]:  # fmt: skip
    """The q tile's element loader: 4 head-dim lanes (from ``dq * 4``) of the block's query row ``r`` (clamped to
    the last row), scaled."""
    s0, last_row = block
    r, dq = unit
    s = pb.minui(pb.addi(s0, r), last_row)
    col0 = pb.addi(pb.muli(h, pb.index(hd)), pb.muli(dq, pb.index(4)))
    return [
        pb.mulf(mat.element(pb, op.query, [s, pb.addi(col0, pb.index(j)) if j else col0]), pb.f32(op.scale.value.data)) for j in range(4)
    ]


def _row_totals(kernel: Kernel, b: IRBuilder, bq: int, mine: Sequence[SSAValue], ls: Sequence[SSAValue], lane: SSAValue) -> SSAValue:
    """The rows' softmax denominators in workgroup memory, each written by its row's first lane."""
    totals = kernel.shared(bq, F32)
    for r, lsum in zip(mine, ls):
        b.when(b.cmpi("eq", lane, b.index(0)), partial(store, value=lsum, buf=totals, indices=[r]))
    b.insert(gpu.BarrierOp())
    return totals


def _store_scores(lb: IRBuilder, op: AttentionOp, sc: Sequence[SSAValue], scores: SSAValue, tile: tuple[SSAValue, SSAValue], bk: int,
                  t0: SSAValue, first: tuple[SSAValue, SSAValue]) -> None:  # fmt: skip
    """This invocation's 4 x 4 scores ``sc`` (rows ``sy*4 ..``, keys ``t0 + sx*4 ..``) into the ``scores`` tile,
    soft-capped where the op says so, keys past a row's position (or, with a window W, at or before its position
    minus W) masked to -inf (the block's first row is at position ``pos + s0``, ``first``)."""
    sy, sx = tile
    pos, s0 = first
    window = op.window_size
    for i in range(4):
        r = lb.addi(lb.muli(sy, lb.index(4)), lb.index(i))
        qpos = lb.addi(pos, lb.addi(s0, r))
        for j in range(4):
            col = lb.addi(lb.muli(sx, lb.index(4)), lb.index(j))
            value = softcap_score(lb, op, lb.value(vector.ExtractOp(sc[i], [j], f32)))
            t = lb.addi(t0, col)
            visible = lb.cmpi("ule", t, qpos)
            if window is not None:  # t > qpos - W, as t + W > qpos in unsigned arithmetic
                visible = lb.andi(visible, lb.cmpi("ugt", lb.addi(t, lb.index(window)), qpos))
            masked = lb.select(visible, value, lb.f32(float("-inf")))
            store(lb, masked, scores, [lb.addi(lb.muli(r, lb.index(bk)), col)])


def _online_softmax(kernel: Kernel, lb: IRBuilder, op: AttentionOp, tiles: tuple[SSAValue, SSAValue, SSAValue], bk: int, mine: Sequence[SSAValue],
                    lanes_of: tuple[SSAValue, int], ms: Sequence[SSAValue], ls: Sequence[SSAValue]) -> tuple[list[SSAValue], list[SSAValue]]:  # fmt: skip
    """One key tile's online softmax for this invocation's rows ``mine`` (``lanes`` invocations per row, this one
    ``lane``): the rows' new maxima and totals from their running ``ms``, ``ls``; P (``p_t``, [key][row]) and the
    rows' rescaling factors (``alphas``) stored from the ``scores`` tile."""
    scores, p_t, alphas = tiles
    lane, lanes = lanes_of
    assert isinstance(p_t.type, MemRefType)  # a workgroup tile (xDSL types SSAValue.type as Attribute)
    elem = p_t.type.element_type
    new_m, new_l = [], []
    for r, m, lsum in zip(mine, ms, ls):
        keys = [lb.addi(lb.index(i * lanes), lane) for i in range(bk // lanes)]
        vals = [load(lb, scores, [lb.addi(lb.muli(r, lb.index(bk)), key)]) for key in keys]
        tile_max = vals[0]
        for x in vals[1:]:
            tile_max = lb.maximumf(tile_max, x)
        (tile_max,) = kernel.reduce(lb, "max", [tile_max], lanes)
        m_new = lb.maximumf(m, tile_max)
        ref = finite_reference(lb, op, m_new)  # with a window, a row may have seen no key yet
        alpha = lb.exp(lb.subf(m, ref))
        ps = [lb.exp(lb.subf(x, ref)) for x in vals]
        total = ps[0]
        for p in ps[1:]:
            total = lb.addf(total, p)
        (total,) = kernel.reduce(lb, "add", [total], lanes)
        for key, p in zip(keys, ps):
            store(lb, lb.value(arith.TruncFOp(p, elem)) if isinstance(elem, Float16Type) else p, p_t, [key, r])
        lb.when(lb.cmpi("eq", lane, lb.index(0)), partial(store, value=alpha, buf=alphas, indices=[r]))
        new_m.append(m_new)
        new_l.append(lb.addf(lb.mulf(lsum, alpha), total))
    return new_m, new_l


def _write_row(kernel: Kernel, mat: Materializer, op: AttentionOp, ops: Sequence[Operation], wb: IRBuilder, row_acc: Sequence[SSAValue],
               totals: SSAValue, row: SSAValue, s: SSAValue, cols: Sequence[SSAValue]) -> list[SSAValue]:  # fmt: skip
    """Output row ``s`` (the block's ``row``): its accumulators ``row_acc`` divided by the row's total, through the
    region's consumers, at columns ``cols``."""
    inv = wb.divf(wb.f32(1.0), load(wb, totals, [row]))
    values = [wb.mulf(wb.value(vector.ExtractOp(row_acc[j // 4], [j % 4], f32)), inv) for j in range(len(cols))]
    mat.known[op.result] = lambda kb, idx: pick(kb, idx[-1], list(zip(cols, values)))
    for value, buf in outputs(kernel, ops):
        for col in cols:
            store(wb, mat.element(wb, value, [s, col]), buf, [s, col])
    return []


__all__ = ["flash_threads", "flash_tile", "lower_flash_attention", "output_tile"]
