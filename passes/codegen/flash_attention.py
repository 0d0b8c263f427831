"""The tiled ``attention`` schedule (``workgroup_tile = [Bq]``): FlashAttention-2 over blocks of query rows (prefill).

For config ``workgroup = [W]``, ``workgroup_tile = [Bq]``, ``reduction_tile = Bk`` (the kernel's extra
operand is the number of query rows, computed on the host):

    workgroups (h, qb) over (heads, ceil(query rows / Bq))
      invocations (t) over (W)                                  -- every invocation
        Q = promote [Bq, head_dim]: the block's query rows of head h, scaled
            (RoPE and other fused producers applied as they are read)
        for t0 = 0; t0 <= the block's last position; t0 += Bk
          K, V = promote [Bk, head_dim]: the KV head's rows t0 .. t0 + Bk - 1
          S = Q K^T in workgroup memory, a 2 x 2 register tile of (row, key)
              pairs per invocation, keys past each row's position masked
          row r's W / Bq invocations each hold head_dim / (W / Bq) dims of its
          output: m_new = max(m, max_j S[r, j]) (each reads the row of S),
          l = l e^(m - m_new) + sum_j e^(S[r, j] - m_new), O = O e^(m - m_new) +
          sum_j e^(S[r, j] - m_new) V[j, :]
        O / l stored (fused consumers materialized there)

Every K and V row is read from the cache once per block of Bq query rows
(the per-row schedule reads it once per row).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import gpu
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.linalg_ext import AttentionOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.common import outputs
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.kv_cache import cache_load, cache_row
from rusty_ir.passes.codegen.materialize import Materializer


def _check(kernel: Kernel, op: AttentionOp) -> tuple[int, int, int, int]:
    """(threads, Bq, Bk, head_dim) after checking that the mappings of the module docstring fit."""
    hd = op.head_dim.value.data
    threads = kernel.threads
    (bq,) = kernel.config.workgroup_tile
    bk = kernel.config.reduction_tile
    per_row = threads // bq if threads % bq == 0 else 0
    if not per_row or hd % per_row or hd % 4 or bq % 2 or bk % 2 or (bq // 2) * (bk // 2) != threads:
        raise RustyError(
            f"tiled attention needs (Bq / 2) * (Bk / 2) = workgroup ({threads}) and head_dim ({hd}) divisible by 4 and by "
            f"workgroup / Bq", op
        )  # fmt: skip
    return threads, bq, bk, hd


def lower_flash_attention(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid."""
    op = next(o for o in ops if isinstance(o, AttentionOp))
    threads, bq, bk, hd = _check(kernel, op)
    heads = op.num_heads.value.data
    g = kernel.grid_b
    grid = [g.index(heads), g.ceildiv(mat.dims(g, op.query, kernel.grid_args)[0], g.index(bq)), g.index(1)]
    b = kernel.b
    (rows,) = kernel.extra_args  # the query rows, computed on the host (convert-dispatch-to-tiled)

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        h, qb = wivs
        kernel.invocations(wb, [threads], lambda ib, ivs: _body(kernel, mat, op, ops, ib, ivs[0], h, qb, rows))

    kernel.workgroups([b.index(heads), b.ceildiv(rows, b.index(bq))], per_workgroup)
    return grid


def _body(kernel: Kernel, mat: Materializer, op: AttentionOp, ops: Sequence[Operation], b: IRBuilder, tid: SSAValue,
          h: SSAValue, qb: SSAValue, rows: SSAValue) -> None:  # fmt: skip
    threads, bq, bk, hd = _check(kernel, op)
    heads, kv_heads = op.num_heads.value.data, op.num_kv_heads.value.data
    per_row = threads // bq
    dims = hd // per_row  # output dims each invocation accumulates
    scale = op.scale.value.data
    pos = mat.args[op.pos]
    kc, vc = mat.args[op.k_cache], mat.args[op.v_cache]
    table = None if op.block_table is None else mat.args[op.block_table]
    kv_col = b.muli(b.divui(h, b.index(heads // kv_heads)), b.index(hd))
    s0 = b.muli(qb, b.index(bq))
    last_row = b.subi(rows, b.index(1))
    # the block's last query position bounds its keys (causal)
    end = b.addi(pos, b.minui(b.addi(s0, b.index(bq)), rows))

    def query(pb: IRBuilder, unit: Sequence[SSAValue]) -> list[SSAValue]:
        r, dq = unit
        s = pb.minui(pb.addi(s0, r), last_row)
        col0 = pb.addi(pb.muli(h, pb.index(hd)), pb.muli(dq, pb.index(4)))
        return [pb.mulf(mat.element(pb, op.query, [s, pb.addi(col0, pb.index(j)) if j else col0]), pb.f32(scale)) for j in range(4)]

    q_tile = kernel.promote(b, [bq, hd], F32, query, unit=4, name="q_tile")
    scores = kernel.shared(bq * bk, F32)
    # scoring: a 2 x 2 tile of (row, key) pairs
    r0 = b.muli(b.divui(tid, b.index(bk // 2)), b.index(2))
    j0 = b.muli(b.remui(tid, b.index(bk // 2)), b.index(2))
    # accumulating: row r owns per_row invocations, each ``dims`` output dims
    r = b.divui(tid, b.index(per_row))
    d0 = b.muli(b.remui(tid, b.index(per_row)), b.index(dims))
    row_pos = b.addi(pos, b.minui(b.addi(s0, r), last_row))

    def kv_tile(t0: SSAValue, cache: SSAValue, buf: SSAValue, name: str, lb: IRBuilder) -> SSAValue:
        def rows_of(pb: IRBuilder, unit: Sequence[SSAValue]) -> list[SSAValue]:
            j, dq = unit
            t = pb.minui(pb.addi(t0, j), pb.subi(end, pb.index(1)))  # past the block's last position: a row it may read
            row = cache_row(pb, op, table, t)
            col0 = pb.addi(kv_col, pb.muli(dq, pb.index(4)))
            return [cache_load(pb, cache, buf, row, pb.addi(col0, pb.index(c)) if c else col0) for c in range(4)]

        return kernel.promote(lb, [bk, hd], F32, rows_of, unit=4, name=name)

    def per_tile(lb: IRBuilder, t0: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        m, l, *acc = carried
        k_tile = kv_tile(t0, op.k_cache, kc, "k_tile", lb)
        v_tile = kv_tile(t0, op.v_cache, vc, "v_tile", lb)

        def dot(db: IRBuilder, d: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
            qs = [[load(db, q_tile, [db.addi(r0, db.index(i)), db.addi(d, db.index(u))]) for u in range(4)] for i in range(2)]
            ks = [[load(db, k_tile, [db.addi(j0, db.index(j)), db.addi(d, db.index(u))]) for u in range(4)] for j in range(2)]
            out = list(c)
            for i in range(2):
                for j in range(2):
                    for u in range(4):
                        out[i * 2 + j] = db.fma(qs[i][u], ks[j][u], out[i * 2 + j])
            return out

        sums = lb.for_loop(lb.index(0), lb.index(hd), lb.index(4), [lb.f32(0.0)] * 4, dot)
        for i in range(2):
            qpos = lb.addi(pos, lb.addi(s0, lb.addi(r0, lb.index(i))))
            for j in range(2):
                key = lb.addi(t0, lb.addi(j0, lb.index(j)))
                masked = lb.select(lb.cmpi("ule", key, qpos), sums[i * 2 + j], lb.f32(float("-inf")))
                store(lb, masked, scores, [lb.addi(lb.muli(lb.addi(r0, lb.index(i)), lb.index(bk)), lb.addi(j0, lb.index(j)))])
        lb.insert(gpu.BarrierOp())  # the scores are read by every invocation of their row
        row_base = lb.muli(r, lb.index(bk))
        tile_max = load(lb, scores, [row_base])
        for j in range(1, bk):
            tile_max = lb.maximumf(tile_max, load(lb, scores, [lb.addi(row_base, lb.index(j))]))
        m_new = lb.maximumf(m, tile_max)
        alpha = lb.exp(lb.subf(m, m_new))
        l_new = lb.mulf(l, alpha)
        acc_new = [lb.mulf(a, alpha) for a in acc]
        for j in range(bk):
            p = lb.exp(lb.subf(load(lb, scores, [lb.addi(row_base, lb.index(j))]), m_new))
            l_new = lb.addf(l_new, p)
            for c in range(dims):
                acc_new[c] = lb.fma(p, load(lb, v_tile, [lb.index(j), lb.addi(d0, lb.index(c))]), acc_new[c])
        return [m_new, l_new, *acc_new]

    inits = [b.f32(float("-inf")), b.f32(0.0)] + [b.f32(0.0)] * dims
    _, l, *acc = b.for_loop(b.index(0), end, b.index(bk), inits, per_tile)
    s = b.addi(s0, r)

    def write(wb: IRBuilder) -> list[SSAValue]:
        inv = wb.divf(wb.f32(1.0), l)
        cols = [wb.addi(wb.muli(h, wb.index(hd)), wb.addi(d0, wb.index(c))) for c in range(dims)]
        values = [wb.mulf(a, inv) for a in acc]

        def known(kb: IRBuilder, idx: Sequence[SSAValue]) -> SSAValue:
            from rusty_ir.passes.codegen.common import pick  # noqa: PLC0415

            return pick(kb, idx[-1], list(zip(cols, values)))

        mat.known[op.result] = known
        for value, buf in outputs(kernel, ops):
            for col in cols:
                store(wb, mat.element(wb, value, [s, col]), buf, [s, col])
        return []

    b.if_then(b.cmpi("ult", s, rows), write)


__all__ = ["lower_flash_attention"]
