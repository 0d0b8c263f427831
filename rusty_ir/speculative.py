"""Speculative decoding: draft a few tokens cheaply, check them all in one multi-token step of the model.

Each round, a *drafter* proposes up to K tokens that may follow the text so far; the model runs the
last accepted token and the K drafted ones as one step (the ``@verify`` entry, ``build_module(...,
verify_entry=True)``: a prefill-like step whose result is the greedy next token after *every* row, so
only K + 1 token ids leave the GPU). Drafted token ``i`` is accepted when it equals the model's own
greedy token after the tokens before it; the round yields the longest agreeing prefix plus the model's
token after it (the first disagreement's correction, or a bonus token when all K agree), so every
round makes at least one token and the output is the one plain greedy decoding gives.

KV cache: the step writes the rows of all K + 1 positions. Rows past the accepted tokens are stale;
``backend.truncate(length)`` gives a paged cache's blocks past them back to its pool through the
block table (nothing copied or cleared), and the next round's step starts at the first position not
accepted, so it writes those rows again before any kernel reads them (attention is causal).

Drafters:

- ``lookup`` (prompt lookup): the last n tokens (n = 3, then 2) are looked up among the earlier
  tokens of the prompt and the text generated so far; the K tokens that followed their most recent
  earlier occurrence are the draft (a copy that reaches the end of the text continues into itself, so a
  repeating span is drafted to its full length). No second model: it pays off where the answer repeats the input
  (summaries, code edits, extraction). A single matching token is no match (``LOOKUP_MIN_NGRAM``).
- ``draft``: a smaller model with the same tokenizer generates K tokens greedily. It keeps its own KV
  cache across rounds (and generations), so a round prefills only the tokens it has not seen (the
  model's correction or bonus token, and the last draft when all were accepted).

A round with no draft (lookup found no match) runs plain decode steps. On a backend with ``decode_stream``
(and, sampled, without penalties), they run as one stream (each step queued behind the one whose token is being read, plain greedy
decoding's pace) that goes on until the lookup matches the text so far (``decode_stream``'s ``until``). Where the
token being read might give a match (the token before it came earlier, followed by at most ``HOLD_FOLLOWERS``
different tokens), the step after it is held until it is read (``hold``), so that a match ends the stream with that
token and the next round drafts after it; elsewhere the stream ends one token later (the step already queued, not
wasted). On an H200 a synchronous Llama-3-8B decode step took 2.72 ms, a streamed one 2.23-2.28 (BENCHMARKS.md).
Otherwise (penalized sampling, or a backend without streams) each round is one decode step. Rounds name the steps likely to follow
them to a backend with ``expect`` (the wgpu runtime records them while it waits for the round: the round after
every draft kept, the decode step after a miss; a stream about to end names the round after it, a single decode
step the steps that may follow it).

Draft length (``adaptive``, the default): K is the most a round drafts, and at most the backend's ``fast_verify``
less one (the wgpu runtime's steps of more tokens leave the few-token kernels for the prefill's tiles). A round that
kept any of its drafts drafts K next time, and a wholly rejected one half as many; when a round's single drafted
token is rejected, the next ``backoff`` rounds are plain decode steps (1, 8, then ``MAX_BACKOFF``:
``BACKOFF_GROWTH``; reset by any accepted draft), the first tokens of the next stream (without one, single steps). A
verification step costs more than a decode step (1.1x on Llama-3-8B at 2 tokens, 1.4x at 5, BENCHMARKS.md), so a
drafter that keeps missing would otherwise make decoding slower; with the backoff, a drafter that never agrees costs
one verification step per ``MAX_BACKOFF`` tokens.

Sampling (temperature > 0, top-k/top-p/min-p, penalties): the standard rejection rule keeps the sampled
distribution. For a draft token ``x`` proposed with probability ``q(x)``, accept it with probability
``min(1, p(x) / q(x))`` (``p``: the model's sampling distribution at that row, after temperature, the
truncations and the penalties); on rejection draw from ``normalize(max(0, p - q))`` and end the round.
Both drafters here are deterministic (prompt lookup copies, the draft model drafts greedily), so ``q`` is a
point mass at ``x``: accept with probability ``p(x)``, and on rejection draw from ``p`` with ``x`` removed and
renormalized. Drawing ``y ~ p`` and accepting when ``y == x`` (else emitting ``y``) is exactly that rule:
P(accept) = p(x), and given rejection ``y`` has law ``p(y) / (1 - p(x))`` over ``y != x``. That is what a
round does: the ``@verify_sample`` entry draws a token after every row on the device (``tfm.row_sample``: the
sampling kernel, a workgroup per row), row ``i`` under its own packed words (``Sampler.ahead``: the session's
next uniform numbers, and the penalty window as if ``draft[:i]`` were kept, the only case where row ``i``'s
draw is used), and a draft is kept while it equals its row's draw. Only the rows used take their uniform
number from the generator (``Sampler.take``), one per emitted token as plain sampled decoding draws them, so
with the same seed the tokens are those plain sampling gives (up to the verify step's float rounding
differing from a decode step's), and the distribution is the model's. Only ``K + 1`` token ids leave the GPU:
drawing the rows on the host from the read-back logits took 6 ms a row at SmolLM2's 49152-token vocabulary
and 16 ms at Llama-3's 128256 on the 2-core CI machine (numpy's sort), several H200 decode steps a row.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rusty_ir.errors import RustyError
from rusty_ir.sampling import Sampler, streams

__all__ = [
    "DEFAULT_DRAFT_TOKENS",
    "MAX_DRAFT_TOKENS",
    "SPECULATE_MODES",
    "DraftLength",
    "DraftModel",
    "PromptLookup",
    "SpeculativeOptions",
    "SpeculativeStats",
    "Speculator",
    "check_same_vocabulary",
    "common_prefix",
    "cpu_adapter_warning",
    "describe",
]

SPECULATE_MODES = ("lookup", "draft")
"""``--speculate``: prompt lookup (n-grams of the text so far), or a draft model (``--draft MODEL``)."""
MAX_DRAFT_TOKENS = 32
"""The most tokens one round may draft (``--draft-tokens``): the ``@verify`` step is sized for this many
plus one (``rusty_ir.backends.runtime.model.MAX_VERIFY_TOKENS``)."""
DEFAULT_DRAFT_TOKENS = 5
"""Tokens drafted per round unless ``--draft-tokens`` says otherwise."""
LOOKUP_MAX_NGRAM = 3
"""Prompt lookup matches the last 3 tokens first, then fewer."""
LOOKUP_MIN_NGRAM = 2
"""Prompt lookup drafts only after a match of at least 2 tokens. In the recorded SmolLM2 answers
(``scripts/data``), a draft after a 1-token match had its first token right 23-29% of the time, after a 2-token
one 65-69%; with rounds without a draft streaming, ``scripts/speculation_model.py`` with the H200's step costs
gives 1.51x / 1.28x (recorded / held-out text, K = 5) drafting after 2-token matches, 1.43x / 1.23x after 1-token
ones, 1.34x / 1.23x after 3-token ones."""
MAX_BACKOFF = 64
"""The most plain decode steps between two tries of a drafter whose single drafted token was rejected (adaptive
draft length): one verification step of about 1.3 decode steps per 64 tokens costs well under 1% of plain decoding."""

HOLD_FOLLOWERS = 2
"""A decode stream holds its next step (``_Growing.hold``) before a token whose token before has been followed by at
most this many different tokens: after a rarer token the next one more often repeats what followed it. On the
recorded answers (``scripts/speculation_model.py`` with an H100's Llama-3-8B step costs) holding wherever a match
is possible gave 1.789x / 1.437x (input-heavy / held-out), at most 1, 2 or 4 followers 1.803x / 1.435x, 1.808x /
1.450x, 1.791x / 1.444x, never holding 1.736x / 1.411x (BENCHMARKS.md, issue 15)."""

BACKOFF_GROWTH = 8
"""How much longer each back-off is than the one before (1, 8, 64). Doubling (1, 2, 4, ...) ran six single-draft
verification steps before its first wait of 64: on an H200, a drafter that never agrees made 128 Llama-3-8B tokens
0.936x plain decoding that way (BENCHMARKS.md, issue 15)."""


@dataclass(frozen=True)
class SpeculativeOptions:
    """How to speculate: ``mode`` (``lookup`` or ``draft``) and ``draft_tokens`` (K, 1..32) per round."""

    mode: str
    draft_tokens: int = DEFAULT_DRAFT_TOKENS
    adaptive: bool = True
    """Draft fewer tokens, or none for a while, after rejections (``DraftLength``); False: always K."""

    def __post_init__(self) -> None:
        if self.mode not in SPECULATE_MODES:
            raise RustyError(f"unknown --speculate mode '{self.mode}' (known: {', '.join(SPECULATE_MODES)})")
        k = self.draft_tokens
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_DRAFT_TOKENS:
            raise RustyError(f"--draft-tokens must be from 1 to {MAX_DRAFT_TOKENS}, got {k!r}")


@dataclass
class SpeculativeStats:
    """What speculation did in one generation (``GenerationResult.speculative``)."""

    mode: str
    draft_tokens: int
    """K: tokens asked of the drafter per round."""
    drafted: int = 0
    """Tokens drafted (and checked) in all."""
    accepted: int = 0
    """Drafted tokens the model agreed with."""
    verify_steps: int = 0
    """Multi-token verification steps run."""
    plain_steps: int = 0
    """Rounds without a draft (no lookup match, or no room left), run as ordinary decode steps."""

    def to_dict(self) -> dict[str, Any]:
        """The counts, with ``acceptance_rate`` (accepted / drafted) and ``tokens_per_verify_step``
        (tokens the verification steps produced, accepted drafts plus one each, per step)."""
        return {
            "mode": self.mode,
            "draft_tokens": self.draft_tokens,
            "drafted": self.drafted,
            "accepted": self.accepted,
            "acceptance_rate": round(self.accepted / self.drafted, 4) if self.drafted else None,
            "verify_steps": self.verify_steps,
            "plain_steps": self.plain_steps,
            "tokens_per_verify_step": round((self.accepted + self.verify_steps) / self.verify_steps, 4) if self.verify_steps else None,
        }


class PromptLookup:
    """Drafts from the text itself: the tokens after the most recent earlier occurrence of the last n tokens
    (n from ``max_ngram`` down to ``min_ngram``). The index of n-grams grows with the sequence: each call indexes
    only the tokens added since the last one (a sequence that does not go on from the last one, by its length or
    its last indexed token, starts a new index)."""

    def __init__(self, max_ngram: int = LOOKUP_MAX_NGRAM, min_ngram: int = LOOKUP_MIN_NGRAM) -> None:
        self.max_ngram, self.min_ngram = max_ngram, min_ngram
        self._start()

    def _start(self) -> None:
        """Forget every sequence indexed so far."""
        self.index: list[dict[tuple[int, ...], int]] = [{} for _ in range(self.max_ngram + 1)]
        """``index[n][ngram]``: where the tokens after its latest occurrence start."""
        self.indexed = 0
        """N-grams ending before this position are indexed (one that ends at the last token has no continuation yet)."""
        self._last: int | None = None
        """The token at ``indexed - 1``: a sequence with another token there is a new one."""
        self.followers: dict[tuple[int, ...], set[int]] = {}
        """The tokens seen after each indexed n-gram one shorter than ``min_ngram`` (``could_match_next``)."""

    def _match(self, seq: Sequence[int]) -> int | None:
        """Index the n-grams of ``seq`` not indexed yet; where the tokens after the longest match of its end start."""
        self._index(seq)
        for n in range(min(self.max_ngram, len(seq)), self.min_ngram - 1, -1):
            at = self.index[n].get(tuple(seq[-n:]))
            if at is not None:
                return at
        return None

    def _index(self, seq: Sequence[int]) -> None:
        """Index the n-grams of ``seq`` not indexed yet."""
        if self.indexed and (len(seq) <= self.indexed or seq[self.indexed - 1] != self._last):
            self._start()
        for end in range(self.indexed, len(seq) - 1):
            for n in range(1, min(self.max_ngram, end + 1) + 1):
                self.index[n][tuple(seq[end - n + 1 : end + 1])] = end + 1
                if n == self.min_ngram - 1:
                    self.followers.setdefault(tuple(seq[end - n + 1 : end + 1]), set()).add(int(seq[end + 1]))
        self.indexed = max(self.indexed, len(seq) - 1)
        self._last = int(seq[self.indexed - 1]) if self.indexed else None

    def matches(self, seq: Sequence[int]) -> bool:
        """Whether ``propose`` would draft after ``seq``."""
        return self._match(seq) is not None

    def could_match_next(self, seq: Sequence[int]) -> bool:
        """Whether ``propose`` is likely to draft after ``seq`` and one more token: its last ``min_ngram - 1`` tokens
        occur earlier followed by at most ``HOLD_FOLLOWERS`` different tokens (a match of ``min_ngram`` ending at the
        next token is possible, and likely where the text copies a span)."""
        n = self.min_ngram - 1
        if n <= 0:
            return True
        self._index(seq)
        return len(seq) >= n and 0 < len(self.followers.get(tuple(seq[-n:]), ())) <= HOLD_FOLLOWERS

    def propose(self, seq: Sequence[int], k: int) -> list[int]:
        at = self._match(seq)
        if at is None:
            return []
        out: list[int] = []  # what followed; a copy that reaches the end goes on into itself (a repeating span repeats on)
        for j in range(at, at + k):
            out.append(seq[j] if j < len(seq) else out[j - len(seq)])
        return out


class DraftModel:
    """Drafts with a second backend (same tokenizer), greedily; its KV cache holds ``tokens`` across rounds. After
    the prefill of what it has not seen, its K - 1 decode steps run as one stream where the backend has one."""

    def __init__(self, backend: Any, vocab: int | None = None) -> None:
        self.backend = backend
        self.vocab = vocab
        """The model's vocabulary rows: a drafted id past them ends the draft."""
        self.tokens: list[int] = []

    def propose(self, seq: Sequence[int], k: int) -> list[int]:
        b = self.backend
        k = min(k, b.context_length - len(seq) + 1)  # the draft runs seq[-1] and k - 1 drafted tokens
        if k <= 0:
            return []
        cached = min(common_prefix(self.tokens, seq), len(seq) - 1)
        self.tokens = []  # unknown until the steps are done
        if cached == 0:
            b.reset()
        elif hasattr(b, "truncate"):
            b.truncate(cached)
        rest = np.asarray(seq[cached:], np.int32)
        chunk = getattr(b, "max_prefill", None) or rest.size
        token = 0
        for first in range(0, rest.size, chunk):
            token = b.prefill(rest[first : first + chunk], cached + first)
        out = [int(token)]
        if streams(b, None):  # each step queued while the one before runs
            out += [int(t) for t in b.decode_stream(out[0], len(seq), k - 1)]
        else:
            for i in range(k - 1):
                out.append(int(b.decode(out[-1], len(seq) + i)))
        self.tokens = [*seq, *out[:-1]]
        if self.vocab is not None:
            out = out[: next((i for i, t in enumerate(out) if t >= self.vocab), len(out))]
        return out


class Speculator:
    """Speculative decoding for ``rusty_ir.generate.Session``: the options and, for ``draft``, the draft backend."""

    def __init__(self, options: SpeculativeOptions, draft_backend: Any = None, vocab: int | None = None) -> None:
        if options.mode == "draft" and draft_backend is None:
            raise RustyError("--speculate draft needs a draft model: give --draft MODEL")
        self.options = options
        self.draft = DraftModel(draft_backend, vocab) if draft_backend is not None else None

    def with_draft_tokens(self, k: int) -> Speculator:
        """The same drafter (and draft model's cache) with ``k`` tokens per round."""
        other = Speculator.__new__(Speculator)
        other.options, other.draft = SpeculativeOptions(self.options.mode, k, self.options.adaptive), self.draft
        return other

    def check(self, backend: Any, sampled: bool = False) -> None:
        """RustyError unless ``backend`` can verify (has the ``@verify`` entry) and, when ``sampled``, sample a
        verification step's rows (the ``@verify_sample`` entry)."""
        if not getattr(backend, "can_verify", False):
            raise RustyError(f"the {backend.name} backend was built without the verify entry; speculative decoding needs it "
                             "(load the model with speculate=... / rusty run --speculate)")  # fmt: skip
        if sampled and not getattr(backend, "can_verify_sample", False):
            raise RustyError(f"the {backend.name} backend was built without the verify_sample entry; sampled speculative decoding "
                             "needs it (compile with both verify_entry and sampling_entries; rusty compile --sampling --speculate)")  # fmt: skip

    def tokens(self, backend: Any, prompt: Sequence[int], token: int, count: int, stats: SpeculativeStats,
               sampler: Sampler | None = None) -> Generator[int, None, None]:  # fmt: skip
        """The tokens after ``token`` (the prefill's, to run at position ``len(prompt)``), up to ``count``, made in
        rounds of one verification step (module docstring). Greedy (``sampler`` None): what plain greedy decoding
        gives. Sampled: each row drawn with ``sampler`` (its next uniform number and penalty window; the caller
        ``accept``s each yielded token before asking for the next), a draft kept while it equals the draw."""
        drafter = self.draft if self.options.mode == "draft" else PromptLookup()
        assert drafter is not None
        lookup = drafter if isinstance(drafter, PromptLookup) else None
        ready = (lambda seq: True) if lookup is None else lookup.matches  # whether a round would draft
        could = None if lookup is None else lookup.could_match_next  # whether a stream holds (``_Growing``)
        seq = [*prompt, token]  # seq[-1] is the next token to run, at position len(seq) - 1
        made = 0
        # the most a round drafts: K, and the backend's largest cheap verify step (``fast_verify``) less one
        limit = min(getattr(backend, "fast_verify", getattr(backend, "max_verify", MAX_DRAFT_TOKENS + 1)), MAX_DRAFT_TOKENS + 1) - 1
        stats.draft_tokens = most = min(self.options.draft_tokens, limit)
        length = DraftLength(most, self.options.adaptive)
        ahead = getattr(backend, "expect", None)  # steps to record ahead, of the sampling entries when sampled
        expect = None if ahead is None else lambda steps: ahead(steps, sampler is not None)
        while made < count:
            pos = len(seq) - 1
            k = min(length.next(), count - made - 1, backend.context_length - pos - 1)  # length.next() <= most <= limit
            draft = drafter.propose(seq, k)[:k] if k > 0 else []
            if not draft:
                if streams(backend, sampler):  # until the back-off is waited and the drafter would draft (sampled:
                    # each step's words drawn as it is queued, as plain sampled decoding draws them)
                    # the stream ends before a round of length.k drafts, at the position after its last token
                    ending = None if expect is None else lambda: expect([(length.k + 1, len(seq))])
                    # held before a token that might end the stream: the round after it or the stream's next step
                    named = None if expect is None else lambda: expect([(length.k + 1, len(seq)), (1, len(seq))])
                    until = _Growing(seq, length.drain(), ready, ending, could, named)
                    words = None if sampler is None else sampler.words
                    plain: Any = backend.decode_stream(seq[-1], pos, count - made, sampling=words, until=until, hold=until.hold)
                else:  # one step (a back-off's rounds are counted down by ``length.next``)
                    if expect is not None:  # the likely next steps: another plain one, or a round of length.k drafts
                        expect([(1, pos + 1), (length.k + 1, pos + 1)])
                    plain = [backend.decode(seq[-1], pos) if sampler is None else backend.decode_sample(seq[-1], pos, sampler.words())]
                    seq.append(int(plain[0]))
                for t in plain:  # counted as they come: a generation that stops (EOS) closes the stream early
                    stats.plain_steps += 1
                    made += 1
                    yield int(t)
                continue
            step = np.asarray([seq[-1], *draft], np.int32)
            stats.verify_steps += 1
            stats.drafted += len(draft)
            if expect is not None:  # the likely next steps: a round after every draft kept, a decode step after a miss
                expect([(length.most + 1, pos + len(draft) + 1), (1, pos + 1)])
            if sampler is None:
                rows = backend.verify(step, pos)
            else:  # row i drawn on the device under its own words: the penalty window as if draft[:i] were kept
                rows = backend.verify_sample(step, pos, sampler.ahead(draft))
            kept = 0
            for i, t in enumerate(int(x) for x in rows):
                if sampler is not None:
                    sampler.take()  # the row's u, drawn as plain sampling draws one a token (rows not used draw none)
                agrees = i < len(draft) and t == draft[i]
                if agrees:
                    stats.accepted += 1
                    kept += 1
                elif i < len(draft) and hasattr(backend, "truncate"):
                    backend.truncate(pos + i + 1)  # rows of the rejected drafts: their blocks go back
                seq.append(t)
                made += 1
                yield t
                if not agrees:
                    break
            length.update(kept, len(draft))


class DraftLength:
    """How many tokens the next round drafts (module docstring, "Draft length"): at most ``most``; with
    ``adaptive`` False, always ``most``."""

    def __init__(self, most: int, adaptive: bool = True) -> None:
        self.most, self.adaptive = most, adaptive
        self.k = most
        self.wait = 0  # plain rounds still to run before drafting again
        self.backoff = 1

    def next(self) -> int:
        """Tokens to draft this round (0: a plain decode step)."""
        if self.wait:
            self.wait -= 1
            return 0
        return self.k

    def drain(self) -> int:
        """The plain rounds still to wait, all taken now (the caller runs them together)."""
        wait, self.wait = self.wait, 0
        return wait

    def update(self, kept: int, drafted: int) -> None:
        """After a round that kept ``kept`` of its ``drafted`` tokens. Any kept draft restores ``most``: on an H100,
        with synchronous steps recorded ahead, ``scripts/speculation_model.py`` gave 1.746x against 1.693x at K = 6
        (recorded text) and 1.409x against 1.383x (held-out) for drafting one more than was kept (BENCHMARKS.md)."""
        if not self.adaptive or not drafted:
            return
        if kept:
            self.k = self.most
            self.wait, self.backoff = 0, 1
        elif drafted > 1:
            self.k = max(1, drafted // 2)
        else:
            self.wait, self.backoff = self.backoff, min(MAX_BACKOFF, BACKOFF_GROWTH * self.backoff)


class _Growing:
    """A plain round's ``until`` for ``decode_stream``: each token, as it is read, joins ``seq``; the stream ends once
    ``wait`` tokens came and ``ready(seq)`` says that the drafter would draft, when ``ending`` is called (once): one
    token later, or with that token where ``hold`` held the step after it.

    ``hold`` (given ``could``) is the stream's ``hold``: before a token is read, whether it might end the stream (the
    wait done and ``could(seq)``: the drafter might draft after one more token), naming the steps that may follow it
    (``named``) when it holds. A held step is submitted after the read (the GPU idles for a synchronous step's round
    trip, 0.10-0.14 ms recorded ahead on an H100); a step queued behind the token that ends a stream is a plain step
    where the round after could have checked that token's successor as a draft. Prompt lookup holds where ``could_match_next`` says (what
    that gains in the cost model: ``HOLD_FOLLOWERS``); a draft model never holds (``could`` None)."""

    def __init__(self, seq: list[int], wait: int, ready: Callable[[list[int]], bool], ending: Callable[[], None] | None = None,
                 could: Callable[[list[int]], bool] | None = None, named: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.seq, self.wait, self.ready, self.ending, self.could, self.named = seq, wait, ready, ending, could, named
        self.streamed, self.ended = 0, False

    def __call__(self, token: int) -> bool:
        self.seq.append(token)
        self.streamed += 1
        if self.streamed >= self.wait and self.ready(self.seq):
            if self.ending is not None and not self.ended:
                self.ending()
            self.ended = True
            return True
        return False

    def hold(self) -> bool:
        """Whether the next step should wait for the token about to be read (named ahead when it should)."""
        if self.could is None or self.streamed + 1 < self.wait or not self.could(self.seq):
            return False
        if self.named is not None:
            self.named()
        return True


def cpu_adapter_warning(info: Mapping[str, Any]) -> str | None:
    """A warning for speculative decoding on a CPU adapter (wgpu's ``adapter.info``; llvmpipe is one), else None.
    There the kernels are bound by arithmetic, so a verification step costs about as many decode steps as it has
    tokens, and speculation rarely pays (docs/compiler.md, "Speculative decoding")."""
    if info.get("adapter_type") != "CPU":
        return None
    return ("speculative decoding on a CPU adapter: a verification step costs about as many decode steps as it has tokens "
            "here, so it is usually slower than plain decoding (on a GPU it pays where drafts are kept)")  # fmt: skip


def describe(stats: dict[str, Any] | None) -> str:
    """A generation's speculation for a summary line (``SpeculativeStats.to_dict``): '' when it drafted nothing."""
    if not stats or not stats["drafted"]:
        return ""
    return (f"; speculative ({stats['mode']}): {stats['accepted']} of {stats['drafted']} drafted tokens accepted, "
            f"{stats['tokens_per_verify_step']:.2f} tokens per verification step")  # fmt: skip


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def check_same_vocabulary(model: Any, draft: Any) -> None:
    """RustyError unless the draft model's tokenizer has the model's vocabulary (the same token for every id)."""
    mine, theirs = _vocabulary(model), _vocabulary(draft)
    if mine == theirs:
        return
    ids = sorted(set(mine) | set(theirs))
    first = next(i for i in ids if mine.get(i) != theirs.get(i))
    raise RustyError(
        f"--draft {draft.source}: its vocabulary differs from {model.source}'s ({len(theirs)} tokens against {len(mine)}; "
        f"id {first} is {theirs.get(first)!r} there, {mine.get(first)!r} here): speculative decoding needs one tokenizer"
    )


def _vocabulary(model: Any) -> dict[int, str]:
    tok = model.tokenizer
    hf = getattr(tok, "hf", None)
    if hf is not None and hasattr(hf, "get_vocab"):
        return {int(i): str(t) for t, i in hf.get_vocab(with_added_tokens=True).items()}
    return {i: str(tok.id_to_token(i)) for i in range(tok.vocab_size)}
