"""The ``sample`` strategy: one workgroup draws a token from the logits, or from each row of them (``linalg_ext.sample``).

Self-contained on purpose: it reads only the ``Kernel``/``Materializer`` helpers, so it moves to
another tiled level as it is. ``lower_sample(kernel, mat, ops)`` writes the kernel body and returns
the grid (one workgroup, or one per row of a matrix of logits, each reading its own row of ``params``).
What it computes is ``rusty_ir.sampling.sample_token`` (the op's docs): the options come from the packed
``params`` words, the random number ``u`` too, so only the token id is read back. Below, "the logits"
are the workgroup's row. The bisections are exact and need neither atomics nor a sort, which the kernel languages
here lack.

Layout: ``N`` threads (the config's workgroup, a power of two); thread ``t`` owns the contiguous
logits ``[t*C, min((t+1)*C, V))``, ``C = ceil(V / N)``, so thread order is id order (the draw walks
ids in ascending order, as the op says). Every number below that decides control flow around a
barrier is the same in every thread: loop bounds from ``params`` (a read-only buffer) or values
read back from workgroup memory after a barrier.

1. Parameters, and the penalty cursor: the (id, count) pairs are sorted by id, so each thread
   finds the first pair at or after its chunk once; a pass over the chunk advances the cursor as
   it meets penalized ids (``_Pass``). ``z_i`` is the penalized logit times ``1 / temperature``
   (times 1 for temperature 0).
2. ``M = max z`` and ``min z`` (a tree reduction).
3. top-k (``0 < k < V``, temperature > 0): the k-th largest ``z`` by bisection on the float's
   order-preserving 32-bit key (``key(z)``, compared unsigned): ``ROUNDS`` rounds, each one pass
   counting ``key >= t`` at ``PIVOTS`` pivots spread over the interval still open, then a tree
   reduction of the ``PIVOTS`` counts at once; the interval shrinks ``PIVOTS + 1``-fold per round
   (``ROUNDS`` covers 32 bits). ``tau_k`` is the largest key with a count ``>= k``.
4. top-p (``top_p < 1``): the kept weight ``W = sum w`` over ``key >= tau_k`` (``w = exp(z - M)``),
   then the same bisection on weight instead of count: ``tau_p`` is the largest key whose weight
   is ``>= top_p * W``.
5. min-p: ``tau_min = key(M + ln(min_p))``. ``tau = max(tau_k, tau_p, tau_min)``, or ``key(M)``
   with ``u = 0`` for temperature 0 (the first largest: greedy).
6. The draw: each thread sums its kept ``w``; thread 0 walks the ``N`` sums to the thread whose
   sum crosses ``u * S``; that thread walks its chunk to the token and stores it.

Cost: ``3 + 2 * ROUNDS + 1`` passes over the vocabulary at most (fewer when top-k or top-p is
off) by one workgroup. A port that spreads the passes over several workgroups, or wider radix
digits with workgroup atomics, would be faster on large GPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from xdsl.dialects import arith, bufferization, gpu, math
from xdsl.dialects.builtin import i32
from xdsl.ir import Attribute, Operation, SSAValue

from rusty_ir.dialects.linalg_ext import SampleOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.sampling import HEADER_WORDS, MAX_PENALIZED

PIVOTS = 7
"""Thresholds counted per bisection pass (the open interval shrinks 8-fold per pass)."""
ROUNDS = 11
"""Bisection passes: 8 ** 11 > 2 ** 32, enough to pin any 32-bit key."""
SIGN = -(2**31)
"""0x80000000 as an i32."""

Fold = Callable[[IRBuilder, SSAValue, SSAValue, SSAValue, Sequence[SSAValue]], list[SSAValue]]
"""``fold(b, i, z, key, carried) -> carried``: element ``i`` of a pass."""


def _bitcast(b: IRBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    return b.value(arith.BitcastOp(x, to))


def _key(b: IRBuilder, z: SSAValue) -> SSAValue:
    """The float's bits as an unsigned key that orders like the float: flip the sign bit of a
    non-negative float, every bit of a negative one."""
    bits = _bitcast(b, z, i32)
    return b.xori(bits, b.select(b.cmpi("slt", bits, b.i32(0)), b.i32(-1), b.i32(SIGN)))


def _count(b: IRBuilder, cond: SSAValue, weight: SSAValue) -> SSAValue:
    return b.select(cond, weight, b.f32(0.0))


class _Sampler:
    """The kernel under construction: parameters, the thread's chunk and its penalty cursor."""

    def __init__(self, kernel: Kernel, mat: Materializer, op: SampleOp, b: IRBuilder, tid: SSAValue, row: list[SSAValue]) -> None:
        self.kernel, self.mat, self.op, self.row = kernel, mat, op, row
        """``row``: the workgroup's row of a matrix of logits, as an index list (empty for a vector)."""
        self.threads = kernel.threads
        if self.threads & (self.threads - 1):
            raise RustyError(f"the sample strategy needs a power-of-two workgroup, got {self.threads}", op)
        self.vocab = static_shape(op.input)[-1]
        chunk = -(-self.vocab // self.threads)
        self.tid = tid
        self.first = b.minui(b.muli(self.tid, b.index(chunk)), b.index(self.vocab))
        self.end = b.minui(b.addi(self.first, b.index(chunk)), b.index(self.vocab))

        # 1. parameters (rusty_ir.sampling.pack)
        def word(w: int) -> SSAValue:
            return mat.element(b, op.params, [*row, b.index(w)])

        def number(w: int) -> SSAValue:
            return _bitcast(b, word(w), F32)

        temperature, self.top_k, self.top_p, self.min_p = number(0), word(1), number(2), number(3)
        self.repetition, self.presence, self.frequency, u = number(4), number(5), number(6), number(7)
        self.pairs = b.to_index(b.value(arith.MinSIOp(b.value(arith.MaxSIOp(word(8), b.i32(0))), b.i32(MAX_PENALIZED))))
        self.sampled = b.cmpf("ogt", temperature, b.f32(0.0))
        self.scale = b.select(self.sampled, b.divf(b.f32(1.0), temperature), b.f32(1.0))
        self.u = b.select(self.sampled, u, b.f32(0.0))

        def before(ib: IRBuilder, j: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
            below = ib.cmpi("slt", self._pair(ib, j, 0), ib.index_cast(self.first, i32))
            return [ib.addi(carried[0], ib.select(below, ib.index(1), ib.index(0)))]

        (self.cursor,) = b.for_loop(b.index(0), self.pairs, b.index(1), [b.index(0)], before)
        self.scratch = kernel.shared(PIVOTS * self.threads, F32)

    def _pair(self, b: IRBuilder, j: SSAValue, field: int) -> SSAValue:
        """Field 0 (id) or 1 (count) of pair ``j`` (clamped into the buffer)."""
        j = b.minui(j, b.index(MAX_PENALIZED - 1))
        return self.mat.element(b, self.op.params, [*self.row, b.addi(b.muli(j, b.index(2)), b.index(HEADER_WORDS + field))])

    # --- passes over the thread's chunk -------------------------------------------------------------
    def each(self, b: IRBuilder, inits: Sequence[SSAValue], fold: Fold) -> list[SSAValue]:
        """Fold every ``(i, z, key)`` of the thread's chunk in id order into ``inits``."""

        def body(ib: IRBuilder, i: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
            cursor, rest = carried[0], carried[1:]
            raw = self.mat.element(ib, self.op.input, [*self.row, i])
            hit = ib.andi(ib.cmpi("ult", cursor, self.pairs), ib.cmpi("eq", self._pair(ib, cursor, 0), ib.index_cast(i, i32)))
            scaled = ib.select(ib.cmpf("ogt", raw, ib.f32(0.0)), ib.divf(raw, self.repetition), ib.mulf(raw, self.repetition))
            penalized = ib.subf(ib.subf(scaled, ib.mulf(ib.sitofp(self._pair(ib, cursor, 1)), self.frequency)), self.presence)
            z = ib.mulf(ib.select(hit, penalized, raw), self.scale)
            return [ib.addi(cursor, ib.select(hit, ib.index(1), ib.index(0))), *fold(ib, i, z, _key(ib, z), rest)]

        return list(b.for_loop(self.first, self.end, b.index(1), [self.cursor, *inits], body)[1:])

    def reduce(self, b: IRBuilder, values: Sequence[SSAValue], combine: Sequence[str]) -> list[SSAValue]:
        """The workgroup's combination of each thread's ``values`` (at most ``PIVOTS``), in every thread."""
        n, tid = self.threads, self.tid
        for j, v in enumerate(values):
            store(b, v, self.scratch, [b.addi(b.index(j * n), tid)])
        _barrier(b)
        stride = n // 2
        while stride:

            def step(ib: IRBuilder, stride: int = stride) -> list[SSAValue]:
                for j, name in enumerate(combine):
                    here = ib.addi(ib.index(j * n), tid)
                    there = ib.addi(here, ib.index(stride))
                    store(ib, ib.binary(name, load(ib, self.scratch, [here]), load(ib, self.scratch, [there])), self.scratch, [here])
                return []

            b.if_then(b.cmpi("ult", tid, b.index(stride)), step)
            _barrier(b)
            stride //= 2
        totals = [load(b, self.scratch, [b.index(j * n)]) for j in range(len(values))]
        _barrier(b)  # the scratch is reused
        return totals

    def bisect(self, b: IRBuilder, rounds: SSAValue, lo: SSAValue, hi: SSAValue, target: SSAValue,
               weight: Callable[[IRBuilder, SSAValue, SSAValue], SSAValue]) -> SSAValue:  # fmt: skip
        """The largest key ``t`` in ``[lo, hi]`` whose ``sum of weight(z, key)`` over ``key >= t`` is at
        least ``target`` (that sum at ``lo`` must be): ``rounds`` passes of ``PIVOTS`` pivots each."""

        def round_(rb: IRBuilder, _: SSAValue, bounds: Sequence[SSAValue]) -> list[SSAValue]:
            lo, hi = bounds
            step = rb.addi(rb.shrui(rb.subi(hi, lo), rb.i32(3)), rb.i32(1))
            pivots = [rb.minui(rb.addi(lo, rb.muli(step, rb.i32(j))), hi) for j in range(1, PIVOTS + 1)]

            def fold(fb: IRBuilder, _i: SSAValue, z: SSAValue, key: SSAValue, sums: Sequence[SSAValue]) -> list[SSAValue]:
                w = weight(fb, z, key)
                return [fb.addf(s, _count(fb, fb.cmpi("uge", key, p), w)) for s, p in zip(sums, pivots, strict=True)]

            sums = self.reduce(rb, self.each(rb, [rb.f32(0.0)] * PIVOTS, fold), ["addf"] * PIVOTS)
            new_lo, new_hi = lo, hi
            for p, s in zip(pivots, sums, strict=True):  # the sums fall as the pivots rise
                new_lo = rb.select(rb.cmpf("oge", s, target), p, new_lo)
            for p, s in reversed(list(zip(pivots, sums, strict=True))):
                new_hi = rb.select(rb.cmpf("oge", s, target), new_hi, rb.subi(p, rb.i32(1)))
            return [new_lo, new_hi]

        return b.for_loop(b.index(0), rounds, b.index(1), [lo, hi], round_)[0]


def _barrier(b: IRBuilder) -> None:
    b.insert(gpu.BarrierOp())


def lower_sample(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """One workgroup draws the token of the region's ``linalg_ext.sample``, or of each of its rows (module docstring,
    steps 1-6): ``workgroups (rows) { invocations (N) { ... } }``, every invocation reaching every barrier."""
    op = next(o for o in ops if isinstance(o, SampleOp))
    rows = len(static_shape(op.input)) == 2
    b, g = kernel.b, kernel.grid_b

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        row = [wivs[0]] if rows else []
        kernel.invocations(wb, [kernel.threads], lambda ib, ivs: _draw(kernel, mat, op, ops, ib, ivs[0], row))

    kernel.workgroups([kernel.grid_dim(b, "x") if rows else b.index(1)], per_workgroup)
    count = mat.dims(g, op.input, kernel.grid_args)[0] if rows else g.index(1)
    return [count, g.index(1), g.index(1)]


def _find_thread(s: _Sampler, f0: SSAValue, where: SSAValue, rest: SSAValue, ib: IRBuilder) -> list[SSAValue]:
    """Thread 0 of the draw: the thread whose chunk holds ``u * S`` (where the running sum of the threads' kept
    weights crosses it) into ``where``, and what is left of ``u * S`` at that chunk into ``rest``."""
    n = s.threads

    def add(lb: IRBuilder, t: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
        return [lb.addf(c[0], load(lb, s.scratch, [t]))]

    (whole,) = ib.for_loop(ib.index(0), ib.index(n), ib.index(1), [f0], add)
    goal = ib.mulf(s.u, whole)

    def walk(lb: IRBuilder, t: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
        before, found, thread, left, last, last_sum = c
        part = load(lb, s.scratch, [t])
        cross = lb.andi(lb.cmpi("eq", found, lb.index(0)), lb.andi(lb.cmpf("ogt", part, f0), lb.cmpf("ogt", lb.addf(before, part), goal)))
        positive = lb.cmpf("ogt", part, f0)
        return [lb.addf(before, part), lb.select(cross, lb.index(1), found), lb.select(cross, t, thread),
                lb.select(cross, lb.subf(goal, before), left), lb.select(positive, t, last), lb.select(positive, part, last_sum)]  # fmt: skip

    inits = [f0, ib.index(0), ib.index(0), f0, ib.index(0), f0]
    _, found, thread, left, last, last_sum = ib.for_loop(ib.index(0), ib.index(n), ib.index(1), inits, walk)
    crossed = ib.cmpi("ne", found, ib.index(0))  # else rounding left u * S past the total: the last kept token
    store(ib, ib.index_cast(ib.select(crossed, thread, last), i32), where, [ib.index(0)])
    store(ib, ib.select(crossed, left, last_sum), rest, [ib.index(0)])
    return []


def _draw(kernel: Kernel, mat: Materializer, op: SampleOp, ops: Sequence[Operation], b: IRBuilder, tid: SSAValue,
          row: list[SSAValue]) -> None:  # fmt: skip
    s = _Sampler(kernel, mat, op, b, tid, row)
    f0, one, zero_rounds = b.f32(0.0), b.f32(1.0), b.index(0)
    # 2. the largest and smallest z
    top, bottom = s.reduce(b, s.each(b, [b.f32(float("-inf")), b.f32(float("inf"))],
                                     lambda fb, _i, z, _k, c: [fb.maximumf(c[0], z), fb.minimumf(c[1], z)]), ["maximumf", "minimumf"])  # fmt: skip
    top_key, bottom_key = _key(b, top), _key(b, bottom)

    def weight(fb: IRBuilder, z: SSAValue, _key: SSAValue) -> SSAValue:
        return fb.value(math.ExpOp(fb.subf(z, top)))

    # 3. top-k
    k_on = b.andi(s.sampled, b.andi(b.cmpi("sgt", s.top_k, b.i32(0)), b.cmpi("slt", s.top_k, b.i32(s.vocab))))
    tau_k = s.bisect(b, b.select(k_on, b.index(ROUNDS), zero_rounds), bottom_key, top_key, b.sitofp(s.top_k), lambda fb, _z, _k: one)
    # 4. top-p over what top-k kept
    p_on = b.andi(s.sampled, b.cmpf("olt", s.top_p, one))

    def kept_weight(fb: IRBuilder, z: SSAValue, key: SSAValue) -> SSAValue:
        return _count(fb, fb.cmpi("uge", key, tau_k), weight(fb, z, key))

    def total(tb: IRBuilder, _: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        return s.reduce(tb, s.each(tb, [f0], lambda fb, _i, z, key, c: [fb.addf(c[0], kept_weight(fb, z, key))]), ["addf"])

    (kept,) = b.for_loop(zero_rounds, b.select(p_on, b.index(1), zero_rounds), b.index(1), [f0], total)
    tau_p = s.bisect(b, b.select(p_on, b.index(ROUNDS), zero_rounds), tau_k, top_key, b.mulf(s.top_p, kept), kept_weight)
    # 5. min-p, and the threshold (greedy: the largest only)
    min_p_bound = _key(b, b.addf(top, b.value(math.LogOp(b.maximumf(s.min_p, b.f32(1e-30))))))
    tau = b.maxui(b.maxui(tau_k, tau_p), b.select(b.cmpf("ogt", s.min_p, f0), min_p_bound, bottom_key))
    tau = b.select(s.sampled, tau, top_key)

    def drawn(fb: IRBuilder, z: SSAValue, key: SSAValue) -> SSAValue:
        return _count(fb, fb.cmpi("uge", key, tau), weight(fb, z, key))

    # 6. the draw: each thread's kept weight; thread 0 finds the thread where u * S falls; it finds the token
    (mine,) = s.each(b, [f0], lambda fb, _i, z, key, c: [fb.addf(c[0], drawn(fb, z, key))])
    store(b, mine, s.scratch, [tid])
    _barrier(b)
    where = kernel.shared(1, i32)
    rest = kernel.shared(1, F32)

    b.if_then(b.cmpi("eq", tid, b.index(0)), partial(_find_thread, s, f0, where, rest))
    _barrier(b)
    chosen, remaining = load(b, where, [b.index(0)]), load(b, rest, [b.index(0)])
    outputs = [(m.source, kernel.body_args[m.dest]) for m in ops if isinstance(m, bufferization.MaterializeInDestinationOp)]

    def find_token(ib: IRBuilder) -> list[SSAValue]:
        def walk(fb: IRBuilder, i: SSAValue, z: SSAValue, key: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
            before, token, last = c
            w = drawn(fb, z, key)
            here, positive = fb.index_cast(i, i32), fb.cmpf("ogt", w, f0)
            cross = fb.andi(fb.cmpi("slt", token, fb.i32(0)), fb.andi(positive, fb.cmpf("ogt", fb.addf(before, w), remaining)))
            return [fb.addf(before, w), fb.select(cross, here, token), fb.select(positive, here, last)]

        _, token, last = s.each(ib, [f0, ib.i32(-1), ib.i32(-1)], walk)
        found = ib.select(ib.cmpi("sge", token, ib.i32(0)), token, last)  # rounding past the chunk's weight: its last kept token
        mat.known[op.result] = lambda _b, _idx: found
        at = row or [ib.index(0)]
        for value, buf in outputs:
            store(ib, mat.element(ib, value, at), buf, at)
        return []

    b.if_then(b.cmpi("eq", b.index_cast(tid, i32), chosen), find_token)
