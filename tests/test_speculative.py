"""Speculative decoding (rusty_ir/speculative.py): the drafters, the accept-longest-prefix loop, the KV-cache
bookkeeping, and the options; on tiny models and the reference backend (cheap). The real-model checks, plain
greedy against speculative greedy on the SmolLM2 oracle prompts, are in test_reference_model.py; the wgpu
runtime's verify steps and block-table truncation are checked here on a tiny model (on llvmpipe a SmolLM2
verify step costs about ten decode steps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from importers.tiny import random_weights, tiny_config, write_tiny_gguf

from rusty_ir.errors import RustyError
from rusty_ir.generate import ReferenceBackend, Session
from rusty_ir.importers import load_model
from rusty_ir.importers.to_ir import build_module
from rusty_ir.sampling import SamplingParams
from rusty_ir.speculative import PromptLookup, SpeculativeOptions, Speculator, check_same_vocabulary
from rusty_ir.tools import rusty

PROMPT = [5, 6, 7, 8, 9, 10, 5, 6, 7, 40, 41, 5, 6]


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


@pytest.mark.parametrize(("mode", "k"), [("lookup", 1), ("lookup", 4), ("draft", 3), ("draft", 8)])
def test_speculative_greedy_is_plain_greedy(models: tuple, mode: str, k: int) -> None:
    target, backend, _, draft_backend = models
    plain = Session(backend, target.tokenizer).generate(PROMPT, 20, stop_at_eos=False).generated_ids
    spec = Speculator(SpeculativeOptions(mode, k), draft_backend if mode == "draft" else None, vocab=target.config.vocab)
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

    spec = Speculator(SpeculativeOptions("draft", 4), draft_backend)
    result = Session(Watch(backend), target.tokenizer).generate(PROMPT, 10, stop_at_eos=False, speculative=spec)
    plain = Session(backend, target.tokenizer).generate(PROMPT, 10, stop_at_eos=False).generated_ids
    assert result.generated_ids == plain
    assert kept and kept[-1] == len(PROMPT) + 9  # the last: the prompt and every generated token but the last
    assert all(b >= a for a, b in zip(kept, kept[1:]))


def test_wgpu_verify_steps_and_truncation(models: tuple, tiny_pair: tuple[Path, Path]) -> None:
    """The wgpu runtime's @verify (a token per row) and block-table truncation: speculative greedy is plain
    greedy there too, drafts were rejected along the way, and the paged cache keeps blocks for kept rows only."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model

    target, _, _, draft_backend = models
    result = compile_model(target, CompileOptions(verify_entry=True, kv_block_size=4), use_cache=False)
    runtime = ModelRuntime(result.artifact.schedule, result.artifact.wgsl, target.weights, 64)
    plain = Session(runtime, target.tokenizer).generate(PROMPT, 14, stop_at_eos=False).generated_ids
    for spec in (Speculator(SpeculativeOptions("lookup", 4)), Speculator(SpeculativeOptions("draft", 3), draft_backend)):
        runtime.reset()
        got = Session(runtime, target.tokenizer).generate(PROMPT, 14, stop_at_eos=False, speculative=spec)
        assert got.generated_ids == plain, spec.options.mode
        stats = got.speculative
        assert stats is not None and stats["verify_steps"] > 0 and stats["accepted"] < stats["drafted"], stats
        kv = runtime.kv_cache_report()["kv"]
        assert kv["blocks_used"] == -(-(len(PROMPT) + 13) // kv["block_size"]), kv  # rejected rows' blocks given back


def test_sampling_and_missing_entry_are_refused(models: tuple) -> None:
    target, backend, _, draft_backend = models
    spec = Speculator(SpeculativeOptions("lookup"))
    with pytest.raises(RustyError, match="speculative decoding .* is greedy only"):
        Session(backend, target.tokenizer).generate(PROMPT, 4, sampling=SamplingParams(temperature=0.7), speculative=spec)
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
    with pytest.raises(RustyError, match="greedy only"):
        model.generate("hi", max_tokens=2, temperature=0.5)
