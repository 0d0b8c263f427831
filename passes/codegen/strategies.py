"""The four lowering strategies: how one bufferized dispatch region becomes one kernel.

Each ``lower_<strategy>(kernel, mat, ops)`` writes the kernel body through
``kernel.b`` and returns the grid (built through ``kernel.grid_b``). They share
the ``Materializer`` for everything fused into the region, so what a strategy
adds is only the mapping onto workgroups, the reductions and the stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith, bufferization, memref
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType, i32
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import ArgmaxOp, AttentionOp, CacheAppendOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.kernel import Kernel
from rusty_ir.passes.codegen.kv_cache import Q8_GROUP, cache_load, cache_load_run, cache_row, is_q8, store_cache, store_q8_group
from rusty_ir.passes.codegen.materialize import Materializer, apply_map, static_shape
from rusty_ir.passes.codegen.sampling import lower_sample
from rusty_ir.passes.dispatch.analysis import Kind, kind, maps, reduction_dims

MAX_GROUPS_X = 65535
"""Workgroups per grid dimension that every WebGPU adapter supports."""

ILP = 4
"""Independent partial results per loop step in attention's dot products and sums."""

MAX_STAGED_FLOATS = 2048
"""Activation values a contraction stages in workgroup memory at once (8 KiB; K is walked in chunks)."""

SPLIT_KV_TILE = 64
"""Positions per workgroup (one tile) of decode's split-KV attention."""


def _outputs(kernel: Kernel, ops: Sequence[Operation]) -> list[tuple[SSAValue, SSAValue]]:
    """(tensor value, kernel buffer) for each ``materialize_in_destination`` of the region."""
    out = []
    for op in ops:
        if isinstance(op, bufferization.MaterializeInDestinationOp):
            out.append((op.source, kernel.body_args[op.dest]))
    return out


def _combiner(op: linalg.GenericOp) -> type[Operation]:
    """The op that folds a value into the accumulator of a reduction body."""
    acc = op.body.block.args[len(op.inputs)]
    uses = list(acc.uses)
    if len(uses) != 1 or type(uses[0].operation) not in (arith.AddfOp, arith.MaximumfOp, arith.MinimumfOp, arith.MulfOp):
        raise RustyError("a reduction body must fold into its accumulator with one addf/maximumf/minimumf/mulf", op)
    return type(uses[0].operation)


def _linear_grid(kernel: Kernel, total: SSAValue) -> list[SSAValue]:
    """Enough workgroups for ``total`` invocations, folded into y past the x limit."""
    g = kernel.grid_b
    groups = g.ceildiv(total, g.index(kernel.threads))
    gx = g.minui(groups, g.index(MAX_GROUPS_X))
    return [gx, g.ceildiv(groups, gx), g.index(1)]


def _linear_id(kernel: Kernel) -> SSAValue:
    b = kernel.b
    gx = kernel.grid_dim("x")
    group = b.addi(b.muli(kernel.block_id("y"), gx), kernel.block_id("x"))
    return b.addi(b.muli(group, b.index(kernel.threads)), kernel.thread_id("x"))


def _delinearize(b: IRBuilder, linear: SSAValue, dims: Sequence[SSAValue]) -> list[SSAValue]:
    idx: list[SSAValue] = []
    for d in reversed(dims[1:]):
        idx.append(b.remui(linear, d))
        linear = b.divui(linear, d)
    idx.append(linear)
    return list(reversed(idx))


# --- elementwise ------------------------------------------------------------------------------------


def lower_elementwise(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """One invocation per element of the region's iteration space (its outputs, or the rows it appends)."""
    b = kernel.b
    outputs = _outputs(kernel, ops)
    appends = [op for op in ops if isinstance(op, CacheAppendOp)]
    space_value = appends[0].keys if appends else outputs[0][0]
    shape = static_shape(space_value)
    if any(static_shape(v) != shape for v, _ in outputs):
        raise RustyError("an elementwise region's outputs must all have the same shape", ops[0])
    q8 = any(is_q8(op.k_cache) for op in appends)  # an invocation per group of 64 values of a row
    width = shape[-1]
    if q8 and outputs:
        raise RustyError("an append to a q8_0 KV cache cannot share its kernel with other outputs", appends[0])
    grid_dims = mat.dims(kernel.grid_b, space_value, kernel.grid_args)
    dims = mat.dims(b, space_value)
    if q8:
        grid_dims[-1] = kernel.grid_b.index(width // Q8_GROUP)
        dims[-1] = b.index(width // Q8_GROUP)
    grid = _linear_grid(kernel, kernel.grid_b.product(grid_dims))
    linear = _linear_id(kernel)

    def body(ib: IRBuilder) -> list[SSAValue]:
        idx = _delinearize(ib, linear, dims)
        for value, buf in outputs:
            kernel.store(ib, mat.element(ib, value, idx), buf, idx)
        for op in appends:
            row = cache_row(ib, op, _table(mat, op), ib.addi(mat.args[op.pos], idx[0]))
            for src, cache in ((op.keys, op.k_cache), (op.values, op.v_cache)):
                if q8:  # idx[1] is a group of 64 values
                    first = ib.muli(idx[1], ib.index(Q8_GROUP))
                    values = [mat.element(ib, src, [idx[0], ib.addi(first, ib.index(i))]) for i in range(Q8_GROUP)]
                    store_q8_group(ib, values, mat.args[cache], row, idx[1], width)
                else:
                    store_cache(ib, mat.element(ib, src, idx), mat.args[cache], row, idx[1])
        return []

    b.if_then(b.cmpi("ult", linear, b.product(dims)), body)
    return grid


def _table(mat: Materializer, op: CacheAppendOp | AttentionOp) -> SSAValue | None:
    """The kernel's block-table argument of a paged cache op (None for a contiguous cache)."""
    return None if op.block_table is None else mat.args[op.block_table]


# --- row ------------------------------------------------------------------------------------------


def reduce_rows(
    kernel: Kernel,
    mat: Materializer,
    reductions: Sequence[linalg.GenericOp],
    row: list[SSAValue],
    b: IRBuilder | None = None,
    scratch: SSAValue | None = None,
) -> list[SSAValue]:
    """Compute each row reduction for batch index ``row`` with the whole workgroup; their values.

    Each thread folds a strided slice of the reduced dim with the op's own body,
    then a tree in workgroup memory (``scratch``, at least ``threads`` floats)
    combines the partial results. Binds ``mat.known`` for single-row use.
    """
    b = b or kernel.b
    tid = kernel.thread_id("x", b)
    scratch = scratch if scratch is not None else kernel.shared(kernel.threads)
    totals: list[SSAValue] = []
    for red in reductions:
        combine = _combiner(red)
        extent = mat.dim(b, red.inputs[0], -1)
        init = mat.element(b, red.outputs[0], row)

        def fold(ib: IRBuilder, c: SSAValue, carried: Sequence[SSAValue], red: linalg.GenericOp = red) -> list[SSAValue]:
            return mat.generic_at(ib, red, [*row, c], carried)

        (partial,) = b.for_loop(tid, extent, b.index(kernel.threads), [init], fold)
        kernel.store(b, partial, scratch, [tid])
        kernel.barrier(b)
        kernel.tree_reduce(scratch, tid, kernel.threads, lambda ib, x, y, c=combine: ib.value(c(x, y)), b=b)  # pyright: ignore[reportCallIssue]
        total = kernel.load(b, scratch, [b.index(0)])
        kernel.barrier(b)  # the scratch is reused
        mat.known[red.results[0]] = lambda _b, _idx, total=total: total
        totals.append(total)
    return totals


def lower_row(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """One workgroup per row: reductions as phases, then the row's outputs (or an argmax)."""
    b = kernel.b
    outputs = _outputs(kernel, ops)
    argmaxes = [op for op in ops if isinstance(op, ArgmaxOp)]
    if argmaxes:
        return _lower_argmax(kernel, mat, argmaxes[0], outputs)
    reductions = [op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.ROW_REDUCTION]
    if not reductions:
        raise RustyError("a row region needs a reduction", ops[0])
    rows = kernel.grid_b.product(mat.dims(kernel.grid_b, reductions[0].results[0], kernel.grid_args))
    grid = [rows, kernel.grid_b.index(1), kernel.grid_b.index(1)]

    # only the inner sizes split the workgroup id: the outermost may be a buffer's size (memref.dim),
    # which a kernel cannot read
    rows_value = reductions[0].results[0]
    inner = [mat.dim(b, rows_value, i) for i in range(1, len(static_shape(rows_value)))]
    group = kernel.block_id("x")
    row = _delinearize(b, group, [group, *inner])  # _delinearize never reads the outermost size
    reduce_rows(kernel, mat, reductions, row)
    row_length = mat.dim(b, reductions[0].inputs[0], -1)
    tid = kernel.thread_id("x")
    for value, buf in outputs:
        if len(static_shape(value)) == len(row):
            b.if_then(b.cmpi("eq", tid, b.index(0)), lambda ib, v=value, o=buf: (kernel.store(ib, mat.element(ib, v, row), o, row), [])[1])
        else:

            def store(ib: IRBuilder, c: SSAValue, _: Sequence[SSAValue], v: SSAValue = value, o: SSAValue = buf) -> list[SSAValue]:
                kernel.store(ib, mat.element(ib, v, [*row, c]), o, [*row, c])
                return []

            b.for_loop(tid, row_length, b.index(kernel.threads), [], store)
    return grid


def _lower_argmax(kernel: Kernel, mat: Materializer, op: ArgmaxOp, outputs: list[tuple[SSAValue, SSAValue]]) -> list[SSAValue]:
    """One workgroup: strided (value, index) maxima, then a tree that keeps the first index of ties."""
    b = kernel.b
    g = kernel.grid_b
    (length,) = mat.dims(b, op.input)
    tid = kernel.thread_id("x")

    def fold(ib: IRBuilder, i: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        best, best_i = carried
        v = mat.element(ib, op.input, [i])
        better = ib.cmpf("ogt", v, best)
        return [ib.select(better, v, best), ib.select(better, i, best_i)]

    best, best_i = b.for_loop(tid, length, b.index(kernel.threads), [b.f32(float("-inf")), tid], fold)
    vals = kernel.shared(kernel.threads)
    idxs = kernel.shared(kernel.threads, i32)
    kernel.store(b, best, vals, [tid])
    kernel.store(b, b.index_cast(best_i, i32), idxs, [tid])
    kernel.barrier()
    stride = kernel.threads // 2
    while stride >= 1:
        s = b.index(stride)

        def step(ib: IRBuilder, s: SSAValue = s) -> list[SSAValue]:
            other = ib.addi(tid, s)
            va, vb = kernel.load(ib, vals, [tid]), kernel.load(ib, vals, [other])
            ia, ib_ = kernel.load(ib, idxs, [tid]), kernel.load(ib, idxs, [other])
            take = ib.value(arith.OrIOp(ib.cmpf("ogt", vb, va), ib.value(arith.AndIOp(ib.cmpf("oeq", vb, va), ib.cmpi("slt", ib_, ia)))))
            kernel.store(ib, ib.select(take, vb, va), vals, [tid])
            kernel.store(ib, ib.select(take, ib_, ia), idxs, [tid])
            return []

        b.if_then(b.cmpi("ult", tid, s), step)
        kernel.barrier()
        stride //= 2
    result = kernel.load(b, idxs, [b.index(0)])
    mat.known[op.result] = lambda _b, _idx: result
    for value, buf in outputs:
        b.if_then(b.cmpi("eq", tid, b.index(0)), lambda ib, v=value, o=buf: (kernel.store(ib, mat.element(ib, v, [ib.index(0)]), o, [ib.index(0)]), [])[1])
    return [g.index(1), g.index(1), g.index(1)]


# --- contraction ----------------------------------------------------------------------------------


def lower_contraction(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """A workgroup per (``rows`` output rows, ``tokens`` batch indices); each row's threads split K.

    1. Prologue: the row reductions the activation needs (RMSNorm), per token,
       by the whole workgroup.
    2. K is walked in chunks: the chunk of each token's activation row (fused
       producers applied) is staged in workgroup memory, then each thread
       decodes its share of the weight blocks once and folds them into every
       token's accumulators with the contraction's own body.
    3. Partial sums meet in workgroup memory, one tree per (token, output).
    4. The first thread of each row group stores the region's outputs at
       (token, n): the epilogue is materialized with the reduced values bound.

    A ``tokens > 1`` kernel is still correct for one token, but wastes most of
    its work there: ``convert-dispatch-to-tiled`` multi-versions such regions
    (``single_token_config``), so a single-token step launches a kernel
    lowered with ``tokens = 1`` and its own, larger activation chunk.
    """
    b, g = kernel.b, kernel.grid_b
    root = next(op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION)
    rows_per_group, *rest = kernel.config.tile_sizes
    tokens = rest[0] if rest else 1
    tpr = kernel.threads // rows_per_group
    if tpr & (tpr - 1):
        raise RustyError("threads per row must be a power of two", root)
    out_shape = static_shape(root.results[0])
    batch_rank = len(out_shape) - 1
    if batch_rank > 1 or (batch_rank == 0 and tokens != 1):
        raise RustyError("a contraction tiles at most one batch dim (tokens), and needs one to tile it", root)
    if reduction_dims(root) != [len(out_shape)] or any(static_shape(w)[-1] != static_shape(root.inputs[0])[-1] for w in root.inputs[1:]):
        raise RustyError("a contraction must reduce its last loop dim over the inputs' last dim", root)
    n_total = out_shape[-1]
    batch = g.product(mat.dims(g, root.results[0], kernel.grid_args)[:-1])
    grid = [g.index(-(-n_total // rows_per_group)), batch if tokens == 1 else g.ceildiv(batch, g.index(tokens)), g.index(1)]

    # workgroup memory shared by both variants: activation chunks, then the partial sums
    k_total = static_shape(root.inputs[0])[-1]
    chunk = min(k_total, max(32, (MAX_STAGED_FLOATS // tokens) // 32 * 32))
    n_out = len(root.outputs)
    staged = tokens * chunk + tokens * chunk // 32  # room for one pad float per block (see ``_contraction_body``)
    scratch = kernel.shared(max(staged, tokens * n_out * kernel.threads, kernel.threads))
    _contraction_body(kernel, mat, ops, root, b, tokens, chunk, scratch)
    return grid


def single_token_config(config: LoweringConfigAttr, ops: Sequence[Operation]) -> LoweringConfigAttr | None:
    """The config of a region's single-token version, or None when it needs none.

    - A contraction tiled over several tokens per workgroup (prefill) gets a
      version with one token per workgroup: it decodes each weight block for
      one token only and stages longer activation chunks.
    - Attention gets a split-KV version (``SPLIT_KV_TILE`` positions per
      workgroup, the same threads): a decode step has only one workgroup per
      head otherwise, each walking every position.
    """
    tile = config.tile_sizes
    if config.strategy.data == "contraction" and len(tile) == 2 and tile[1] > 1:
        return LoweringConfigAttr("contraction", config.workgroup_size, tile[:1])
    if config.strategy.data == "attention" and len(tile) == 1:
        hd = next(o for o in ops if isinstance(o, AttentionOp)).head_dim.value.data
        kv_tile = min(config.threads, max(SPLIT_KV_TILE, config.threads // hd))
        return LoweringConfigAttr("attention", config.workgroup_size, [kv_tile, kv_tile])
    return None


def _contraction_body(
    kernel: Kernel,
    mat: Materializer,
    ops: Sequence[Operation],
    root: linalg.GenericOp,
    b: IRBuilder,
    tokens: int,
    chunk: int,
    scratch: SSAValue,
) -> None:
    """One variant of the contraction kernel (see ``lower_contraction``) for ``tokens`` tokens per workgroup."""
    rows_per_group = kernel.config.tile_sizes[0]
    tpr = kernel.threads // rows_per_group
    x, weights = root.inputs[0], list(root.inputs[1:])
    n_out = len(root.outputs)
    out_shape = static_shape(root.results[0])
    batch_rank = len(out_shape) - 1
    n_total, k_total = out_shape[-1], static_shape(x)[-1]

    tid = kernel.thread_id("x", b)
    lane = b.remui(tid, b.index(tpr))
    group = b.divui(tid, b.index(tpr))
    n = b.addi(b.muli(kernel.block_id("x", b), b.index(rows_per_group)), group)
    n_in = b.minui(n, b.index(n_total - 1))  # threads past N compute row N-1 and store nothing
    if batch_rank:
        batch = mat.dim(b, root.results[0], 0)
        first = b.muli(kernel.block_id("y", b), b.index(tokens))
        token_idx = [b.addi(first, b.index(t)) for t in range(tokens)]
        valid = [b.cmpi("ult", t, batch) for t in token_idx]
        bidx = [[b.minui(t, b.subi(batch, b.index(1)))] for t in token_idx]
    else:
        valid, bidx = [None], [[]]

    # 1. prologue reductions, per token; element lookups pick the token's total by its row index
    for red in (op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.ROW_REDUCTION):
        red_shape = static_shape(red.results[0])
        if len(red_shape) == batch_rank:
            rows = bidx
        elif all(d == 1 for d in red_shape):  # e.g. the norm of the one row the logits read
            rows = [[b.index(0)] * len(red_shape)]
        else:
            raise RustyError("a prologue reduction must be per batch index of its contraction", red)
        table = {id(r[0]) if r else None: reduce_rows(kernel, mat, [red], r, b, scratch)[0] for r in rows}
        mat.known[red.results[0]] = lambda _b, idx, table=table: table[id(idx[0]) if idx else None] if len(table) > 1 else next(iter(table.values()))

    readers = [mat.reader(w) for w in weights]
    block = readers[0].block if all(r is not None and r.blockwise for r in readers) else 1
    if block > 1 and any(r.block != block for r in readers if r is not None):
        block = 1
    chunk = chunk // block * block if block > 1 else chunk

    def staged_at(ib: IRBuilder, i: SSAValue) -> SSAValue:
        """Where staged value ``i`` lives: after one pad float per block, so the lanes of a row,
        which walk different blocks, read different workgroup-memory banks (without the pad,
        lane strides of 32 floats put every lane in the same bank)."""
        return ib.addi(i, ib.divui(i, ib.index(block))) if block > 1 else i
    x_map = maps(root)[0]
    acc0 = [mat.element(b, o, [*bidx[0], n_in]) for o in root.outputs]
    per = tokens * n_out
    # sums over a block split into ILP independent chains (only for additions: they reassociate)
    lanes = ILP if block > 1 and block % ILP == 0 and _combiner(root) is arith.AddfOp else 1

    token_stride = chunk + (chunk // block if block > 1 else 0)  # staged floats per token, pads included

    def fold(ib: IRBuilder, slot: SSAValue, w_values: Sequence[SSAValue], acc: list[SSAValue]) -> list[SSAValue]:
        """Fold weight values into every token's accumulators; token 0's activation is staged at
        ``slot`` (``staged_at`` of its chunk offset), token t's ``t * token_stride`` further."""
        out: list[SSAValue] = []
        for t in range(tokens):
            xv = kernel.load(ib, scratch, [ib.addi(ib.index(t * token_stride), slot) if t else slot])
            out += _body(ib, root, [xv, *w_values], acc[t * n_out : (t + 1) * n_out])
        return out

    def per_chunk(cb: IRBuilder, k0: SSAValue, acc: Sequence[SSAValue]) -> list[SSAValue]:
        # 2a. stage this chunk of every token's activation row
        def stage(ib: IRBuilder, i: SSAValue, _: Sequence[SSAValue]) -> list[SSAValue]:
            t_of, k_of = (ib.index(0), i) if tokens == 1 else (ib.divui(i, ib.index(chunk)), ib.remui(i, ib.index(chunk)))
            k = ib.addi(k0, k_of)
            ragged = k_total % chunk != 0  # the last chunk is partial: pad it with zeros
            k_safe = ib.minui(k, ib.index(k_total - 1)) if ragged else k
            for t in range(tokens):
                def put(jb: IRBuilder, t: int = t) -> list[SSAValue]:
                    v = mat.element(jb, x, apply_map(jb, x_map, [*bidx[t], n_in, k_safe]))
                    if ragged:
                        v = jb.select(jb.cmpi("ult", k, jb.index(k_total)), v, jb.f32(0.0))
                    kernel.store(jb, v, scratch, [staged_at(jb, i)])
                    return []

                if tokens == 1:
                    put(ib)
                else:
                    ib.if_then(ib.cmpi("eq", t_of, ib.index(t)), put)
            return []

        cb.for_loop(tid, cb.index(tokens * chunk), cb.index(kernel.threads), [], stage)
        kernel.barrier(cb)
        # 2b. this thread's blocks (or values) of the chunk
        if block > 1:
            def per_block(ib: IRBuilder, blk: SSAValue, acc2: Sequence[SSAValue]) -> list[SSAValue]:
                values = [r.block_values(ib, r.header(ib, n_in, ib.addi(ib.divui(k0, ib.index(block)), blk))) for r in readers]  # pyright: ignore[reportOptionalMemberAccess]
                acc3 = list(acc2)
                first = ib.muli(blk, ib.index(block + 1))  # staged_at(blk * block): the block's values follow it
                for j in range(block):  # value j goes to accumulator set j % lanes (independent chains)
                    u = (j % lanes) * per
                    acc3[u : u + per] = fold(ib, ib.addi(first, ib.index(j)), [v[j] for v in values], acc3[u : u + per])
                return acc3

            steps = cb.divui(cb.minui(cb.index(chunk), cb.subi(cb.index(k_total), k0)), cb.index(block))
            new = cb.for_loop(lane, steps, cb.index(tpr), acc, per_block)
        else:
            def per_k(ib: IRBuilder, kl: SSAValue, acc2: Sequence[SSAValue]) -> list[SSAValue]:
                k = ib.addi(k0, kl)
                return fold(ib, kl, [mat.element(ib, w, [n_in, k]) for w in weights], list(acc2[:per])) + list(acc2[per:])

            steps = cb.minui(cb.index(chunk), cb.subi(cb.index(k_total), k0))
            new = cb.for_loop(lane, steps, cb.index(tpr), acc, per_k)
        kernel.barrier(cb)  # the next chunk overwrites the staged rows
        return list(new)

    init = acc0 * tokens + [b.f32(0.0)] * (per * (lanes - 1))
    if k_total <= chunk:  # one chunk: no loop around the barriers (much cheaper on CPU adapters)
        sets = per_chunk(b, b.index(0), init)
    else:
        sets = b.for_loop(b.index(0), b.index(k_total), b.index(chunk), init, per_chunk)
    partial = list(sets[:per])
    for u in range(1, lanes):
        partial = [b.addf(p, q) for p, q in zip(partial, sets[u * per : (u + 1) * per])]

    # 3. one tree per (token, output) in the scratch buffer
    combine = _combiner(root)
    for j, value in enumerate(partial):
        kernel.store(b, value, scratch, [b.addi(b.index(j * kernel.threads), tid)])
    kernel.barrier(b)
    for j in range(len(partial)):
        slot = b.addi(b.index(j * kernel.threads), tid)
        kernel.tree_reduce(scratch, tid, tpr, lambda ib, p, q: ib.value(combine(p, q)), lane=lane, b=b, slot=slot)  # pyright: ignore[reportCallIssue]

    # 4. epilogue at (token, n)
    base = b.muli(group, b.index(tpr))

    def epilogue(ib: IRBuilder) -> list[SSAValue]:
        for t in range(tokens):
            def one(jb: IRBuilder, t: int = t) -> list[SSAValue]:
                for i in range(n_out):
                    total = kernel.load(jb, scratch, [jb.addi(jb.index((t * n_out + i) * kernel.threads), base)])
                    mat.known[root.results[i]] = lambda _b, _idx, v=total: v
                for value, buf in _outputs(kernel, ops):
                    idx = [*bidx[t], n]
                    kernel.store(jb, mat.element(jb, value, idx), buf, idx)
                return []

            if valid[t] is None:
                one(ib)
            else:
                ib.if_then(valid[t], one)  # pyright: ignore[reportArgumentType]
        return []

    last = b.value(arith.AndIOp(b.cmpi("eq", lane, b.index(0)), b.cmpi("ult", n, b.index(n_total))))
    b.if_then(last, epilogue)


def _body(b: IRBuilder, op: linalg.GenericOp, inputs: Sequence[SSAValue], acc: Sequence[SSAValue]) -> list[SSAValue]:
    """Clone a contraction's body with scalar inputs and accumulators: the new accumulators."""
    block = op.body.block
    mapping = dict(zip(block.args, [*inputs, *acc]))
    yielded: list[SSAValue] = []
    for inner in block.ops:
        if isinstance(inner, linalg.YieldOp):
            yielded = [mapping[v] for v in inner.arguments]
            continue
        clone = inner.clone(value_mapper=mapping)
        b.insert(clone)
        mapping.update(zip(inner.results, clone.results))
    return yielded


# --- attention ------------------------------------------------------------------------------------


def lower_attention(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """A workgroup per (head, query row): online softmax over tiles of KV positions.

    The workgroup's ``W`` threads form ``G = W / head_dim`` groups of
    ``head_dim``; a tile holds ``T`` positions (``T`` divides ``W``).

    1. The query row of this head, scaled, is staged in workgroup memory
       (RoPE and any other fused producer are materialized as it is read).
    2. Per tile: ``W / T`` consecutive threads score each position, each a
       slice of the head (coalesced reads of the K row), their partial dots
       added in workgroup memory; a tree gives the tile's maximum and the
       running maximum ``m`` is updated (rescaling the partial sums,
       FlashAttention-2 style); then thread ``(g, d)`` accumulates output
       dimension ``d`` over group ``g``'s share of the tile.
    3. The groups' partial sums are added in workgroup memory and thread ``d``
       of group 0 stores ``acc / l``; fused consumers are materialized there.

    Split-KV (tile ``[T, P]``, the single-token version of decode): a third
    grid dimension splits the positions into partitions of ``P``; step 3
    stores each partition's ``(acc, m, l)`` in the kernel's extra buffer
    (``split_kv_scratch``) and ``lower_attention_combine`` merges them.
    """
    b, g = kernel.b, kernel.grid_b
    op = next(o for o in ops if isinstance(o, AttentionOp))
    heads, kv_heads, hd = (a.value.data for a in (op.num_heads, op.num_kv_heads, op.head_dim))
    tile, *split = kernel.config.tile_sizes
    threads = kernel.threads
    groups = threads // hd
    slices = threads // tile if threads % tile == 0 else 0  # threads per scored position
    if threads % hd or threads & (threads - 1) or tile & (tile - 1) or not slices or hd % slices or tile % groups:
        raise RustyError(
            f"attention needs a power-of-two workgroup that is a multiple of head_dim ({hd}) and of a power-of-two "
            "kv_tile, with head_dim divisible by workgroup / kv_tile and kv_tile by workgroup / head_dim", op
        )
    share = tile // groups  # positions of a tile each group accumulates
    width = hd // slices  # dimensions of a position's dot product each of its threads takes
    scale = op.scale.value.data
    rows = mat.dims(g, op.query, kernel.grid_args)[0]
    splits = g.ceildiv(g.addi(kernel.grid_args[op.pos], rows), g.index(split[0])) if split else g.index(1)
    grid = [g.index(heads), rows, splits]

    tid = kernel.thread_id("x")
    h = kernel.block_id("x")
    s = kernel.block_id("y")
    kv_col = b.muli(b.divui(h, b.index(heads // kv_heads)), b.index(hd))
    pos = mat.args[op.pos]
    end = b.addi(b.addi(pos, s), b.index(1))
    lo, hi = b.index(0), end
    if split:
        lo = b.muli(kernel.block_id("z"), b.index(split[0]))
        hi = b.minui(end, b.addi(lo, b.index(split[0])))
    kc, vc, table = mat.args[op.k_cache], mat.args[op.v_cache], _table(mat, op)
    group = b.divui(tid, b.index(hd))
    d = b.remui(tid, b.index(hd))
    p_of = b.divui(tid, b.index(slices))  # the position (in the tile) this thread scores
    dim0 = b.muli(b.remui(tid, b.index(slices)), b.index(width))  # and its first dimension

    q_shared = kernel.shared(hd)

    def stage(ib: IRBuilder, dd: SSAValue, _: Sequence[SSAValue]) -> list[SSAValue]:
        q = mat.element(ib, op.query, [s, ib.addi(ib.muli(h, ib.index(hd)), dd)])
        kernel.store(ib, ib.mulf(q, ib.f32(scale)), q_shared, [dd])
        return []

    b.for_loop(tid, b.index(hd), b.index(threads), [], stage)
    kernel.barrier()
    scores = kernel.shared(tile)
    maxima = kernel.shared(tile)
    parts = kernel.shared(threads) if slices > 1 else None

    def per_tile(ib: IRBuilder, t0: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        m, l, acc = carried
        t = ib.addi(t0, p_of)

        def score(jb: IRBuilder) -> list[SSAValue]:
            lanes = ILP if width % ILP == 0 else 1  # independent partial sums hide the loads' latency
            row = cache_row(jb, op, table, t)

            def dot(kb: IRBuilder, dd: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
                keys = cache_load_run(kb, op.k_cache, kc, row, kb.addi(kv_col, dd), lanes)  # dd: a multiple of lanes
                return [kb.addf(kb.mulf(kernel.load(kb, q_shared, [kb.addi(dd, kb.index(u))]), keys[u]), c[u]) for u in range(lanes)]

            sums = jb.for_loop(dim0, jb.addi(dim0, jb.index(width)), jb.index(lanes), [jb.f32(0.0)] * lanes, dot)
            total = sums[0]
            for part in sums[1:]:
                total = jb.addf(total, part)
            return [total]

        masked = float("-inf") if parts is None else 0.0
        (sc,) = ib.if_then(ib.cmpi("ult", t, hi), score, lambda jb: [jb.f32(masked)], [F32])
        if parts is None:
            kernel.store(ib, sc, scores, [tid])
            kernel.store(ib, sc, maxima, [tid])
        else:  # the slices of a position meet in workgroup memory
            kernel.store(ib, sc, parts, [tid])
            kernel.barrier(ib)

            def gather(jb: IRBuilder) -> list[SSAValue]:
                total = kernel.load(jb, parts, [jb.muli(tid, jb.index(slices))])
                for k in range(1, slices):
                    total = jb.addf(total, kernel.load(jb, parts, [jb.addi(jb.muli(tid, jb.index(slices)), jb.index(k))]))
                total = jb.select(jb.cmpi("ult", jb.addi(t0, tid), hi), total, jb.f32(float("-inf")))
                kernel.store(jb, total, scores, [tid])
                kernel.store(jb, total, maxima, [tid])
                return []

            ib.if_then(ib.cmpi("ult", tid, ib.index(tile)), gather)
        kernel.barrier(ib)
        kernel.tree_reduce(maxima, tid, tile, lambda jb, x, y: jb.maximumf(x, y), b=ib)
        m_new = ib.maximumf(m, kernel.load(ib, maxima, [ib.index(0)]))
        alpha = ib.exp(ib.subf(m, m_new))
        first = ib.muli(group, ib.index(share))
        last = ib.minui(ib.addi(first, ib.index(share)), ib.subi(hi, t0))

        unroll = ILP if share % ILP == 0 else 1

        def accumulate(jb: IRBuilder, i: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
            # ``unroll`` positions at a time, their exponentials and loads independent; positions
            # past ``last`` weigh 0 (their reads stay inside the tile and, clamped, inside the cache)
            l_new, acc_new = c
            for u in range(unroll):
                iu = jb.addi(i, jb.index(u))
                p = jb.exp(jb.subf(kernel.load(jb, scores, [iu]), m_new))
                if unroll > 1:
                    p = jb.select(jb.cmpi("ult", iu, last), p, jb.f32(0.0))
                v = cache_load(jb, op.v_cache, vc, cache_row(jb, op, table, jb.addi(t0, iu)), jb.addi(kv_col, d))
                l_new, acc_new = jb.addf(l_new, p), jb.addf(acc_new, jb.mulf(p, v))
            return [l_new, acc_new]

        l2, acc2 = ib.for_loop(first, last, ib.index(unroll), [ib.mulf(l, alpha), ib.mulf(acc, alpha)], accumulate)
        kernel.barrier(ib)  # the next tile overwrites the scores
        return [m_new, l2, acc2]

    m, l, acc = b.for_loop(lo, hi, b.index(tile), [b.f32(float("-inf")), b.f32(0.0), b.f32(0.0)], per_tile)
    partial_acc = kernel.shared(threads)
    partial_l = kernel.shared(threads)
    kernel.store(b, acc, partial_acc, [tid])
    kernel.store(b, l, partial_l, [tid])
    kernel.barrier()

    def total(ib: IRBuilder, buf: SSAValue) -> SSAValue:
        value = kernel.load(ib, buf, [d])
        for other in range(1, groups):
            value = ib.addf(value, kernel.load(ib, buf, [ib.addi(d, ib.index(other * hd))]))
        return value

    if split:
        (scratch,) = kernel.extra_args
        rows_b, n_splits = kernel.grid_dim("y"), kernel.grid_dim("z")
        base = b.muli(b.addi(b.muli(b.addi(b.muli(h, rows_b), s), n_splits), kernel.block_id("z")), b.index(hd + 2))

        def store_partial(ib: IRBuilder) -> list[SSAValue]:
            kernel.store(ib, total(ib, partial_acc), scratch, [ib.addi(base, d)])
            l_total = total(ib, partial_l)

            def stats(jb: IRBuilder) -> list[SSAValue]:
                kernel.store(jb, m, scratch, [jb.addi(base, jb.index(hd))])
                kernel.store(jb, l_total, scratch, [jb.addi(base, jb.index(hd + 1))])
                return []

            ib.if_then(ib.cmpi("eq", d, ib.index(0)), stats)
            return []

        b.if_then(b.cmpi("eq", group, b.index(0)), store_partial)
        return grid

    col = b.addi(b.muli(h, b.index(hd)), d)

    def store(ib: IRBuilder) -> list[SSAValue]:
        out = ib.divf(total(ib, partial_acc), total(ib, partial_l))
        mat.known[op.result] = lambda _b, _idx: out
        for value, buf in _outputs(kernel, ops):
            kernel.store(ib, mat.element(ib, value, [s, col]), buf, [s, col])
        return []

    b.if_then(b.cmpi("eq", group, b.index(0)), store)
    return grid


def lower_attention_combine(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """The second kernel of split-KV attention: a workgroup per (head, query row) merges the partitions.

    Thread ``d < head_dim`` folds every partition's ``(acc_d, m, l)`` from the
    extra buffer into a running ``(M, L, A)``, rescaling by ``e^(m - M)`` as
    the maximum grows (one pass, ``ILP`` partitions' loads at a time), and
    stores ``A / L``; fused consumers are materialized there, as in
    ``lower_attention``'s step 3.
    """
    b, g = kernel.b, kernel.grid_b
    op = next(o for o in ops if isinstance(o, AttentionOp))
    heads, hd = op.num_heads.value.data, op.head_dim.value.data
    _, partition = kernel.config.tile_sizes
    (scratch,) = kernel.extra_args
    grid = [g.index(heads), mat.dims(g, op.query, kernel.grid_args)[0], g.index(1)]
    tid = kernel.thread_id("x")
    h = kernel.block_id("x")
    s = kernel.block_id("y")
    rows = kernel.grid_dim("y")
    n_splits = b.divui(b.addi(b.addi(mat.args[op.pos], rows), b.index(partition - 1)), b.index(partition))  # ceil, in-kernel
    base = b.muli(b.addi(b.muli(h, rows), s), n_splits)
    last = b.subi(n_splits, b.index(1))

    def merge(ib: IRBuilder) -> list[SSAValue]:
        def fold(jb: IRBuilder, z: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
            m_run, l_run, acc_run = c
            parts = []
            for u in range(ILP):  # partitions past the last read the last one and weigh nothing
                zu = jb.addi(z, jb.index(u))
                row = jb.muli(jb.addi(base, jb.minui(zu, last)), jb.index(hd + 2))
                m = kernel.load(jb, scratch, [jb.addi(row, jb.index(hd))])
                parts.append((jb.cmpi("ult", zu, n_splits), m, kernel.load(jb, scratch, [jb.addi(row, jb.index(hd + 1))]),
                              kernel.load(jb, scratch, [jb.addi(row, tid)])))  # fmt: skip
            for valid, m, l, acc in parts:
                m_new = jb.maximumf(m_run, jb.select(valid, m, jb.f32(float("-inf"))))
                old, w = jb.exp(jb.subf(m_run, m_new)), jb.select(valid, jb.exp(jb.subf(m, m_new)), jb.f32(0.0))
                m_run, l_run = m_new, jb.addf(jb.mulf(l_run, old), jb.mulf(l, w))
                acc_run = jb.addf(jb.mulf(acc_run, old), jb.mulf(acc, w))
            return [m_run, l_run, acc_run]

        _, l, acc = ib.for_loop(ib.index(0), n_splits, ib.index(ILP), [ib.f32(float("-inf")), ib.f32(0.0), ib.f32(0.0)], fold)
        out = ib.divf(acc, l)
        mat.known[op.result] = lambda _b, _idx: out
        col = ib.addi(ib.muli(h, ib.index(hd)), tid)
        for value, buf in _outputs(kernel, ops):
            kernel.store(ib, mat.element(ib, value, [s, col]), buf, [s, col])
        return []

    b.if_then(b.cmpi("ult", tid, b.index(hd)), merge)
    return grid


def split_kv_scratch(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue], config: LoweringConfigAttr) -> SSAValue:
    """The host buffer split-KV attention's kernels share: ``(acc[head_dim], m, l)`` per
    (head, query row, partition), ``heads * rows * ceil((pos + rows) / partition) * (head_dim + 2)`` floats."""
    op = next(o for o in ops if isinstance(o, AttentionOp))
    heads, hd = op.num_heads.value.data, op.head_dim.value.data
    rows = Materializer(args).dim(b, op.query, 0, args)
    splits = b.ceildiv(b.addi(args[op.pos], rows), b.index(config.tile_sizes[1]))
    size = b.product([b.index(heads), rows, splits, b.index(hd + 2)])
    return b.value(memref.AllocOp([size], [], MemRefType(F32, [DYNAMIC_INDEX])))


def step_tokens(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue]) -> SSAValue:
    """The step's token count, on the host: a contraction's batch or an attention's query rows."""
    mat = Materializer(args)
    attention = next((o for o in ops if isinstance(o, AttentionOp)), None)
    if attention is not None:
        return mat.dim(b, attention.query, 0, args)
    root = next(o for o in ops if isinstance(o, linalg.GenericOp) and kind(o) is Kind.CONTRACTION)
    return b.product([mat.dim(b, root.results[0], i, args) for i in range(len(static_shape(root.results[0])) - 1)])


Strategy = Callable[[Kernel, Materializer, Sequence[Operation]], list[SSAValue]]
"""Writes one kernel's body and returns its grid."""

STRATEGIES: dict[str, Strategy] = {
    "elementwise": lower_elementwise,
    "row": lower_row,
    "contraction": lower_contraction,
    "attention": lower_attention,
    "sample": lower_sample,
}

