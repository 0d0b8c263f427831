"""The ``sample`` strategy: draw a token from the logits, or from each row of them (``linalg_ext.sample``).

Self-contained on purpose: it reads only the ``Kernel``/``Materializer`` helpers, so it moves to
another tiled level as it is. What it computes is ``rusty_ir.sampling.sample_token`` (the op's docs): the
options come from the packed ``params`` words, the random number ``u`` too, so only the token id is read
back. The bisections are exact and need neither atomics nor a sort, which the kernel languages here lack.

Two schedules, by the config's ``split``: ``split = 0`` (``lower_sample``, here), one workgroup per row
doing every pass below over the whole row; ``split = E`` (``passes/codegen/split_sampling.py``), a
workgroup per chunk of ``E`` logits of each row and a launch per pass, built from the pieces here
(``Sampler``, ``narrow``, ...).

Below, "the logits" are the workgroup's row (or chunk). Layout: ``N`` threads (the config's workgroup,
a power of two); thread ``t`` owns the contiguous logits ``[t*C, (t+1)*C)`` of its workgroup's span
(the row, or the chunk), ``C = ceil(span / N)``, so thread order is id order (the draw walks ids in
ascending order, as the op says). Every number below that decides control flow around a barrier is
the same in every thread: loop bounds from ``params`` (a read-only buffer) or values read back from
workgroup memory after a barrier.

1. Parameters, and the penalties: the (id, count) pairs are sorted by id, so each thread finds the
   first pair at or after its chunk by binary search; a pass over the chunk advances that cursor as it
   meets penalized ids (``Sampler.each``). ``z_i`` is the penalized logit times ``1 / temperature``
   (times 1 for temperature 0).
2. ``M = max z`` (a tree reduction).
3. top-k (``0 < k < V``, temperature > 0): the k-th largest ``z`` by bisection on the float's
   order-preserving 32-bit key (``key(z)``, compared unsigned): rounds of one pass each, counting
   ``key >= t`` at ``P`` pivots spread over the interval still open, then a tree reduction of the
   ``P`` counts at once; the interval shrinks ``P + 1``-fold per round, and the rounds cover 32 bits
   (``P = PIVOTS``, ``ROUNDS`` here). ``tau_k`` is the largest key with a count ``>= k``.
4. top-p (``top_p < 1``): the kept weight ``W = sum w`` over ``key >= tau_k`` (``w = exp(z - M)``),
   then the same bisection on weight instead of count: ``tau_p`` is the largest key whose weight
   is ``>= top_p * W``.
5. min-p: ``tau_min = key(M + ln(min_p))``. ``tau = max(tau_k, tau_p, tau_min)``, or ``key(M)``
   with ``u = 0`` for temperature 0 (the first largest: greedy).
6. The draw: each thread sums its kept ``w``; thread 0 walks the ``N`` sums to the thread whose
   sum crosses ``u * S``; that thread walks its chunk to the token and stores it. Split, the
   workgroups' sums are walked first, the same way, to the chunk where ``u * S`` falls.

Cost of one workgroup: ``3 + 2 * ROUNDS + 1`` passes over the vocabulary at most (fewer when top-k or
top-p is off), all on one multiprocessor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
"""Thresholds counted per bisection pass of one workgroup (the open interval shrinks 8-fold per pass)."""
ROUNDS = 11
"""Bisection passes of one workgroup: 8 ** 11 > 2 ** 32, enough to pin any 32-bit key."""
SIGN = -(2**31)
"""0x80000000 as an i32."""

Fold = Callable[[IRBuilder, SSAValue, SSAValue, SSAValue, Sequence[SSAValue]], list[SSAValue]]
"""``fold(b, i, z, key, carried) -> carried``: element ``i`` of a pass."""
Weight = Callable[[IRBuilder, SSAValue, SSAValue], SSAValue]
"""``weight(b, z, key)``: what an element adds to a bisection's sums."""


def bitcast(b: IRBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    return b.value(arith.BitcastOp(x, to))


def order_key(b: IRBuilder, z: SSAValue) -> SSAValue:
    """The float's bits as an unsigned key that orders like the float: flip the sign bit of a
    non-negative float, every bit of a negative one."""
    bits = bitcast(b, z, i32)
    return b.xori(bits, b.select(b.cmpi("slt", bits, b.i32(0)), b.i32(-1), b.i32(SIGN)))


def masked(b: IRBuilder, cond: SSAValue, weight: SSAValue) -> SSAValue:
    return b.select(cond, weight, b.f32(0.0))


def barrier(b: IRBuilder) -> None:
    b.insert(gpu.BarrierOp())


def spread_pivots(b: IRBuilder, lo: SSAValue, hi: SSAValue, count: int) -> list[SSAValue]:
    """``count`` keys spread evenly over ``[lo, hi]`` (``count + 1`` a power of two): the open interval's
    subintervals start at them."""
    step = b.addi(b.shrui(b.subi(hi, lo), b.i32((count + 1).bit_length() - 1)), b.i32(1))
    return [b.minui(b.addi(lo, b.muli(step, b.i32(j))), hi) for j in range(1, count + 1)]


def narrow(b: IRBuilder, lo: SSAValue, hi: SSAValue, pivots: Sequence[SSAValue], sums: Sequence[SSAValue],
            target: SSAValue) -> tuple[SSAValue, SSAValue]:  # fmt: skip
    """The subinterval of ``[lo, hi]`` that holds the largest key whose sum is at least ``target``, given the
    sums at ``pivots`` (they fall as the pivots rise)."""
    new_lo, new_hi = lo, hi
    for p, s in zip(pivots, sums, strict=True):
        new_lo = b.select(b.cmpf("oge", s, target), p, new_lo)
    for p, s in reversed(list(zip(pivots, sums, strict=True))):
        new_hi = b.select(b.cmpf("oge", s, target), new_hi, b.subi(p, b.i32(1)))
    return new_lo, new_hi


@dataclass
class Options:
    """The packed words of one row (``rusty_ir.sampling.pack``), read in the kernel."""

    sampled: SSAValue
    """temperature > 0."""
    scale: SSAValue
    """``1 / temperature``, or 1 for greedy."""
    u: SSAValue
    """The draw's uniform number (0 for greedy: the first largest)."""
    top_k: SSAValue
    top_p: SSAValue
    min_p: SSAValue
    repetition: SSAValue
    presence: SSAValue
    frequency: SSAValue
    pairs: SSAValue
    """Penalized (id, count) pairs, clamped to ``MAX_PENALIZED``."""

    @classmethod
    def read(cls, b: IRBuilder, mat: Materializer, op: SampleOp, row: list[SSAValue]) -> Options:
        def word(w: int) -> SSAValue:
            return mat.element(b, op.params, [*row, b.index(w)])

        def number(w: int) -> SSAValue:
            return bitcast(b, word(w), F32)

        temperature = number(0)
        sampled = b.cmpf("ogt", temperature, b.f32(0.0))
        pairs = b.to_index(b.value(arith.MinSIOp(b.value(arith.MaxSIOp(word(8), b.i32(0))), b.i32(MAX_PENALIZED))))
        return cls(sampled, b.select(sampled, b.divf(b.f32(1.0), temperature), b.f32(1.0)), b.select(sampled, number(7), b.f32(0.0)),
                   word(1), number(2), number(3), number(4), number(5), number(6), pairs)  # fmt: skip

    def top_k_on(self, b: IRBuilder, vocab: int) -> SSAValue:
        return b.andi(self.sampled, b.andi(b.cmpi("sgt", self.top_k, b.i32(0)), b.cmpi("slt", self.top_k, b.i32(vocab))))

    def top_p_on(self, b: IRBuilder) -> SSAValue:
        return b.andi(self.sampled, b.cmpf("olt", self.top_p, b.f32(1.0)))

    def threshold(self, b: IRBuilder, top: SSAValue, tau_k: SSAValue, tau_p: SSAValue) -> SSAValue:
        """Step 5: ``tau``, the smallest kept key."""
        min_p_bound = order_key(b, b.addf(top, b.value(math.LogOp(b.maximumf(self.min_p, b.f32(1e-30))))))
        tau = b.maxui(b.maxui(tau_k, tau_p), b.select(b.cmpf("ogt", self.min_p, b.f32(0.0)), min_p_bound, b.i32(0)))
        return b.select(self.sampled, tau, order_key(b, top))


class Sampler:
    """One kernel's view of its logits: the options, the thread's chunk and its penalty cursor, the
    workgroup's scratch."""

    def __init__(self, kernel: Kernel, mat: Materializer, op: SampleOp, b: IRBuilder, tid: SSAValue, row: list[SSAValue],
                 width: int, span: tuple[SSAValue, int] | None = None, scores: tuple[SSAValue, bool] | None = None,
                 scratch: SSAValue | None = None) -> None:  # fmt: skip
        """``span``: the workgroup's (first id, count) of a split row (None: the whole row); ``scores``: the
        split's scratch of ``z`` per row and whether this pass writes it (else reads it: no penalties);
        ``width``: values one tree reduction combines at once; ``scratch``: workgroup memory of ``width`` floats
        per thread to share (None: a new array)."""
        self.kernel, self.mat, self.op, self.row, self.tid = kernel, mat, op, row, tid
        """``row``: the workgroup's row of a matrix of logits, as an index list (empty for a vector)."""
        self.threads = kernel.threads
        if self.threads & (self.threads - 1):
            raise RustyError(f"the sample strategy needs a power-of-two workgroup, got {self.threads}", op)
        self.vocab = static_shape(op.input)[-1]
        base, count = span if span is not None else (b.index(0), self.vocab)
        chunk = -(-count // self.threads)
        self.first = b.minui(b.addi(base, b.muli(tid, b.index(chunk))), b.index(self.vocab))
        self.end = b.minui(b.minui(b.addi(self.first, b.index(chunk)), b.addi(base, b.index(count))), b.index(self.vocab))
        self.options = Options.read(b, mat, op, row)
        self.scores = scores
        self.cursor = b.index(0) if scores is not None and not scores[1] else self._first_pair(b)
        self.width = width
        self.scratch = scratch if scratch is not None else kernel.shared(width * self.threads, F32)

    def _pair(self, b: IRBuilder, j: SSAValue, field: int) -> SSAValue:
        """Field 0 (id) or 1 (count) of pair ``j`` (clamped into the buffer)."""
        j = b.minui(j, b.index(MAX_PENALIZED - 1))
        return self.mat.element(b, self.op.params, [*self.row, b.addi(b.muli(j, b.index(2)), b.index(HEADER_WORDS + field))])

    def _first_pair(self, b: IRBuilder) -> SSAValue:
        """The first pair whose id is at least the thread's first id: a binary search of the sorted ids."""
        first = b.index_cast(self.first, i32)

        def halve(ib: IRBuilder, _: SSAValue, bounds: Sequence[SSAValue]) -> list[SSAValue]:
            lo, hi = bounds
            mid = ib.shrui(ib.addi(lo, hi), ib.index(1))
            open_, id_ = ib.cmpi("ult", lo, hi), self._pair(ib, mid, 0)
            below, above = ib.andi(open_, ib.cmpi("slt", id_, first)), ib.andi(open_, ib.cmpi("sge", id_, first))
            return [ib.select(below, ib.addi(mid, ib.index(1)), lo), ib.select(above, mid, hi)]

        steps = MAX_PENALIZED.bit_length()
        return b.for_loop(b.index(0), b.index(steps), b.index(1), [b.index(0), self.options.pairs], halve)[0]

    def _z(self, b: IRBuilder, i: SSAValue, cursor: SSAValue) -> tuple[SSAValue, SSAValue]:
        """(z of element ``i``, the cursor past it)."""
        o = self.options
        if self.scores is not None and not self.scores[1]:
            return load(b, self.scores[0], [self._score_index(b, i)]), cursor
        raw = self.mat.element(b, self.op.input, [*self.row, i])
        hit = b.andi(b.cmpi("ult", cursor, o.pairs), b.cmpi("eq", self._pair(b, cursor, 0), b.index_cast(i, i32)))
        scaled = b.select(b.cmpf("ogt", raw, b.f32(0.0)), b.divf(raw, o.repetition), b.mulf(raw, o.repetition))
        penalized = b.subf(b.subf(scaled, b.mulf(b.sitofp(self._pair(b, cursor, 1)), o.frequency)), o.presence)
        z = b.mulf(b.select(hit, penalized, raw), o.scale)
        if self.scores is not None:
            store(b, z, self.scores[0], [self._score_index(b, i)])
        return z, b.addi(cursor, b.select(hit, b.index(1), b.index(0)))

    def _score_index(self, b: IRBuilder, i: SSAValue) -> SSAValue:
        return b.addi(b.muli(self.row[0], b.index(self.vocab)), i) if self.row else i

    # --- passes over the thread's chunk -------------------------------------------------------------
    def each(self, b: IRBuilder, inits: Sequence[SSAValue], fold: Fold) -> list[SSAValue]:
        """Fold every ``(i, z, key)`` of the thread's chunk in id order into ``inits``."""

        def body(ib: IRBuilder, i: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
            z, cursor = self._z(ib, i, carried[0])
            return [cursor, *fold(ib, i, z, order_key(ib, z), carried[1:])]

        return list(b.for_loop(self.first, self.end, b.index(1), [self.cursor, *inits], body)[1:])

    def reduce(self, b: IRBuilder, values: Sequence[SSAValue], combine: Sequence[str], lanes: int = 0) -> list[SSAValue]:
        """The workgroup's combination of each thread's ``values``, in every thread (``width`` at a time); with
        ``lanes`` (a power of two), of the first ``lanes`` threads' only."""
        totals: list[SSAValue] = []
        for start in range(0, len(values), self.width):
            totals += self._reduce(b, values[start : start + self.width], combine[start : start + self.width], lanes or self.threads)
        return totals

    def _reduce(self, b: IRBuilder, values: Sequence[SSAValue], combine: Sequence[str], lanes: int) -> list[SSAValue]:
        """A tree over the threads, a loop of halving strides: one barrier in the code, not one per level (Mesa's
        llvmpipe compiles a kernel in time that grows steeply with its barriers)."""
        n, tid = self.threads, self.tid
        for j, v in enumerate(values):
            store(b, v, self.scratch, [b.addi(b.index(j * n), tid)])
        barrier(b)

        def level(lb: IRBuilder, depth: SSAValue, _: Sequence[SSAValue]) -> list[SSAValue]:
            stride = lb.shrui(lb.index(lanes // 2), depth)

            def step(ib: IRBuilder) -> list[SSAValue]:
                for j, name in enumerate(combine):
                    here = ib.addi(ib.index(j * n), tid)
                    store(
                        ib,
                        ib.binary(name, load(ib, self.scratch, [here]), load(ib, self.scratch, [ib.addi(here, stride)])),
                        self.scratch,
                        [here],
                    )
                return []

            lb.if_then(lb.cmpi("ult", tid, stride), step)
            barrier(lb)
            return []

        b.for_loop(b.index(0), b.index(lanes.bit_length() - 1), b.index(1), [], level)
        totals = [load(b, self.scratch, [b.index(j * n)]) for j in range(len(values))]
        barrier(b)  # the scratch is reused
        return totals

    def sums_at(
        self, b: IRBuilder, pivots: Sequence[SSAValue], weight: Weight, extra: tuple[SSAValue, str, Weight] | None = None
    ) -> list[SSAValue]:
        """One pass: the workgroup's sums of ``weight`` over ``key >= p`` for each pivot ``p``, and with ``extra =
        (init, combine, value)`` one more fold of ``value(z, key)`` (``combine`` a binary op name)."""
        inits = [b.f32(0.0)] * len(pivots) + ([extra[0]] if extra else [])

        def fold(fb: IRBuilder, _i: SSAValue, z: SSAValue, key: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
            w = weight(fb, z, key)
            out = [fb.addf(s, masked(fb, fb.cmpi("uge", key, p), w)) for s, p in zip(carried[: len(pivots)], pivots, strict=True)]
            if extra:
                out.append(fb.binary(extra[1], carried[-1], extra[2](fb, z, key)))
            return out

        return self.reduce(b, self.each(b, inits, fold), ["addf"] * len(pivots) + ([extra[1]] if extra else []))

    def bisect(self, b: IRBuilder, rounds: SSAValue, lo: SSAValue, hi: SSAValue, target: SSAValue, weight: Weight) -> SSAValue:
        """The largest key ``t`` in ``[lo, hi]`` whose ``sum of weight(z, key)`` over ``key >= t`` is at
        least ``target`` (that sum at ``lo`` must be): ``rounds`` passes of ``PIVOTS`` pivots each."""

        def round_(rb: IRBuilder, _: SSAValue, bounds: Sequence[SSAValue]) -> list[SSAValue]:
            pivots = spread_pivots(rb, bounds[0], bounds[1], PIVOTS)
            return list(narrow(rb, bounds[0], bounds[1], pivots, self.sums_at(rb, pivots, weight), target))

        return b.for_loop(b.index(0), rounds, b.index(1), [lo, hi], round_)[0]

    # --- the draw -----------------------------------------------------------------------------------
    def find(self, b: IRBuilder, parts: int, goal: Callable[[IRBuilder, SSAValue], SSAValue]) -> tuple[SSAValue, SSAValue]:
        """In every thread: (the first of the ``parts`` sums in the scratch, in order, where their running sum
        crosses ``goal(total)``; what is left of the goal there), walked by thread 0. Where rounding leaves the goal
        past the total: the last positive part, and all of it."""
        where = self.kernel.shared(1, i32)
        rest = self.kernel.shared(1, F32)

        def walk_parts(ib: IRBuilder) -> list[SSAValue]:
            f0 = ib.f32(0.0)

            def add(lb: IRBuilder, t: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
                return [lb.addf(c[0], load(lb, self.scratch, [t]))]

            (whole,) = ib.for_loop(ib.index(0), ib.index(parts), ib.index(1), [f0], add)
            aim = goal(ib, whole)

            def walk(lb: IRBuilder, t: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
                before, found, part_at, left, last, last_sum = c
                part = load(lb, self.scratch, [t])
                positive = lb.cmpf("ogt", part, f0)
                cross = lb.andi(lb.cmpi("eq", found, lb.index(0)), lb.andi(positive, lb.cmpf("ogt", lb.addf(before, part), aim)))
                return [lb.addf(before, part), lb.select(cross, lb.index(1), found), lb.select(cross, t, part_at),
                        lb.select(cross, lb.subf(aim, before), left), lb.select(positive, t, last), lb.select(positive, part, last_sum)]  # fmt: skip

            inits = [f0, ib.index(0), ib.index(0), f0, ib.index(0), f0]
            _, found, part_at, left, last, last_sum = ib.for_loop(ib.index(0), ib.index(parts), ib.index(1), inits, walk)
            crossed = ib.cmpi("ne", found, ib.index(0))
            store(ib, ib.index_cast(ib.select(crossed, part_at, last), i32), where, [ib.index(0)])
            store(ib, ib.select(crossed, left, last_sum), rest, [ib.index(0)])
            return []

        b.if_then(b.cmpi("eq", self.tid, b.index(0)), walk_parts)
        barrier(b)
        found = load(b, where, [b.index(0)]), load(b, rest, [b.index(0)])
        barrier(b)  # the scratch is reused
        return found

    def draw(self, b: IRBuilder, ops: Sequence[Operation], drawn: Weight, goal: Callable[[IRBuilder, SSAValue], SSAValue],
             stores: SSAValue | None = None) -> None:  # fmt: skip
        """Step 6 in the workgroup: the thread where the running kept weight crosses ``goal(S)`` walks its chunk
        to the token and stores it into the region's outputs (only where ``stores`` holds, if given)."""
        (mine,) = self.each(b, [b.f32(0.0)], lambda fb, _i, z, key, c: [fb.addf(c[0], drawn(fb, z, key))])
        store(b, mine, self.scratch, [self.tid])
        barrier(b)
        chosen, remaining = self.find(b, self.threads, goal)
        op = self.op
        outputs = [(m.source, self.kernel.body_args[m.dest]) for m in ops if isinstance(m, bufferization.MaterializeInDestinationOp)]

        def find_token(ib: IRBuilder) -> list[SSAValue]:
            def walk(fb: IRBuilder, i: SSAValue, z: SSAValue, key: SSAValue, c: Sequence[SSAValue]) -> list[SSAValue]:
                before, token, last = c
                w = drawn(fb, z, key)
                here, positive = fb.index_cast(i, i32), fb.cmpf("ogt", w, fb.f32(0.0))
                cross = fb.andi(fb.cmpi("slt", token, fb.i32(0)), fb.andi(positive, fb.cmpf("ogt", fb.addf(before, w), remaining)))
                return [fb.addf(before, w), fb.select(cross, here, token), fb.select(positive, here, last)]

            _, token, last = self.each(ib, [ib.f32(0.0), ib.i32(-1), ib.i32(-1)], walk)
            found = ib.select(ib.cmpi("sge", token, ib.i32(0)), token, last)  # rounding past the chunk's weight: its last kept token
            self.mat.known[op.result] = lambda _b, _idx: found
            at = self.row or [ib.index(0)]
            for value, buf in outputs:
                store(ib, self.mat.element(ib, value, at), buf, at)
            return []

        mine_chosen = b.cmpi("eq", b.index_cast(self.tid, i32), chosen)
        b.if_then(mine_chosen if stores is None else b.andi(mine_chosen, stores), find_token)


def exp_weight(top: SSAValue) -> Weight:
    """``w = exp(z - M)``."""
    return lambda fb, z, _key: fb.value(math.ExpOp(fb.subf(z, top)))


def at_or_above(weight: Weight, tau: SSAValue) -> Weight:
    """``weight`` where ``key >= tau``, else 0."""
    return lambda fb, z, key: masked(fb, fb.cmpi("uge", key, tau), weight(fb, z, key))


def has_rows(op: SampleOp) -> bool:
    return len(static_shape(op.input)) == 2


# --- one workgroup per row ---------------------------------------------------------------------------


def lower_sample(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """One workgroup draws the token of the region's ``linalg_ext.sample``, or of each of its rows (module docstring,
    steps 1-6): ``workgroups (rows) { invocations (N) { ... } }``, every invocation reaching every barrier."""
    op = next(o for o in ops if isinstance(o, SampleOp))
    rows = has_rows(op)
    b, g = kernel.b, kernel.grid_b

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        row = [wivs[0]] if rows else []
        kernel.invocations(wb, [kernel.threads], lambda ib, ivs: _draw(kernel, mat, op, ops, ib, ivs[0], row))

    kernel.workgroups([kernel.grid_dim(b, "x") if rows else b.index(1)], per_workgroup)
    count = mat.dims(g, op.input, kernel.grid_args)[0] if rows else g.index(1)
    return [count, g.index(1), g.index(1)]


def _draw(kernel: Kernel, mat: Materializer, op: SampleOp, ops: Sequence[Operation], b: IRBuilder, tid: SSAValue,
          row: list[SSAValue]) -> None:  # fmt: skip
    s = Sampler(kernel, mat, op, b, tid, row, PIVOTS)
    o = s.options
    f0, one, zero_rounds = b.f32(0.0), b.f32(1.0), b.index(0)
    # 2. the largest and smallest z
    top, bottom = s.reduce(b, s.each(b, [b.f32(float("-inf")), b.f32(float("inf"))],
                                     lambda fb, _i, z, _k, c: [fb.maximumf(c[0], z), fb.minimumf(c[1], z)]), ["maximumf", "minimumf"])  # fmt: skip
    top_key, bottom_key = order_key(b, top), order_key(b, bottom)
    weight = exp_weight(top)
    # 3. top-k
    k_rounds = b.select(o.top_k_on(b, s.vocab), b.index(ROUNDS), zero_rounds)
    tau_k = s.bisect(b, k_rounds, bottom_key, top_key, b.sitofp(o.top_k), lambda fb, _z, _k: one)
    # 4. top-p over what top-k kept
    p_on = o.top_p_on(b)
    kept_weight = at_or_above(weight, tau_k)

    def total(tb: IRBuilder, _: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
        return s.reduce(tb, s.each(tb, [f0], lambda fb, _i, z, key, c: [fb.addf(c[0], kept_weight(fb, z, key))]), ["addf"])

    (kept,) = b.for_loop(zero_rounds, b.select(p_on, b.index(1), zero_rounds), b.index(1), [f0], total)
    tau_p = s.bisect(b, b.select(p_on, b.index(ROUNDS), zero_rounds), tau_k, top_key, b.mulf(o.top_p, kept), kept_weight)
    # 5. min-p, and the threshold (greedy: the largest only); 6. the draw
    s.draw(b, ops, at_or_above(weight, o.threshold(b, top, tau_k, tau_p)), lambda ib, whole: ib.mulf(o.u, whole))


__all__ = ["PIVOTS", "ROUNDS", "Options", "Sampler", "Weight", "at_or_above", "barrier", "bitcast", "exp_weight", "has_rows",
           "lower_sample", "masked", "narrow", "order_key", "spread_pivots"]  # fmt: skip
