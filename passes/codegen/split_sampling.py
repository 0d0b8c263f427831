"""The ``sample`` strategy's split schedule: a workgroup per chunk of each row's logits, a launch per pass.

One workgroup per row (``passes/codegen/sampling.py``, ``lower_sample``) keeps one multiprocessor busy:
on Llama-3-8B's 128,256 logits an H200 spent 1.9 ms a token there (BENCHMARKS.md). With ``split = E``
each row is cut into ``G = ceil(V / E)`` chunks of ``E`` logits, a workgroup each, and the passes of
the bisections (sampling.py's steps 2-6) run as ``SPLIT_KERNELS`` launches in a row, each one pass over
its chunk per workgroup: no workgroup waits for another inside a launch, only the launch order does.

Each launch first combines what the launch before it left, every workgroup alike, then makes its
pass and leaves its own. Two host buffers hold what passes between launches (``split_sample_scratch``):
``z`` per row (the first launch applies the penalties and the temperature and stores it; the rest read
it), and per row two slots, a launch reading the one the launch before wrote and writing the other,
each of ``STATE_WORDS`` (written by workgroup 0: ``M``, the open interval, ``tau_k``, top-p's target)
and ``PARTIAL_WORDS`` per workgroup (its sums at the pivots and one more word), floats as their bits.

The launches (``SPLIT_STEPS``): step 0 counts every key at ``SPLIT_PIVOTS`` pivots spread over all of
them and finds ``M`` (the extra word); steps 1 to 7 narrow top-k's interval by the counts before and
count again; step 8 takes ``tau_k`` from the last counts and starts top-p's interval at it, summing the
kept weight at its pivots and ``W`` (the extra word), which step 9 turns into the target; steps 9 to 15
narrow top-p's interval; step 16 takes ``tau_p`` and sums each workgroup's kept weight; step 17 walks
those sums to the chunk where ``u * S`` falls, and that chunk's workgroup draws as one workgroup does.
A bisection that is off leaves its interval as it is. 15 pivots cut the interval 16-fold, so 8 rounds
pin any 32-bit key; the 15 sums and the extra word are reduced as 15 then 1 (a scratch of 15 floats a
thread: one tree of all 16 filled WebGPU's guaranteed 16 KiB and ran slower on llvmpipe).

Each kind of step is its own kernel, launched for each of its steps with the step as an argument: no
kernel branches on its step. Mesa's llvmpipe (the CI adapter) ran a kernel holding every kind, a branch
each, ten times slower than one per kind, and its compile time grows steeply with a kernel's barriers,
which is why the tree reductions loop over their levels (``Sampler.reduce``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import memref
from xdsl.dialects.builtin import DYNAMIC_INDEX, MemRefType, i32
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.dispatch import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext import SampleOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.kernel import Kernel, load, store
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.codegen.sampling import (
    Sampler,
    at_or_above,
    barrier,
    bitcast,
    exp_weight,
    has_rows,
    narrow,
    order_key,
    spread_pivots,
)

SPLIT_PIVOTS = 15
"""Thresholds counted per bisection launch of the split schedule (16-fold per launch)."""
SPLIT_ROUNDS = 8
"""Bisection launches of the split schedule per threshold: 16 ** 8 = 2 ** 32."""
SPLIT_STEPS = (("first", 0, 1), ("top_k_round", 1, SPLIT_ROUNDS), ("top_p_round", SPLIT_ROUNDS, 2 * SPLIT_ROUNDS),
               ("kept_sums", 2 * SPLIT_ROUNDS, 2 * SPLIT_ROUNDS + 1), ("draw", 2 * SPLIT_ROUNDS + 1, 2 * SPLIT_ROUNDS + 2))  # fmt: skip
"""The split schedule: (kind of step, its first step, the step after its last). A kernel per kind, launched for
each of its steps with the step as an argument: top-k's rounds (the first also finds ``M``), top-p's (the first
also sums ``W``), the workgroups' kept sums, the draw. No kernel branches on its step (Mesa's llvmpipe ran a
kernel holding every kind, a branch each on the step, ten times slower than one per kind)."""
SPLIT_KERNELS = SPLIT_STEPS[-1][2]
"""Launches of the split schedule (2 * SPLIT_ROUNDS + 2)."""
CHUNK_PER_THREAD = 8
"""Logits per thread of a split workgroup's chunk, unless the vocabulary needs more (``sample_split``)."""
STATE_WORDS = 5
"""Words of a split row's state in each scratch slot: ``M``, the open interval's ``lo`` and ``hi`` keys,
``tau_k``, and top-p's target weight (floats as their bits)."""
TOP, LO, HI, TAU_K, TARGET = range(STATE_WORDS)
PARTIAL_WORDS = SPLIT_PIVOTS + 1
"""Words a split workgroup leaves per launch: its sums at the pivots, and one more (``M``, ``W`` or the
kept weight, by kind of step)."""


def sample_split(vocab: int, threads: int) -> int:
    """The split (logits per workgroup) for a vocabulary of ``vocab`` over workgroups of ``threads``: ``threads *
    CHUNK_PER_THREAD``, more where that would make more chunks than threads (the combine gives each chunk a thread);
    0 (one workgroup per row) where one chunk holds the vocabulary."""
    split = threads * max(CHUNK_PER_THREAD, -(-vocab // (threads * threads)))
    return split if vocab > split else 0


def _chunks(op: SampleOp, split: int) -> int:
    """``G``: the chunks of ``split`` logits in a row of ``op``'s."""
    return -(-static_shape(op.input)[-1] // split)


def split_sample_scratch(b: IRBuilder, ops: Sequence[Operation], args: dict[SSAValue, SSAValue],
                         config: LoweringConfigAttr) -> list[SSAValue]:  # fmt: skip
    """The host buffers the split schedule's kernels share: ``z`` (f32, a row of the vocabulary per row), and per
    row two slots (a launch reads the one the launch before it wrote, and writes the other) of ``STATE_WORDS`` then
    ``PARTIAL_WORDS`` for each of the ``G`` workgroups (i32: floats as their bits)."""
    op = next(o for o in ops if isinstance(o, SampleOp))
    rows = Materializer(args).dims(b, op.input, args)[0] if has_rows(op) else b.index(1)
    z = b.value(memref.AllocOp([b.muli(rows, b.index(static_shape(op.input)[-1]))], [], MemRefType(F32, [DYNAMIC_INDEX])))
    slots = 2 * _slot_words(_chunks(op, config.config.split))
    state = b.value(memref.AllocOp([b.muli(rows, b.index(slots))], [], MemRefType(i32, [DYNAMIC_INDEX])))
    return [z, state]


def _slot_words(groups: int) -> int:
    return STATE_WORDS + groups * PARTIAL_WORDS


def lower_sample_split(kernel: Kernel, mat: Materializer, ops: Sequence[Operation], kind: str) -> list[SSAValue]:
    """The split schedule's kernel for one ``kind`` of step (``SPLIT_STEPS``; module docstring), launched for each of
    those steps with the step as its last argument: ``workgroups (G, rows) { invocations (N) { ... } }`` over the
    scratch buffers of ``split_sample_scratch`` (``kernel.extra_args``)."""
    op = next(o for o in ops if isinstance(o, SampleOp))
    rows = has_rows(op)
    split, groups = kernel.config.split, _chunks(op, kernel.config.split)
    if split % kernel.threads or groups > kernel.threads:
        raise RustyError(f"a split sample needs a split that is a multiple of the {kernel.threads} invocations and at most "
                         f"{kernel.threads} chunks of the {static_shape(op.input)[-1]} logits, got split = {split} ({groups} chunks)", op)  # fmt: skip
    b, g = kernel.b, kernel.grid_b

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        chunk, row = wivs[0], [wivs[1]] if rows else []
        kernel.invocations(
            wb, [kernel.threads], lambda ib, ivs: _SplitStep(kernel, mat, op, ops, ib, ivs[0], chunk, row, groups, kind).build()
        )

    kernel.workgroups([b.index(groups), kernel.grid_dim(b, "y") if rows else b.index(1)], per_workgroup)
    count = mat.dims(g, op.input, kernel.grid_args)[0] if rows else g.index(1)
    return [g.index(groups), count, g.index(1)]


class _SplitStep:
    """One workgroup of a split schedule's kernel: a method per kind of step."""

    def __init__(self, kernel: Kernel, mat: Materializer, op: SampleOp, ops: Sequence[Operation], b: IRBuilder, tid: SSAValue,
                 chunk: SSAValue, row: list[SSAValue], groups: int, kind: str) -> None:  # fmt: skip
        self.kernel, self.mat, self.op, self.ops, self.b, self.kind = kernel, mat, op, ops, b, kind
        self.tid, self.chunk, self.row, self.groups = tid, chunk, row, groups
        self.scores, self.state, self.step = kernel.extra_args
        self.width = 1 if kind == "draw" else SPLIT_PIVOTS  # the draw reduces one word at a time
        self.scratch = kernel.shared(self.width * kernel.threads, F32)

    def build(self) -> None:
        """The body of this kind of step (``SPLIT_STEPS``)."""
        getattr(self, self.kind)(self.b)

    def sampler(self, b: IRBuilder, writes_scores: bool) -> Sampler:
        split = self.kernel.config.split
        span = (b.muli(self.chunk, b.index(split)), split)
        return Sampler(self.kernel, self.mat, self.op, b, self.tid, self.row, self.width, span, (self.scores, writes_scores), self.scratch)

    def slot(self, b: IRBuilder, back: int) -> SSAValue:
        """The first word of this row's slot that the launch ``back`` steps before this one wrote (0: this one's)."""
        row = self.row[0] if self.row else b.index(0)
        parity = b.remui(b.addi(self.step, b.index(back)), b.index(2))  # (step - back) % 2, back < 2
        return b.muli(b.addi(b.muli(row, b.index(2)), parity), b.index(_slot_words(self.groups)))

    def word(self, b: IRBuilder, slot: SSAValue, w: int, as_float: bool = False) -> SSAValue:
        value = load(b, self.state, [b.addi(slot, b.index(w))])
        return bitcast(b, value, F32) if as_float else value

    def combine(self, b: IRBuilder, s: Sampler, extra: str) -> tuple[list[SSAValue], SSAValue]:
        """The sums at the pivots the launch before this one counted, and its extra word combined by ``extra``,
        from every workgroup's partial words (thread ``t`` reads workgroup ``t``'s)."""
        identity = {"addf": 0.0, "maximumf": float("-inf")}
        mine, base = self.theirs(b)
        values = [b.select(mine, self.word(b, base, w, as_float=True), b.f32(x))
                  for w, x in enumerate([0.0] * SPLIT_PIVOTS + [identity[extra]])]  # fmt: skip
        totals = s.reduce(b, values, ["addf"] * SPLIT_PIVOTS + [extra], 1 << (self.groups - 1).bit_length())
        return totals[:SPLIT_PIVOTS], totals[-1]

    def theirs(self, b: IRBuilder) -> tuple[SSAValue, SSAValue]:
        """(whether thread ``t`` stands for a workgroup, the first partial word workgroup ``t`` left in the launch before)."""
        who = b.minui(self.tid, b.index(self.groups - 1))
        base = b.addi(self.slot(b, 1), b.addi(b.index(STATE_WORDS), b.muli(who, b.index(PARTIAL_WORDS))))
        return b.cmpi("ult", self.tid, b.index(self.groups)), base

    def leave(self, b: IRBuilder, sums: Sequence[SSAValue], state: dict[int, SSAValue]) -> None:
        """Thread 0 stores the workgroup's partial words; thread 0 of workgroup 0 the row's ``state`` too."""
        slot = self.slot(b, 0)

        def stores(base: SSAValue, values: Sequence[tuple[int, SSAValue]]) -> Callable[[IRBuilder], list[SSAValue]]:
            def write(ib: IRBuilder) -> list[SSAValue]:
                for w, v in values:
                    store(ib, bitcast(ib, v, i32) if v.type == F32 else v, self.state, [ib.addi(base, ib.index(w))])
                return []

            return write

        first = b.cmpi("eq", self.tid, b.index(0))
        partials = b.addi(slot, b.addi(b.index(STATE_WORDS), b.muli(self.chunk, b.index(PARTIAL_WORDS))))
        b.if_then(first, stores(partials, list(enumerate(sums))))
        b.if_then(b.andi(first, b.cmpi("eq", self.chunk, b.index(0))), stores(slot, list(state.items())))

    def first(self, b: IRBuilder) -> None:
        """Step 0: ``z`` into the scratch, top-k's first round over every key, and ``M``."""
        s = self.sampler(b, writes_scores=True)
        lo, hi = b.i32(0), b.i32(-1)
        sums = s.sums_at(b, spread_pivots(b, lo, hi, SPLIT_PIVOTS), _one, (b.f32(float("-inf")), "maximumf", lambda fb, z, _k: z))
        self.leave(b, sums, {LO: lo, HI: hi})

    def top_k_round(self, b: IRBuilder) -> None:
        """Steps 1 to ``SPLIT_ROUNDS - 1``: the last round's counts narrow top-k's interval, then this round's (``M``
        rides along as the extra word)."""
        s = self.sampler(b, writes_scores=False)
        o = s.options
        prev = self.slot(b, 1)
        found, top = self.combine(b, s, "maximumf")
        lo, hi = self._narrowed(b, self.word(b, prev, LO), self.word(b, prev, HI), found, b.sitofp(o.top_k), o.top_k_on(b, s.vocab))
        sums = s.sums_at(b, spread_pivots(b, lo, hi, SPLIT_PIVOTS), _one)
        self.leave(b, [*sums, top], {TOP: top, LO: lo, HI: hi})

    def top_p_round(self, b: IRBuilder) -> None:
        """Steps ``SPLIT_ROUNDS`` to ``2 * SPLIT_ROUNDS - 1``: at the first, top-k's last counts give ``tau_k`` and
        top-p's interval starts at it; later, top-p's last sums narrow it (the first's ``W`` gives the target).
        Then this round's sums of kept weight, and ``W`` as the extra word."""
        s = self.sampler(b, writes_scores=False)
        o = s.options
        prev, f0 = self.slot(b, 1), b.f32(0.0)
        found, extra = self.combine(b, s, "addf")
        top = self.word(b, prev, TOP, as_float=True)
        starts = b.cmpi("eq", self.step, b.index(SPLIT_ROUNDS))
        target = b.select(
            b.cmpi("eq", self.step, b.index(SPLIT_ROUNDS + 1)), b.mulf(o.top_p, extra), self.word(b, prev, TARGET, as_float=True)
        )
        lo, hi = self._narrowed(b, self.word(b, prev, LO), self.word(b, prev, HI), found, b.select(starts, b.sitofp(o.top_k), target),
                                b.select(starts, o.top_k_on(b, s.vocab), o.top_p_on(b)))  # fmt: skip
        tau_k = b.select(starts, lo, self.word(b, prev, TAU_K))
        lo, hi, target = b.select(starts, tau_k, lo), b.select(starts, order_key(b, top), hi), b.select(starts, f0, target)
        kept = at_or_above(exp_weight(top), tau_k)
        sums = s.sums_at(b, spread_pivots(b, lo, hi, SPLIT_PIVOTS), kept, (f0, "addf", kept))
        self.leave(b, sums, {TOP: top, LO: lo, HI: hi, TAU_K: tau_k, TARGET: target})

    def kept_sums(self, b: IRBuilder) -> None:
        """Step ``2 * SPLIT_ROUNDS``: top-p's last sums give ``tau_p`` (``lo``); each workgroup's kept weight."""
        s = self.sampler(b, writes_scores=False)
        o = s.options
        prev, f0 = self.slot(b, 1), b.f32(0.0)
        found, _ = self.combine(b, s, "addf")
        top, tau_k, target = self.word(b, prev, TOP, as_float=True), self.word(b, prev, TAU_K), self.word(b, prev, TARGET, as_float=True)
        tau_p, _ = self._narrowed(b, self.word(b, prev, LO), self.word(b, prev, HI), found, target, o.top_p_on(b))
        drawn = at_or_above(exp_weight(top), o.threshold(b, top, tau_k, tau_p))
        (mine,) = s.reduce(b, s.each(b, [f0], lambda fb, _i, z, key, c: [fb.addf(c[0], drawn(fb, z, key))]), ["addf"])
        self.leave(b, [*[f0] * SPLIT_PIVOTS, mine], {TOP: top, LO: tau_p, TAU_K: tau_k})

    def draw(self, b: IRBuilder) -> None:
        """The last step: the chunk where ``u * S`` falls (a walk over the workgroups' kept weights), then the thread,
        then the token, stored by the chunk's workgroup."""
        s = self.sampler(b, writes_scores=False)
        prev = self.slot(b, 1)
        top = self.word(b, prev, TOP, as_float=True)
        drawn = at_or_above(exp_weight(top), s.options.threshold(b, top, self.word(b, prev, TAU_K), self.word(b, prev, LO)))
        mine, base = self.theirs(b)
        store(b, b.select(mine, self.word(b, base, PARTIAL_WORDS - 1, as_float=True), b.f32(0.0)), s.scratch, [self.tid])
        barrier(b)
        chunk, rest = s.find(b, self.groups, lambda ib, whole: ib.mulf(s.options.u, whole))
        s.draw(b, self.ops, drawn, lambda _ib, _whole: rest, b.cmpi("eq", b.index_cast(self.chunk, i32), chunk))

    def _narrowed(self, b: IRBuilder, lo: SSAValue, hi: SSAValue, sums: Sequence[SSAValue], target: SSAValue,
                  on: SSAValue) -> tuple[SSAValue, SSAValue]:  # fmt: skip
        """``narrow`` of ``[lo, hi]`` by the sums at its pivots where the bisection is ``on``, else ``(lo, hi)``."""
        new_lo, new_hi = narrow(b, lo, hi, spread_pivots(b, lo, hi, SPLIT_PIVOTS), sums, target)
        return b.select(on, new_lo, lo), b.select(on, new_hi, hi)


def _one(b: IRBuilder, _z: SSAValue, _key: SSAValue) -> SSAValue:
    """A count's weight."""
    return b.f32(1.0)


__all__ = ["SPLIT_KERNELS", "SPLIT_PIVOTS", "SPLIT_ROUNDS", "SPLIT_STEPS", "lower_sample_split", "sample_split", "split_sample_scratch"]
