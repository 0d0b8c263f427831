"""Sampling on the host: the options, their packing, the numpy reference sampler, and ``Session``'s
bookkeeping (stop strings, the kept KV cache, cancellation) over a scripted backend. No GPU here:
tests/backends/test_sample_kernel.py checks the kernel against ``sample_token``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from rusty_ir.errors import RustyError
from rusty_ir.generate import Session
from rusty_ir.sampling import MAX_PENALIZED, SAMPLING_WORDS, Sampler, SamplingParams, pack, sample_token, unpack
from rusty_ir.speculative import common_prefix

GRID = 2000
"""Draws per distribution check: u = (j + 0.5) / GRID, so each token's share is its probability within 1 / GRID."""


def shares(logits: np.ndarray, params: SamplingParams, pairs: Sequence[tuple[int, int]] = ()) -> np.ndarray:
    """How often each token is drawn when u sweeps [0, 1) evenly."""
    counts = np.zeros(logits.size)
    for j in range(GRID):
        counts[sample_token(logits, pack(params, (j + 0.5) / GRID, pairs))] += 1
    return counts / GRID


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


LOGITS = np.array([2.0, 1.0, 0.5, 3.0, -1.0, 0.0, 3.0, 1.5], np.float32)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1}, "temperature must be a number >= 0"),
        ({"top_k": -2}, "top_k must be a whole number >= 0"),
        ({"top_k": 2.5}, "top_k must be a whole number"),
        ({"top_p": 0}, r"top_p must be in \(0, 1\]"),
        ({"min_p": 1.5}, r"min_p must be in \[0, 1\]"),
        ({"repetition_penalty": 0}, "repetition_penalty must be a number > 0"),
        ({"presence_penalty": float("nan")}, "presence_penalty must be a finite number"),
        ({"penalty_last_n": MAX_PENALIZED + 1}, f"penalty_last_n must be a whole number in 0..{MAX_PENALIZED}"),
        ({"seed": -1}, "seed must be a whole number"),
        ({"temperature": True}, "temperature must be a number"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RustyError, match=message):
        SamplingParams(**options)


def test_pack_round_trip() -> None:
    p = SamplingParams(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.1, presence_penalty=0.5,
                       frequency_penalty=-0.25)  # fmt: skip
    words = pack(p, 0.25, [(9, 1), (3, 2), (7, 0)])
    assert words.dtype == np.int32 and words.size == SAMPLING_WORDS
    t, k, top_p, min_p, rep, pres, freq, u, pairs = unpack(words)
    assert (k, pairs) == (40, [(3, 2), (9, 1)])  # sorted by id, zero counts dropped
    np.testing.assert_allclose([t, top_p, min_p, rep, pres, freq, u], [0.7, 0.9, 0.05, 1.1, 0.5, -0.25, 0.25], rtol=1e-6)
    with pytest.raises(RustyError, match="at most"):
        pack(p, 0.5, [(i, 1) for i in range(MAX_PENALIZED + 1)])


def test_greedy_is_the_first_largest() -> None:
    assert sample_token(LOGITS, pack(SamplingParams(), 0.99)) == 3  # 3 and 6 tie: the smaller id
    # temperature 0 with penalties: the largest penalized logit (3 is penalized below 6)
    assert sample_token(LOGITS, pack(SamplingParams(repetition_penalty=2.0), 0.5, [(3, 1)])) == 6


def test_temperature_draws_the_softmax() -> None:
    for t in (0.5, 1.0, 2.0):
        np.testing.assert_allclose(shares(LOGITS, SamplingParams(temperature=t)), softmax(LOGITS / t), atol=1.5 / GRID)


def test_top_k_keeps_ties_with_the_kth() -> None:
    got = shares(LOGITS, SamplingParams(temperature=1.0, top_k=3))
    kept = LOGITS >= 2.0  # 3.0, 3.0, 2.0
    np.testing.assert_allclose(got, np.where(kept, softmax(np.where(kept, LOGITS, -np.inf)), 0), atol=1.5 / GRID)
    two = shares(LOGITS, SamplingParams(temperature=1.0, top_k=1))  # the tied largest both stay
    assert set(np.flatnonzero(two)) == {3, 6}


def test_top_p_is_the_nucleus() -> None:
    p = softmax(LOGITS)
    order = np.argsort(-LOGITS, kind="stable")
    for top_p in (0.3, 0.6, 0.75, 0.95):
        n = int(np.searchsorted(np.cumsum(p[order]), top_p) + 1)
        kept = np.zeros(LOGITS.size, bool)
        kept[order[:n]] = True
        kept |= LOGITS >= LOGITS[order[n - 1]]  # ties with the last one stay
        want = np.where(kept, p, 0) / p[kept].sum()
        np.testing.assert_allclose(shares(LOGITS, SamplingParams(temperature=1.0, top_p=top_p)), want, atol=1.5 / GRID)


def test_min_p_and_penalties() -> None:
    p = softmax(LOGITS)
    kept = p >= 0.2 * p.max()
    want = np.where(kept, p, 0) / p[kept].sum()
    np.testing.assert_allclose(shares(LOGITS, SamplingParams(temperature=1.0, min_p=0.2)), want, atol=1.5 / GRID)
    # repetition (divide positive, multiply negative), then frequency * count and presence
    params = SamplingParams(temperature=1.0, repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)
    z = LOGITS.copy()
    z[0] = 2.0 / 2 - 3 * 0.5 - 0.25
    z[4] = -1.0 * 2 - 1 * 0.5 - 0.25
    np.testing.assert_allclose(shares(LOGITS, params, [(0, 3), (4, 1)]), softmax(z), atol=1.5 / GRID)


def test_sampler_seed_and_penalty_window() -> None:
    params = SamplingParams(temperature=1.0, seed=7, presence_penalty=1.0, penalty_last_n=3)
    a, b = Sampler(params), Sampler(params)
    assert [unpack(a.words())[7] for _ in range(5)] == [unpack(b.words())[7] for _ in range(5)]
    for token in (5, 5, 9, 2):
        a.accept(token)
    assert unpack(a.words())[8] == [(2, 1), (5, 1), (9, 1)]  # the last 3 generated
    assert Sampler(SamplingParams(temperature=1.0)).seed != Sampler(SamplingParams(temperature=1.0)).seed


# --- Session over a scripted backend -------------------------------------------------------------------


class Scripted:
    """A backend that answers a fixed token sequence and records what it was asked to run."""

    name = "scripted"
    context_length = 64
    can_sample = True

    def __init__(self, answer: list[int]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int, int]] = []  # (what, first position, tokens)

    def _next(self, pos: int) -> int:
        return self.answer[min(pos - self.prompt_end, len(self.answer) - 1)]

    def prefill(self, tokens: np.ndarray, pos: int) -> int:
        self.calls.append(("prefill", pos, len(tokens)))
        self.prompt_end = pos + len(tokens)
        return self._next(self.prompt_end)

    def prefill_sample(self, tokens: np.ndarray, pos: int, words: np.ndarray) -> int:
        assert words.size == SAMPLING_WORDS
        return self.prefill(tokens, pos)

    def decode(self, token: int, pos: int) -> int:
        self.calls.append(("decode", pos, 1))
        return self._next(pos + 1)

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int:
        return self.decode(token, pos)

    def reset(self) -> None:
        self.calls.append(("reset", 0, 0))


def test_stop_strings_are_held_back_and_cut(smollm2: Any) -> None:
    tok = smollm2.tokenizer
    answer = tok.encode("Paris is the capital. Berlin is not.")
    session = Session(Scripted(answer), tok)
    pieces: list[str] = []
    result = session.generate(tok.encode("Q:"), 20, stop=["capital. B", "zzz"], on_text=pieces.append)
    assert result.text == "".join(pieces) == "Paris is the "
    assert result.finish_reason == "stop" and result.stop == "capital. B"
    # a partial match at the end of the budget is text after all
    result = Session(Scripted(answer), tok).generate(tok.encode("Q:"), 3, stop=["Paris is thx"])
    assert result.text == tok.decode(answer[:3]) and result.finish_reason == "length"


def test_session_prefills_only_what_the_cache_lacks(smollm2: Any) -> None:
    tok = smollm2.tokenizer
    backend = Scripted(tok.encode(" one two three"))
    session = Session(backend, tok)
    first = session.generate(tok.encode("Count:"), 3, sampling=SamplingParams(temperature=0.5, seed=1))
    assert backend.calls[0][0] == "reset" and first.cached_tokens == 0
    follow = first.prompt_ids + first.generated_ids + tok.encode(" four")
    backend.calls.clear()
    second = session.generate(follow, 2)
    cached = len(first.prompt_ids) + len(first.generated_ids) - 1  # the last generated token was never run
    assert second.cached_tokens == cached and second.prefilled_tokens == len(follow) - cached
    assert backend.calls[0] == ("prefill", cached, len(follow) - cached)  # no reset
    # a different prompt starts over
    backend.calls.clear()
    third = session.generate(tok.encode("Other"), 1)
    assert third.cached_tokens == 0 and backend.calls[0][0] == "reset"
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2


def test_cancel_stops_after_the_current_token(smollm2: Any) -> None:
    tok = smollm2.tokenizer
    session = Session(Scripted(tok.encode(" a b c d e f g")), tok)
    seen: list[str] = []
    result = session.generate(tok.encode("x"), 10, on_text=seen.append, cancel=lambda: len(seen) >= 2)
    assert result.finish_reason == "cancelled" and len(result.generated_ids) == 2
    assert session.tokens == result.prompt_ids + result.generated_ids[:1]
    scripted = Scripted([1])
    scripted.can_sample = False
    greedy_only = Session(scripted, tok)
    with pytest.raises(RustyError, match="without the sampling entries"):
        greedy_only.generate([1], 1, sampling=SamplingParams(temperature=1.0))
