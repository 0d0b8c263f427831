"""Speculative decoding (rusty_ir/speculative.py): the drafters, the accept-longest-prefix loop, the KV-cache
bookkeeping, the options, and the rejection rule of sampled speculation (its output distribution against the
model's, with a wrong rule shown to fail the same check); on tiny models and the reference backend (cheap). The real-model checks, plain
greedy against speculative greedy on the SmolLM2 oracle prompts, are in test_reference_model.py; the wgpu
runtime's verify steps and block-table truncation are checked here on a tiny model (on llvmpipe a SmolLM2
verify step costs about ten decode steps)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from importers.tiny import random_weights, tiny_config, write_tiny_gguf
from tiny_compiled import tiny_runtime

from rusty_ir import speculative
from rusty_ir.backends.runtime import ahead, plan
from rusty_ir.errors import RustyError
from rusty_ir.generate import ReferenceBackend, Session
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module
from rusty_ir.sampling import Sampler, SamplingParams, sample_token, unpack
from rusty_ir.speculative import HOLD_FOLLOWERS, DraftLength, PromptLookup, SpeculativeOptions, Speculator, check_same_vocabulary
from rusty_ir.tools import rusty

PROMPT = [5, 6, 7, 8, 9, 10, 5, 6, 7, 40, 41, 5, 6]
LOOP = [5, 6, 7, 8] * 3
"""A prompt after which the tiny target's greedy text repeats a 3-token span five times, then breaks off."""


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny models with one tokenizer: different weights, so the draft model's tokens are mostly rejected."""
    folder = tmp_path_factory.mktemp("spec")
    cfg = tiny_config("llama")
    return (write_tiny_gguf(folder / "target.gguf", cfg, random_weights(cfg, seed=3)),
            write_tiny_gguf(folder / "draft.gguf", cfg, random_weights(cfg, seed=4)))  # fmt: skip


@pytest.fixture(scope="module")
def models(tiny_pair: tuple[Path, Path]) -> tuple[Any, ReferenceBackend, Any, ReferenceBackend]:
    target, draft = (load_model(p) for p in tiny_pair)
    return (target, ReferenceBackend(build_module(target.config, target.weights, verify_entry=True), target.weights, 96),
            draft, ReferenceBackend(build_module(draft.config, draft.weights), draft.weights, 96))  # fmt: skip


def test_prompt_lookup_drafts_what_followed_the_latest_match() -> None:
    lookup = PromptLookup()
    assert lookup.propose([1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3], 2) == [7, 1]  # the latest 3-gram match wins
    assert lookup.propose([1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3, 7, 4], 3) == []  # 4 never came before
    assert PromptLookup().propose([4, 5, 4, 5], 5) == [4, 5, 4, 5, 4]  # a repeating span drafts on into itself
    assert PromptLookup().propose([1, 2, 3], 4) == []
    assert PromptLookup().propose([7, 1, 8, 1], 2) == [] and PromptLookup(min_ngram=1).propose([7, 1, 8, 1], 2) == [8, 1]
    assert not lookup.matches([1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3, 7, 4])  # the sequence above, indexed already
    assert lookup.matches([1, 2, 3, 9, 1, 2, 3, 7, 1, 2, 3, 7, 4, 1, 2])
    assert lookup.propose([9, 9, 5, 6, 9, 9], 2) == [5, 6]  # another sequence: a new index


def test_prompt_lookup_could_match_after_a_token_with_few_followers() -> None:
    """``could_match_next``: a 2-token match ending at the next token is possible (the last token came before, with
    a token after it) and likely (at most ``HOLD_FOLLOWERS`` different tokens came after it)."""
    lookup = PromptLookup()
    assert HOLD_FOLLOWERS == 2
    assert lookup.could_match_next([1, 2, 3, 1])  # 1 was followed by 2
    assert not lookup.could_match_next([1, 2, 3, 1, 2, 4])  # 4 never came before
    assert lookup.could_match_next([1, 2, 3, 1, 5, 6, 1])  # 1 followed by 2 and 5
    assert not lookup.could_match_next([1, 2, 3, 1, 5, 6, 1, 7, 1])  # by 2, 5 and 7
    assert PromptLookup(min_ngram=1).could_match_next([8])  # a 1-token match may follow any token


@pytest.mark.parametrize(("mode", "k"), [("lookup", 1), ("lookup", 4), ("draft", 3), ("draft", 8)])
def test_speculative_greedy_is_plain_greedy(models: tuple, mode: str, k: int) -> None:
    target, backend, _, draft_backend = models
    plain = Session(backend, target.tokenizer).generate(PROMPT, 20, stop_at_eos=False).generated_ids
    spec = Speculator(SpeculativeOptions(mode, k, adaptive=False), draft_backend if mode == "draft" else None, vocab=target.config.vocab)
    session = Session(backend, target.tokenizer)
    result = session.generate(PROMPT, 20, stop_at_eos=False, speculative=spec)
    assert result.generated_ids == plain
    stats = result.speculative
    assert stats is not None and stats["mode"] == mode and stats["draft_tokens"] == k
    assert stats["verify_steps"] + stats["plain_steps"] <= 19 and 0 <= stats["accepted"] <= stats["drafted"]
    if mode == "draft":
        assert stats["drafted"] > 0 and stats["plain_steps"] <= 1  # the last token alone: a plain step
    # the session's cache is the plain one's: a follow-up prompt reuses it
    again = session.generate([*PROMPT, *plain[:5]], 6, stop_at_eos=False, speculative=spec)
    assert again.cached_tokens == len(PROMPT) + 4 and again.generated_ids == plain[5:11]


def test_rejected_rows_are_dropped_and_stop_early(models: tuple) -> None:
    """A draft model that disagrees: every round is one token, and the cache never holds rows past the kept ones."""
    target, backend, _, draft_backend = models
    kept: list[int] = []

    class Watch:  # the backend, recording the cache length after each truncate
        def __init__(self, inner: ReferenceBackend) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def truncate(self, length: int) -> None:
            kept.append(length)
            self.inner.truncate(length)

    spec = Speculator(SpeculativeOptions("draft", 4, adaptive=False), draft_backend)
    result = Session(Watch(backend), target.tokenizer).generate(PROMPT, 10, stop_at_eos=False, speculative=spec)
    plain = Session(backend, target.tokenizer).generate(PROMPT, 10, stop_at_eos=False).generated_ids
    assert result.generated_ids == plain
    assert kept and kept[-1] == len(PROMPT) + 9  # the last: the prompt and every generated token but the last
    assert all(b >= a for a, b in zip(kept, kept[1:]))


class _Replay:
    """A drafter that proposes the plain greedy continuation (``agree``) or each of its tokens plus one (never right)."""

    def __init__(self, text: list[int], agree: bool, vocab: int) -> None:
        self.text, self.shift, self.vocab = text, 0 if agree else 1, vocab

    def propose(self, seq: list[int], k: int) -> list[int]:
        return [(t + self.shift) % self.vocab for t in self.text[len(seq) : len(seq) + k]]


def test_draft_length_backs_off_and_recovers() -> None:
    length = DraftLength(4)
    rounds = []
    for kept_all in (True, False, False, False, True):
        k = length.next()
        rounds.append(k)
        length.update(k if kept_all else 0, k)
    assert rounds == [4, 4, 2, 1, 0]  # all kept: stays at 4; rejected: 2, 1, then a plain round
    length = DraftLength(4)
    for _ in range(3):
        k = length.next()
        length.update(0, k)  # 4 -> 2 -> 1 rejected: wait 1
    waits = []
    for _ in range(5):  # rejected single drafts: plain rounds of 1, 8, then 64 between tries
        n = 0
        while (k := length.next()) == 0:
            n += 1
        waits.append(n)
        length.update(0, k)
    assert waits == [1, 8, 64, 64, 64]
    length.update(1, 1)  # one kept draft: drafting resumes at once, at the most
    assert length.next() == 4 == length.most and DraftLength(4, adaptive=False).next() == 4
    length.update(1, 4)  # a partly kept round: the most again
    assert length.next() == 4


@pytest.mark.parametrize("on", ["reference", "wgpu"])
def test_adaptive_speculation_is_cheap_when_drafts_miss(models: tuple, on: str) -> None:
    """A drafter that is always wrong makes a handful of verification steps in 40 tokens (not 40), one that is always
    right keeps drafting K; both give plain greedy's tokens. On wgpu the back-off's plain steps run as decode streams
    (each step encoded while the one before runs)."""
    target, backend, _, _ = models
    if on == "wgpu":
        backend = tiny_runtime(64, target)
    plain = Session(backend, target.tokenizer).generate(PROMPT, 40, stop_at_eos=False).generated_ids
    for agree in (False, True):
        spec = Speculator(SpeculativeOptions("lookup", 4))
        spec.options = SpeculativeOptions("draft", 4)
        spec.draft = _Replay([*PROMPT, *plain], agree, target.config.vocab)  # type: ignore[assignment]  # anything with propose(seq, k)
        result = Session(backend, target.tokenizer).generate(PROMPT, 40, stop_at_eos=False, speculative=spec)
        assert result.generated_ids == plain
        stats = result.speculative
        assert stats is not None
        if agree:
            assert stats["accepted"] == stats["drafted"] and stats["drafted"] >= 4 * (stats["verify_steps"] - 1)
        else:
            assert stats["accepted"] == 0 and stats["verify_steps"] <= 8 and stats["plain_steps"] >= 32


def test_wgpu_verify_steps_and_truncation(models: tuple, tiny_pair: tuple[Path, Path]) -> None:
    """The wgpu runtime's @verify (a token per row) and block-table truncation: speculative greedy is plain
    greedy there too, drafts were rejected along the way, and the paged cache keeps blocks for kept rows only.
    This tiny model's text after LOOP falls into a loop that prompt lookup drafts, then leaves it."""
    target, _, _, draft_backend = models
    runtime = tiny_runtime(64, target)  # compiled with 4-position blocks
    plain = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False).generated_ids
    for spec in (Speculator(SpeculativeOptions("lookup", 4)), Speculator(SpeculativeOptions("draft", 3), draft_backend)):
        runtime.reset()
        got = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False, speculative=spec)
        assert got.generated_ids == plain, spec.options.mode
        stats = got.speculative
        assert stats is not None and stats["verify_steps"] > 0 and stats["accepted"] < stats["drafted"], stats
        assert stats["accepted"] > 0 or spec.options.mode == "draft"  # the draft model's weights differ: it rarely agrees
        kv = runtime.kv_cache_report()["kv"]
        assert kv["blocks_used"] == -(-(len(LOOP) + 23) // kv["block_size"]), kv  # rejected rows' blocks given back


def _record_in_the_first_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Which named steps a wait records depends on how long it lasts (``SLICE`` dispatches between two polls, the
    steps in turn): on a quick adapter maybe the first step's first slice only. Tests that count the steps submitted
    from recordings record all they can in the wait's first call, as a GPU's long wait does."""
    one_slice = ahead.Ahead.record

    def record_all(self: ahead.Ahead) -> bool:
        for _ in range(1000):  # bounded: a recording cut short (below) stays unfinished
            if not one_slice(self):
                break
        return False

    monkeypatch.setattr(ahead.Ahead, "record", record_all)


def test_wgpu_held_stream_step_starts_from_its_recording(models: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decode stream's step held by ``hold`` (submitted after the token before it is read) starts from the
    recording that ``hold`` named (``expect``) while the held token's step ran, and the stream's tokens are those
    of a stream that holds nothing."""
    target = models[0]
    _record_in_the_first_poll(monkeypatch)
    fresh, held = tiny_runtime(64, target), tiny_runtime(64, target)
    ids = np.asarray(LOOP, np.int32)
    first = [rt.prefill(ids, 0) for rt in (fresh, held)][0]
    want = list(fresh.decode_stream(first, ids.size, 6))
    asked: list[int] = []

    def hold() -> bool:  # before the 3rd token (position 14) is read: its step's successor, at 15, waits for it
        asked.append(len(asked))
        if len(asked) != 3:
            return False
        held.expect([(1, ids.size + 3)])
        return True

    before = held._ahead.used
    assert list(held.decode_stream(first, ids.size, 6, hold=hold)) == want
    assert held._ahead.used == before + 1 and len(asked) == 5


def test_wgpu_steps_recorded_ahead(models: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps named by ``ModelRuntime.expect`` are recorded while the step before runs, and the next step of one's
    grids and guards is submitted from it, with the tokens and KV-cache rows (the logits of the step after) of a
    runtime that encodes it after the wait. The tiny model's plans are position-free: a recording is kept for any
    later step of its size (named at 14, used at 13; a decode step's used a round later, at another position), one
    command buffer once whole, or cut short (the rest encoded as usual). A plan whose grids move with the position
    (a sliding window's) records encoders of 4, 8, ... dispatches (``plan.chunk_size``), whole or cut short, for the next step
    only; a step not named is encoded as usual. Speculative greedy decoding names its likely steps and uses some."""
    target = models[0]
    monkeypatch.setattr(plan, "SUBMIT_FIRST", 4)  # a position-bound recording of several command encoders
    _record_in_the_first_poll(monkeypatch)
    fresh, ready = tiny_runtime(64, target), tiny_runtime(64, target)
    ids = np.asarray(LOOP * 2, np.int32)
    for rt in (fresh, ready):
        rt.prefill(ids, 0)  # the cache's blocks for 24 positions: the steps below make no new bind groups
    assert ready._plans["decode"].position_free and ready._plans["verify"].position_free
    record = ahead._Recording.record
    ahead_of = ready._ahead

    def round_(named: list[tuple[int, int]], S: int, pos: int, used: int) -> None:
        before = ahead_of.used
        ready.expect(named)
        assert ready.decode(7, 12) == fresh.decode(7, 12)  # records the named steps while it runs
        np.testing.assert_array_equal(ready.verify(ids[:S], pos), fresh.verify(ids[:S], pos))
        np.testing.assert_array_equal(ready.verify_logits(ids[:2], pos + S), fresh.verify_logits(ids[:2], pos + S))
        assert ahead_of.used == before + used and not ahead_of.ready

    round_([(3, 14), (1, 13)], 3, 13, 1)  # both recorded whole and finished; the verification step's used
    assert [r.finished is not None for r in ahead_of.kept.values()] == [True]  # the decode step's, kept
    assert ready.decode(5, 20) == fresh.decode(5, 20) and ahead_of.used == 2 and not ahead_of.kept
    round_([(3, 13)], 3, 13, 1)  # the step named is the one that comes: its scalars written while the one before ran
    assert ready._plans["verify"].params_at == (2, 16)  # the logits' step after it wrote its own
    monkeypatch.setattr(ahead._Recording, "record", lambda r, device, n: record(r, device, min(n, 6 - r.done)))
    round_([(3, 14)], 3, 13, 1)  # cut short after 6 dispatches: one encoder, the rest encoded as usual
    monkeypatch.undo()
    monkeypatch.setattr(plan, "SUBMIT_FIRST", 4)
    _record_in_the_first_poll(monkeypatch)
    for p in ready._plans.values():
        monkeypatch.setattr(p, "position_free", False)
    round_([(3, 14), (1, 13)], 3, 13, 1)  # recorded whole in encoders of 4, 8, 16, ... dispatches
    monkeypatch.setattr(ahead._Recording, "record", lambda r, device, n: record(r, device, min(n, 6 - r.done)))
    round_([(3, 14)], 3, 13, 1)  # cut short: two encoders
    round_([(3, 13)], 2, 13, 0)  # not the step that comes
    assert not ahead_of.kept
    monkeypatch.undo()
    runtime = tiny_runtime(64, target)
    plain = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False).generated_ids
    runtime.reset()
    got = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False, speculative=Speculator(SpeculativeOptions("lookup", 4)))
    assert got.generated_ids == plain and runtime._ahead.used > 0


def test_wgpu_penalized_sampling_steps_recorded_ahead(models: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Penalized sampling has no decode stream (a step's penalty window needs the token before it): each synchronous
    step names the next, which the wgpu runtime records while the step runs and submits from the recording; the
    tokens are those of a runtime that encodes every step after the wait. So does a speculative round without a
    draft (a back-off's plain step), naming a plain step and a round of the next draft length."""
    target = models[0]
    params = SamplingParams(temperature=0.8, top_k=5, repetition_penalty=1.3, seed=3)
    fresh, ready = tiny_runtime(64, target), tiny_runtime(64, target)
    fresh.expect = None  # type: ignore[assignment,method-assign]  # nothing named
    want = Session(fresh, target.tokenizer).generate(PROMPT, 12, stop_at_eos=False, sampling=params).generated_ids
    got = Session(ready, target.tokenizer).generate(PROMPT, 12, stop_at_eos=False, sampling=params).generated_ids
    assert got == want and len(set(got)) > 2, got
    assert ready._ahead.used == 10 and not fresh._ahead.used  # the 11 decode steps after the prefill's, all but the first

    # speculating, a round without a draft (a drafter backing off) is one such step too, naming the steps that may
    # follow it: a drafter that is never right drafts 4, 2 and 1, then comes a plain step, 1 draft, plain steps to the end
    class Never:
        def propose(self, seq: list[int], k: int) -> list[int]:
            return [0] * k  # token 0 never follows here (asserted below)

    spec = Speculator(SpeculativeOptions("draft", 4), draft_backend=object())
    spec.draft = Never()  # type: ignore[assignment]
    _record_in_the_first_poll(monkeypatch)
    used = ready._ahead.used
    result = Session(ready, target.tokenizer).generate(PROMPT, 12, stop_at_eos=False, sampling=params, speculative=spec)
    stats = result.speculative
    assert result.generated_ids == want and stats is not None and stats["accepted"] == 0, stats
    assert (stats["verify_steps"], stats["plain_steps"]) == (4, 7)
    assert ready._ahead.used - used == 8  # the plain steps, each named by the step before, and the round after the first


def test_rounds_without_a_draft_stream_until_lookup_matches(models: tuple) -> None:
    """On wgpu, greedy prompt lookup runs the tokens it cannot draft as decode streams, not as synchronous steps,
    and a stream ends with the first token that gives the lookup a match where the step after it was held (the
    lookup's ``could_match_next`` before that token was read), else one token later (the step queued already)."""
    target = models[0]
    runtime = tiny_runtime(64, target)
    plain = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False).generated_ids
    streams: list[tuple[int, list[int]]] = []
    stream = runtime.decode_stream

    def watched(token: int, pos: int, count: int, sampling: Any = None, until: Any = None, hold: Any = None) -> Any:
        streams.append((pos, []))
        for t in stream(token, pos, count, sampling, until=until, hold=hold):
            streams[-1][1].append(t)
            yield t

    runtime.decode_stream = watched  # type: ignore[method-assign]
    runtime.decode = None  # type: ignore[assignment]  # a synchronous decode step would fail
    runtime.reset()
    got = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False, speculative=Speculator(SpeculativeOptions("lookup", 4)))
    assert got.generated_ids == plain and got.speculative is not None and got.speculative["accepted"] > 0
    pos, first = streams[0]
    text = [*LOOP, *plain]
    assert pos == len(LOOP) and first == plain[1 : len(first) + 1]
    lookup = PromptLookup()
    matched = next(j for j in range(1, len(first) + 1) if lookup.matches(text[: pos + 1 + j]))
    held = PromptLookup().could_match_next(text[: pos + matched])
    assert held and len(first) == matched, (first, matched, held)


def test_wgpu_drafts_stay_within_the_few_token_steps(models: tuple) -> None:
    """The wgpu runtime's verify steps of more than ``fast_verify`` tokens (the schedule's ``few_token_steps``) would
    take the prefill's tiles: a round drafts at most ``fast_verify - 1`` tokens whatever K asks, and the stats say
    so. A drafter that always agrees (the plain greedy continuation) drafts as many as it may."""
    target = models[0]
    runtime = tiny_runtime(64, target)
    assert runtime.fast_verify == 8 < runtime.max_verify
    plain = Session(runtime, target.tokenizer).generate(PROMPT, 30, stop_at_eos=False).generated_ids
    text = [*PROMPT, *plain]

    class Oracle:
        def propose(self, seq: list[int], k: int) -> list[int]:
            return text[len(seq) : len(seq) + k]

    steps: list[int] = []
    verify = runtime.verify
    runtime.verify = lambda tokens, pos: steps.append(len(tokens)) or verify(tokens, pos)
    spec = Speculator(SpeculativeOptions("draft", 12), draft_backend=object())
    spec.draft = Oracle()  # type: ignore[assignment]
    runtime.reset()
    got = Session(runtime, target.tokenizer).generate(PROMPT, 30, stop_at_eos=False, speculative=spec)
    assert got.generated_ids == plain
    assert got.speculative is not None and got.speculative["draft_tokens"] == 7
    assert max(steps) == 8 and steps.count(8) >= 3, steps


def test_wgpu_sampled_speculation_is_plain_sampling(models: tuple) -> None:
    """Sampled speculation on the wgpu runtime: @verify_sample draws a token after every row on the device, each under
    its own words (``Sampler.ahead``), what ``sample_token`` draws from the reference's rows; with one seed the tokens
    are plain sampling's, drafts (from a draft model that is the model itself) accepted along the way."""
    target, backend, _, _ = models
    runtime = tiny_runtime(64, target)
    tokens = np.array(PROMPT[:9], np.int32)
    got, want = runtime.verify_logits(tokens, 0), backend.verify_logits(tokens, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    words = Sampler(SamplingParams(temperature=1.5, top_p=0.95, repetition_penalty=1.3, seed=1)).ahead(PROMPT[1:9])
    drawn = runtime.verify_sample(tokens, 0, words).tolist()
    assert drawn == [sample_token(row, w) for row, w in zip(want, words, strict=True)] and len(set(drawn)) > 2, drawn
    with pytest.raises(RustyError, match="verify_sample takes 521 sampling words a token: 9 tokens, words"):
        runtime.verify_sample(tokens, 0, words[:3])
    params = SamplingParams(temperature=0.05, top_k=3, repetition_penalty=1.2, seed=7)
    runtime.reset()
    plain = Session(runtime, target.tokenizer).generate(PROMPT, 12, stop_at_eos=False, sampling=params).generated_ids
    self_draft = tiny_runtime(64, target)
    greedy = Session(self_draft, target.tokenizer).generate(PROMPT, 4, stop_at_eos=False).generated_ids
    self_draft.reset()
    assert speculative.DraftModel(self_draft).propose(PROMPT, 4) == greedy  # its decode steps a stream
    spec = Speculator(SpeculativeOptions("draft", 3), self_draft)
    runtime.reset()
    result = Session(runtime, target.tokenizer).generate(PROMPT, 12, stop_at_eos=False, sampling=params, speculative=spec)
    assert result.generated_ids == plain and result.seed == 7
    assert result.speculative is not None and 0 < result.speculative["accepted"] < result.speculative["drafted"], result.speculative
    # without penalties, rounds without a draft are a sampled decode stream (each step's words drawn as it is
    # queued), never a synchronous step; the draws, and so the tokens, are plain sampling's
    params = SamplingParams(temperature=0.05, top_k=3, seed=7)
    runtime.reset()
    plain = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False, sampling=params).generated_ids
    runtime.decode_sample = None  # type: ignore[assignment]
    runtime.reset()
    result = Session(runtime, target.tokenizer).generate(LOOP, 24, stop_at_eos=False, sampling=params,
                                                         speculative=Speculator(SpeculativeOptions("lookup", 4)))  # fmt: skip
    assert result.generated_ids == plain
    assert result.speculative is not None and result.speculative["drafted"] > 0 and result.speculative["plain_steps"] > 0
    assert runtime._ahead.used > 0  # sampled rounds named ahead (``expect(..., sampled=True)``) ran from recordings


def test_a_cpu_adapter_is_warned_about() -> None:
    """Loading with speculation on a CPU adapter (CI's llvmpipe is one) warns that it will rarely pay there."""
    from rusty_ir.backends.runtime import Device

    assert "slower than plain decoding" in (speculative.cpu_adapter_warning(Device().adapter.info) or "")
    assert speculative.cpu_adapter_warning({"adapter_type": "DiscreteGPU"}) is None


def test_missing_entry_and_bad_options_are_refused(models: tuple) -> None:
    target, backend, _, draft_backend = models
    spec = Speculator(SpeculativeOptions("lookup"))
    with pytest.raises(RustyError, match="built without the verify entry"):
        Session(draft_backend, target.tokenizer).generate(PROMPT, 4, speculative=spec)
    with pytest.raises(RustyError, match="--draft-tokens must be from 1 to 32, got 0"):
        SpeculativeOptions("lookup", 0)
    with pytest.raises(RustyError, match="needs a draft model"):
        Speculator(SpeculativeOptions("draft"))


def test_vocabulary_check(models: tuple, smollm2: Any) -> None:
    target, _, draft, _ = models
    check_same_vocabulary(target, draft)
    with pytest.raises(RustyError, match="its vocabulary differs .* speculative decoding needs one tokenizer"):
        check_same_vocabulary(target, smollm2)


def test_rusty_run_reports_speculation(tiny_pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    target, draft = tiny_pair
    base = ["run", str(target), "--backend", "reference", "--no-chat", "--prompt", "the the the world", "--max-tokens", "12",
            "--ignore-eos", "--json", "-q"]  # fmt: skip
    runs = {}
    for name, extra in (("plain", []), ("lookup", ["--speculate", "lookup"]), ("draft", ["--draft", str(draft), "--draft-tokens", "2"])):
        assert rusty.main(base + extra) == 0
        runs[name] = json.loads(capsys.readouterr().out)
    assert runs["plain"]["speculative"] is None
    for name in ("lookup", "draft"):
        assert runs[name]["generated_ids"] == runs["plain"]["generated_ids"], name
        stats = runs[name]["speculative"]
        assert stats["mode"] == name and set(stats) >= {"drafted", "accepted", "acceptance_rate", "tokens_per_verify_step"}
    assert runs["draft"]["speculative"]["draft_tokens"] == 2


def test_api_speculates(tiny_pair: tuple[Path, Path]) -> None:
    import rusty_ir

    target, draft = tiny_pair
    model = rusty_ir.load(target, backend="reference", context_length=64, draft=draft, draft_tokens=3)
    spec = model.generate([5, 6, 7, 5, 6], max_tokens=8, ignore_eos=True)
    plain = model.generate([5, 6, 7, 5, 6], max_tokens=8, ignore_eos=True, speculate=False)
    assert spec.generated_ids == plain.generated_ids and spec.speculative["mode"] == "draft" and plain.speculative is None
    assert model.generate([5, 6, 7, 5, 6], max_tokens=8, ignore_eos=True, draft_tokens=1).speculative["draft_tokens"] == 1
    sampled = model.generate([5, 6, 7, 5, 6], max_tokens=8, ignore_eos=True, temperature=0.5, seed=3)
    plain_sampled = model.generate([5, 6, 7, 5, 6], max_tokens=8, ignore_eos=True, temperature=0.5, seed=3, speculate=False)
    assert sampled.generated_ids == plain_sampled.generated_ids and sampled.speculative["drafted"] > 0


# -- the rejection rule of sampled speculation: a statistical check ----------------------------------------------------


class _Memo:
    """The ``Backend`` protocol over a model whose logits depend on the tokens before them only (a transformer's do):
    each distinct prefix's logits are computed once, by the reference backend's ``verify_logits``, so thousands of
    sampled generations cost a few hundred model rows. ``prefill_sample``/``decode_sample``/``verify_sample`` draw
    from the real model's logits (``sample_token`` is what ``tfm.sample`` and ``tfm.row_sample`` compute); a
    verification row is drawn by ``rule`` (row logits, its words, the draft it is checked against)."""

    name = "memo"
    can_sample = can_verify = can_verify_sample = True
    rule = staticmethod(lambda logits, words, draft: sample_token(logits, words))

    def __init__(self, inner: ReferenceBackend, cache: dict[tuple[int, ...], np.ndarray]) -> None:
        self.inner, self.cache, self.seq = inner, cache, []
        self.context_length = self.max_verify = inner.context_length

    def logits(self, prefix: list[int]) -> np.ndarray:
        key = tuple(prefix)
        if key not in self.cache:
            self.inner.reset()
            rows = self.inner.verify_logits(np.asarray(prefix, np.int32), 0)
            for i in range(len(prefix)):
                self.cache.setdefault(key[: i + 1], rows[i])
        return self.cache[key]

    def _run(self, tokens: Any, pos: int) -> list[int]:
        self.seq = [*self.seq[:pos], *(int(t) for t in np.asarray(tokens).reshape(-1))]
        return self.seq

    def prefill(self, tokens: Any, pos: int) -> int:
        return int(np.argmax(self.logits(self._run(tokens, pos))))

    def decode(self, token: int, pos: int) -> int:
        return self.prefill([token], pos)

    def prefill_sample(self, tokens: Any, pos: int, words: np.ndarray) -> int:
        return sample_token(self.logits(self._run(tokens, pos)), words)

    def decode_sample(self, token: int, pos: int, words: np.ndarray) -> int:
        return self.prefill_sample([token], pos, words)

    def verify_sample(self, tokens: Any, pos: int, words: np.ndarray) -> np.ndarray:
        seq, n = self._run(tokens, pos), np.size(tokens)
        drafts = [*seq[pos + 1 : pos + n], None]
        return np.array([self.rule(self.logits(seq[: pos + i + 1]), words[i], drafts[i]) for i in range(n)], np.int32)

    def truncate(self, length: int) -> None:
        self.seq = self.seq[:length]

    def reset(self) -> None:
        self.seq = []


def _kept_probabilities(logits: np.ndarray, temperature: float, top_k: int) -> dict[int, float]:
    """The sampling distribution of temperature + top-k (no ties in random logits), in float64."""
    z = np.asarray(logits, np.float64) / temperature
    top = np.argsort(-z)[:top_k]
    w = np.exp(z[top] - z[top].max())
    return {int(t): float(p) for t, p in zip(top, w / w.sum(), strict=True)}


def _wrong_rule(logits: np.ndarray, words: np.ndarray, draft: int | None) -> int:
    """A plausible mistake: accept the draft with probability p(x), and on rejection draw from p *with* x."""
    temperature, top_k, *_, u, _ = unpack(words)
    if draft is not None and np.random.default_rng(int(u * 2**31)).random() < _kept_probabilities(logits, temperature, top_k).get(draft, 0):
        return draft
    return sample_token(logits, words)


RUNS, NEW = 1500, 4
PARAMS = {"temperature": 0.03, "top_k": 3}


def _spec_distribution(models: tuple) -> tuple[Counter, dict[tuple[int, ...], float], dict[str, int]]:
    """``RUNS`` sampled generations of ``NEW`` tokens with a draft model that is the model itself (greedy drafts:
    the most likely token, the case a wrong rule distorts most); their counts, the exact probability of every
    continuation (the product of the model's kept probabilities), and the speculation totals."""
    target, backend, _, _ = models
    cache: dict[tuple[int, ...], np.ndarray] = {}
    model, draft = _Memo(backend, cache), _Memo(backend, cache)
    spec = Speculator(SpeculativeOptions("draft", NEW - 1), draft)
    session = Session(model, target.tokenizer)
    counts: Counter = Counter()
    totals = Counter()
    for seed in range(RUNS):
        session.reset()
        result = session.generate(PROMPT, NEW, stop_at_eos=False, speculative=spec, sampling=SamplingParams(**PARAMS, seed=seed))
        counts[tuple(result.generated_ids)] += 1
        totals.update({k: result.speculative[k] for k in ("drafted", "accepted")})
    exact: dict[tuple[int, ...], float] = {(): 1.0}
    for _ in range(NEW):
        exact = {(*seq, t): p * q for seq, p in exact.items()
                 for t, q in _kept_probabilities(model.logits([*PROMPT, *seq]), **PARAMS).items()}  # fmt: skip
    return counts, exact, dict(totals)


def _chi_square(counts: Counter, exact: dict[tuple[int, ...], float]) -> tuple[float, float]:
    """Pearson's statistic of ``counts`` against ``exact`` (continuations expected fewer than 5 times pooled into one
    bin), and its 1e-4 critical value (Wilson-Hilferty)."""
    n = sum(counts.values())
    assert set(counts) <= set(exact), "a continuation the model cannot produce"
    big = [s for s, p in exact.items() if p * n >= 5]
    observed = [counts[s] for s in big] + [n - sum(counts[s] for s in big)]
    expected = [exact[s] * n for s in big] + [n * (1 - sum(exact[s] for s in big))]
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    df = len(observed) - 1
    z = 3.719  # the standard normal's 1 - 1e-4 quantile
    return stat, df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_sampled_speculation_keeps_the_distribution(models: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rejection sampling (rusty_ir/speculative.py): the sampled continuations of a speculating session follow the
    model's own distribution (chi-square at 1e-4 over every continuation of 4 tokens, 1500 seeded runs), with most
    drafts accepted; the same check fails for a rule that accepts with p(x) but redraws from p without removing x."""
    counts, exact, totals = _spec_distribution(models)
    stat, critical = _chi_square(counts, exact)
    assert stat < critical, (stat, critical, totals)
    assert 0.3 < totals["accepted"] / totals["drafted"] < 0.95, totals
    monkeypatch.setattr(_Memo, "rule", staticmethod(_wrong_rule))
    wrong, _, _ = _spec_distribution(models)
    wrong_stat, _ = _chi_square(wrong, exact)
    assert wrong_stat > 3 * critical, (wrong_stat, critical)
