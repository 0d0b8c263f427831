"""The ``gemm`` schedule: contractions over many tokens (prefill), register-tiled.

For config ``workgroup_tile = [M, N]``, ``thread_tile = [TM, TN]``,
``reduction_tile = BK``, ``pipeline_depth``, ``math``:

    workgroups (wn, wm) over (ceil(N_total / N), ceil(tokens / M))
      invocations (ty, tx) over (M / TM, N / TN)           -- every invocation
        [prologue reductions of the M rows into workgroup memory, unless factored]
        for kb = 0; kb < K; kb += BK
          A = promote [M, BK] (transposed: [BK][M]), 4 activation values per unit,
              fused producers applied                       -- f16 with math = f16
              [factored prologue (RMSNorm): the core values; each invocation folds
              the row sums of the units it is dealt, _RidingPrologue]
          B = promote [N, BK] per weight (transposed), one weight block per
              unit, dequantized once here and read by every row of the tile
          acc = contract_tile(A, B, acc)                     -- TM x TN registers
        [factored: the rows' sums meet in workgroup memory; the row scale
        multiplies the register tile]
        the epilogue of the TM x TN outputs (stores of four consecutive columns)

The register tile of invocation (ty, tx) is rows ``ty*4 + i`` of every group of
``M / (TM/4)`` rows and columns ``tx*4 + j`` of every group of ``N / (TN/4)``,
so that a k step reads ``TM/4 + TN/4`` 4-wide vectors of workgroup memory
for ``TM * TN`` multiply-adds, the neighbours reading neighbouring vectors.

With ``math = dp4a`` the tiles hold 8-bit codes instead of values: each
activation block of the A unit is quantized where it is promoted (``x ~ d *
a``, a per 32 values as int8, ``_quantize``), each weight block is its packed
codes (``rquant.load_codes``); a block's words are followed by two rows of
f32 bits, (d, d * sum a) for A and (scale, offset) for B, and
``contract_tile {block_words}`` sums ``dot4_i8`` per block in i32 before the
scales meet the f32 accumulators.

A contraction with W weights (gate and up) splits the tile's N columns among
them: columns ``[w*N/W, (w+1)*N/W)`` of the weight tile are weight w's rows
``n0 .. n0 + N/W``, so one promote and one register tile serve every weight,
and each invocation holds every weight's value of its output columns (the
epilogue's ``silu(gate) * up`` needs no exchange). ``TN`` must then be a
multiple of ``4 * W``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from xdsl.dialects import arith, gpu, vector
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, Float16Type, VectorType, f32, i32
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.quant import DOT_SCHEMES
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.common import abs_max, int8_codes, pack_bytes, pick, reduction_kind
from rusty_ir.passes.codegen.contraction import Contraction, analyse_all, by_segment
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.materialize import Materializer


def _prologue(c: Contraction, b: IRBuilder, m0: SSAValue, batch: SSAValue, rows: int, linear: SSAValue) -> list[SSAValue]:
    """Each prologue reduction of the tile's ``rows`` tokens into a workgroup-memory array (one per reduction):
    ``threads / rows`` invocations per row, their partials combined by ``tiled.reduce``, then a barrier."""
    kernel = c.kernel
    threads = kernel.threads
    lanes = max(1, threads // rows)
    if threads % rows and rows % threads:
        raise RustyError(f"gemm: {rows} rows per workgroup and {threads} invocations must divide one another", c.root)
    arrays = [kernel.shared(rows, F32) for _ in c.prologue]
    row = b.divui(linear, b.index(lanes))
    lane = b.remui(linear, b.index(lanes))
    for p in range(max(1, rows * lanes // threads)):
        local = b.addi(row, b.index(p * threads // lanes)) if p else row
        token = b.minui(b.addi(m0, local), b.subi(batch, b.index(1)))
        partials: list[SSAValue] = []
        for red in c.prologue:
            init = c.reduction_init(b, red, token)
            add = reduction_kind(red) == "add"
            first = b.select(b.cmpi("eq", lane, b.index(0)), init, b.f32(0.0)) if add else init
            step = 4 if c.k_total % 4 == 0 else 1

            def fold(ib: IRBuilder, kq: SSAValue, acc: Sequence[SSAValue], red=red, token=token, step=step) -> list[SSAValue]:
                new = acc[0]
                k0 = ib.muli(kq, ib.index(step)) if step > 1 else kq
                for j in range(step):
                    new = c.reduction_element(ib, red, token, ib.addi(k0, ib.index(j)) if j else k0, new)
                return [new]

            partials.append(b.for_loop(lane, b.index(c.k_total // step), b.index(lanes), [first], fold)[0])
        kinds = {reduction_kind(red) for red in c.prologue}
        if len(kinds) != 1:
            raise RustyError("prologue reductions of different kinds in one contraction are not supported", c.root)
        totals = kernel.reduce(b, kinds.pop(), partials, lanes)

        def write(ib: IRBuilder, totals: list[SSAValue] = totals, local: SSAValue = local) -> list[SSAValue]:
            for arr, total in zip(arrays, totals):
                store(ib, total, arr, [local])
            return []

        b.if_then(b.cmpi("eq", lane, b.index(0)), write)
    b.insert(gpu.BarrierOp())
    return arrays


def lower_gemm(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid. A region with several contractions
    gives each its own range of workgroups along x."""
    segments = analyse_all(kernel, mat, ops)
    cfg = kernel.config
    tm_wg, tn_wg = cfg.workgroup_tile
    tm, tn = cfg.thread_tile
    bk = cfg.reduction_tile
    for c in segments:
        if not c.batched:
            raise RustyError("the gemm schedule needs a contraction over tokens (use gemv)", c.root)
        if c.k_total % bk or bk % _unit(c):
            raise RustyError(
                f"gemm: reduction_tile {bk} must divide K = {c.k_total} and be a multiple of the weights' block {_unit(c)}", c.root
            )
        if tn % (4 * c.n_out):
            raise RustyError(f"gemm: thread_tile N = {tn} must be a multiple of 4 x the contraction's {c.n_out} weights", c.root)
    if cfg.math == "f16" and not kernel.target.f16:
        raise RustyError(f"gemm: math = f16 needs a target with f16 arithmetic ('{kernel.target.name}' has none)", segments[0].root)
    if cfg.math == "dp4a":
        _check_integer(segments, kernel, bk)
    elem = Float16Type() if cfg.math == "f16" else i32 if cfg.math == "dp4a" else F32
    tiles = [-(-c.n_total // (tn_wg // c.n_out)) for c in segments]

    g = kernel.grid_b
    grid = [g.index(sum(tiles)), g.ceildiv(segments[0].batch_size(g, kernel.grid_args), g.index(tm_wg)), g.index(1)]
    b = kernel.b
    batch = segments[0].batch_size(b)

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        wn, wm = wivs

        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            by_segment(ib, wn, tiles, lambda sb, i, local: _invocation(segments[i], sb, ivs, local, wm, batch, elem))

        kernel.invocations(wb, [tm_wg // tm, tn_wg // tn], per_invocation)

    kernel.workgroups([b.index(sum(tiles)), b.ceildiv(batch, b.index(tm_wg))], per_workgroup)
    return grid


def _invocation(c: Contraction, b: IRBuilder, ivs: Sequence[SSAValue], wn: SSAValue, wm: SSAValue, batch: SSAValue, elem) -> None:
    kernel = c.kernel
    cfg = kernel.config
    tm_wg, tn_wg = cfg.workgroup_tile
    tm, tn = cfg.thread_tile
    bk, depth = cfg.reduction_tile, cfg.pipeline_depth
    ty, tx = ivs
    per_w = tn_wg // c.n_out  # rows of each weight in the tile
    m0 = b.muli(wm, b.index(tm_wg))
    n0 = b.muli(wn, b.index(per_w))
    last_token = b.subi(batch, b.index(1))
    linear = b.addi(b.muli(ty, b.index(tn_wg // tn)), tx)
    riding = _RidingPrologue.of(c, kernel.threads, tm_wg, bk, linear, m0, last_token)
    rowvals = _prologue(c, b, m0, batch, tm_wg, linear) if c.prologue and riding is None else []
    unit = _unit(c)
    integer = cfg.math == "dp4a"

    def a_tile(pb: IRBuilder, units: Sequence[SSAValue], kb: SSAValue) -> list[SSAValue]:
        """The activation unit at row ``m``: 4 values (the core where the RMSNorm rides along: the row scale
        multiplies the sums), or with dp4a one block quantized: its words, d and d * sum (as i32 bits)."""
        m, kq = units
        width = unit if integer else 4
        token = pb.minui(pb.addi(m0, m), last_token)
        k0 = pb.addi(kb, pb.muli(kq, pb.index(width)))
        ks = [pb.addi(k0, pb.index(j)) if j else k0 for j in range(width)]
        if riding is not None:
            xs = [c.lhs_value(pb, token, k, []) for k in ks]
        else:
            reduced = [load(pb, arr, [m]) for arr in rowvals]
            xs = [c.full_lhs_value(pb, token, k, reduced) for k in ks]
        if not integer:
            return xs
        words, d, total = _quantize(pb, xs)
        return [*words, pb.value(arith.BitcastOp(d, i32)), pb.value(arith.BitcastOp(pb.mulf(d, pb.sitofp(total)), i32))]

    def weight_unit(pb: IRBuilder, w: int, n: SSAValue, kq: SSAValue, kb: SSAValue) -> list[SSAValue]:
        return _weight_unit(c, pb, w, pb.minui(pb.addi(n0, n), pb.index(c.n_total - 1)), kq, kb, integer)

    b_values = [i32] * (unit // 4 + 2) if integer else [F32] * unit

    def b_tile(pb: IRBuilder, units: Sequence[SSAValue], kb: SSAValue, w: int = 0) -> list[SSAValue]:
        n, kq = units
        if w == c.n_out - 1:
            return weight_unit(pb, w, pb.subi(n, pb.index(w * per_w)) if w else n, kq, kb)
        return list(pb.if_then(pb.cmpi("ult", n, pb.index((w + 1) * per_w)), lambda tb: weight_unit(tb, w, pb.subi(n, pb.index(w * per_w)) if w else n, kq, kb),
                               lambda eb: b_tile(eb, units, kb, w + 1), b_values))  # fmt: skip

    zero = b.value(arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(VectorType(f32, [4]), [0.0] * 4), VectorType(f32, [4])))
    per = tm * tn // 4
    inits = [zero] * per + (riding.inits(b) if riding is not None else [])

    # dp4a: a unit of either tile is one block, its words and two scale rows; else 4 activation values and one weight unit
    row = unit // 4 + 2 if integer else 0
    k_rows = bk // unit * row if integer else bk

    def k_step(lb: IRBuilder, kb: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        a = kernel.promote(lb, [tm_wg, k_rows], elem, lambda pb, u: a_tile(pb, u, kb), permutation=[1, 0], depth=depth, unit=row or 4,
                           deal=[1, 0], name="a_tile")  # fmt: skip
        bt = kernel.promote(lb, [tn_wg, k_rows], elem, lambda pb, u: b_tile(pb, u, kb), permutation=[1, 0], depth=depth, unit=row or unit,
                            deal=[1, 0], name="b_tile")  # fmt: skip
        acc = kernel.contract_tile(lb, a, lb.muli(ty, lb.index(4)), bt, lb.muli(tx, lb.index(4)), carried[:per], k_rows, tm, tn,
                                   tm_wg // (tm // 4), tn_wg // (tn // 4), block_words=max(0, row - 2))  # fmt: skip
        return acc + (riding.fold(lb, kb, carried[per:]) if riding is not None else [])

    carried = list(b.for_loop(b.index(0), b.index(c.k_total), b.index(bk), inits, k_step))
    acc = carried[:per]
    row_sums = riding.finish(b, carried[per:]) if riding is not None else None

    _epilogue(c, b, acc, row_sums, (ty, tx), (m0, n0), batch, last_token)


def _epilogue(c: Contraction, b: IRBuilder, acc: Sequence[SSAValue], row_sums: list[SSAValue] | None, ivs: Sequence[SSAValue],
              origin: Sequence[SSAValue], batch: SSAValue, last_token: SSAValue) -> None:  # fmt: skip
    """Store the register tile ``acc`` of invocation ``ivs`` = (ty, tx) of the tile at ``origin`` = (m0, n0): each
    row the row scale of a factored prologue multiplies (``row_sums``), each weight's four consecutive columns
    through the region's epilogue (``store_outputs``)."""
    cfg = c.kernel.config
    tm_wg, tn_wg = cfg.workgroup_tile
    tm, tn = cfg.thread_tile
    ty, tx = ivs
    m0, n0 = origin
    per_w = tn_wg // c.n_out
    groups_n = tn // 4  # column groups of the register tile: weight w's are w * per_group ..
    per_group = groups_n // c.n_out
    for i in range(tm):
        local = b.addi(b.muli(ty, b.index(4)), b.index((i // 4) * (tm_wg // (tm // 4)) + i % 4))
        m = b.addi(m0, local)
        token = b.minui(m, last_token)

        def row(rb: IRBuilder, i: int = i, token: SSAValue = token, local: SSAValue = local) -> list[SSAValue]:
            scale = c.row_scale(rb, token, [load(rb, arr, [local]) for arr in row_sums]) if row_sums is not None else None
            for gi in range(per_group):
                col0 = rb.addi(n0, rb.addi(rb.muli(tx, rb.index(4)), rb.index(gi * (per_w // per_group))))
                cols = [rb.addi(col0, rb.index(j)) if j else col0 for j in range(4)]
                values = [[_lane(rb, acc[i * groups_n + w * per_group + gi], j) for j in range(4)] for w in range(c.n_out)]
                if scale is not None:
                    values = [[rb.mulf(v, scale) for v in vs] for vs in values]
                if not c.zero_init:
                    values = [[rb.addf(c.init(rb, w, token, col), v) for col, v in zip(cols, vs)] for w, vs in enumerate(values)]

                def known(
                    w: int, kb: IRBuilder, idx: Sequence[SSAValue], values: list[list[SSAValue]] = values, cols: list[SSAValue] = cols
                ) -> SSAValue:
                    return pick(kb, idx[-1], list(zip(cols, values[w])))

                for col in cols:
                    if c.n_total % per_w:
                        rb.when(rb.cmpi("ult", col, rb.index(c.n_total)), partial(c.store_outputs, token=token, n=col, known=known))
                    else:
                        c.store_outputs(rb, token, col, known)
            return []

        b.if_then(b.cmpi("ult", m, batch), row)


class _RidingPrologue:
    """A factored prologue (RMSNorm: ``x' = core(x) * scale(sum x^2)``) summed where the activation tile is read:
    each invocation folds the reduction over the activation units it is dealt (the A tile's dealing: unit
    ``linear + i * W`` is row ``% M``, k-quad ``/ M``), the rows' sums meet in workgroup memory after the K loop,
    and the row scale multiplies the register tile in the epilogue. No pass over the rows before the loop (the
    plain prologue reads each row ``W / M`` times per workgroup, one dependent load after another)."""

    def __init__(self, c: Contraction, threads: int, rows: int, bk: int, linear: SSAValue, m0: SSAValue, last: SSAValue) -> None:
        self.c, self.threads, self.rows, self.bk, self.linear, self.m0, self.last = c, threads, rows, bk, linear, m0, last
        self.units = rows * (bk // 4)
        # the rows an invocation's units fall on: one (W a multiple of M) or M / W of them (at linear + offset)
        self.offsets = [0] if threads % rows == 0 else list(range(0, rows, threads))

    @staticmethod
    def of(c: Contraction, threads: int, rows: int, bk: int, linear: SSAValue, m0: SSAValue, last: SSAValue) -> _RidingPrologue | None:
        """The riding form of ``c``'s prologue, or None where it has none, it is not factored, a reduction is not a
        sum, or the units do not deal evenly."""
        if not c.prologue or not c.factored or any(reduction_kind(red) != "add" for red in c.prologue):
            return None
        if (threads % rows and rows % threads) or (rows * (bk // 4)) % threads:
            return None
        return _RidingPrologue(c, threads, rows, bk, linear, m0, last)

    def inits(self, b: IRBuilder) -> list[SSAValue]:
        return [b.f32(0.0)] * (len(self.offsets) * len(self.c.prologue))

    def fold(self, b: IRBuilder, kb: SSAValue, partials: Sequence[SSAValue]) -> list[SSAValue]:
        """This invocation's partial sums after the units of the K step at ``kb``."""
        out = list(partials)
        slot_of = {o: i for i, o in enumerate(self.offsets)}
        for i in range(self.units // self.threads):
            unit = b.addi(self.linear, b.index(i * self.threads)) if i else self.linear
            slot = slot_of[(i * self.threads) % self.rows] if len(self.offsets) > 1 else 0
            token = b.minui(b.addi(self.m0, b.remui(unit, b.index(self.rows))), self.last)
            k0 = b.addi(kb, b.muli(b.divui(unit, b.index(self.rows)), b.index(4)))
            for r, red in enumerate(self.c.prologue):
                at = slot * len(self.c.prologue) + r
                for j in range(4):
                    out[at] = self.c.reduction_element(b, red, token, b.addi(k0, b.index(j)) if j else k0, out[at])
        return out

    def finish(self, b: IRBuilder, partials: Sequence[SSAValue]) -> list[SSAValue]:
        """Workgroup-memory arrays (one per reduction) of the tile's rows' totals, the reductions' inits included."""
        kernel = self.c.kernel
        n = len(self.c.prologue)
        totals = [kernel.shared(self.rows, F32) for _ in self.c.prologue]
        if len(self.offsets) == 1:  # W / M invocations per row: their partials meet in workgroup memory
            scratch = [kernel.shared(self.threads, F32) for _ in self.c.prologue]
            for r in range(n):
                store(b, partials[r], scratch[r], [self.linear])
            b.insert(gpu.BarrierOp())

            def total(ib: IRBuilder) -> list[SSAValue]:
                token = ib.minui(ib.addi(self.m0, self.linear), self.last)
                for r, red in enumerate(self.c.prologue):
                    value = self.c.reduction_init(ib, red, token)
                    for j in range(self.threads // self.rows):
                        value = ib.addf(value, load(ib, scratch[r], [ib.addi(self.linear, ib.index(j * self.rows)) if j else self.linear]))
                    store(ib, value, totals[r], [self.linear])
                return []

            b.if_then(b.cmpi("ult", self.linear, b.index(self.rows)), total)
        else:  # each row is one invocation's
            for slot, offset in enumerate(self.offsets):
                row = b.addi(self.linear, b.index(offset)) if offset else self.linear
                token = b.minui(b.addi(self.m0, row), self.last)
                for r, red in enumerate(self.c.prologue):
                    store(b, b.addf(self.c.reduction_init(b, red, token), partials[slot * n + r]), totals[r], [row])
        b.insert(gpu.BarrierOp())
        return totals


def _weight_unit(c: Contraction, b: IRBuilder, w: int, row: SSAValue, kq: SSAValue, kb: SSAValue, integer: bool) -> list[SSAValue]:
    """Weight w's unit (``_unit``) of values at ``row``, k from ``kb + kq * unit``; ``integer`` (dp4a): its block's
    code words, scale and offset (as i32 bits)."""
    unit = _unit(c)
    ref = c.refs[w]
    if integer:
        assert ref is not None
        scale, offset, words = ref.load_codes(b, row, b.addi(b.divui(kb, b.index(unit)), kq))
        return [*words, b.value(arith.BitcastOp(scale, i32)), b.value(arith.BitcastOp(offset, i32))]
    if ref is None:  # a plain float buffer
        k0 = b.addi(kb, b.muli(kq, b.index(unit)))
        return [b.to_f32(c.mat.element(b, c.weights[w], [row, b.addi(k0, b.index(j)) if j else k0])) for j in range(unit)]
    per = unit // ref.block
    first = b.addi(b.divui(kb, b.index(ref.block)), b.muli(kq, b.index(per)) if per > 1 else kq)
    values: list[SSAValue] = []
    for i in range(per):
        scale, offset, q = ref.load_block(b, row, b.addi(first, b.index(i)) if i else first)
        values += [b.fma(scale, v, offset) for v in q]
    return values


def _check_integer(segments: Sequence[Contraction], kernel: Kernel, bk: int) -> None:
    """math = dp4a: the target's packed dot products, weights whose codes ``rquant.load_codes`` packs, one block size."""
    if not kernel.target.int_dot:
        raise RustyError(
            f"gemm: math = dp4a needs a target with packed 8-bit dot products ('{kernel.target.name}' has none)", segments[0].root
        )
    for c in segments:
        schemes = {ref.scheme.name if ref is not None else "f32" for ref in c.refs}
        if not c.mac or not schemes <= set(DOT_SCHEMES) or len({ref.block for ref in c.refs if ref is not None}) != 1:
            raise RustyError(f"gemm: math = dp4a needs a multiply-add contraction of weights stored in one of {', '.join(DOT_SCHEMES)} "
                             f"with one block size (this one: {', '.join(sorted(schemes))})", c.root)  # fmt: skip
        if bk % _unit(c):
            raise RustyError(f"gemm: math = dp4a takes whole blocks per step: reduction_tile {bk} is not a multiple of {_unit(c)}", c.root)


def _quantize(b: IRBuilder, xs: Sequence[SSAValue]) -> tuple[list[SSAValue], SSAValue, SSAValue]:
    """One block of activations as int8 (``x ~ d * a``, ``d = max |x| / 127``, round to nearest even): its words
    (four signed bytes each, in K order), d, and the i32 sum of the a."""
    amax = abs_max(b, xs)
    ints = int8_codes(b, xs, amax)
    words = [pack_bytes(b, ints[j : j + 4]) for j in range(0, len(ints), 4)]
    total = ints[0]
    for q in ints[1:]:
        total = b.addi(total, q)
    return words, b.mulf(amax, b.f32(1.0 / 127.0)), total


def _unit(c: Contraction) -> int:
    """K values per unit of the weight tile: the largest of the weights' blocks (4 for plain f32 buffers)."""
    return max(r.block if r is not None else 4 for r in c.refs)


def _lane(b: IRBuilder, v: SSAValue, j: int) -> SSAValue:
    return b.value(vector.ExtractOp(v, [j], f32))


__all__ = ["lower_gemm"]
