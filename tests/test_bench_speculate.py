"""``rusty bench --speculate`` (rusty_ir/bench/): speculative decode timed and reported beside decode tokens/s.

The runs go through the command line (``rusty_ir.tools.rusty.main``) on the tiny Llama of tests/tiny_compiled.py.
Every compile the bench asks for is answered with that file's session artifact (compiled once per test session with
the ``@verify`` and sampling entries, shared with the other speculative-decoding tests), so this file compiles
nothing of its own: the bench's compile options are recorded and checked instead (the ``@verify`` entry asked for).
The bad combinations fail before anything is compiled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tiny_compiled import tiny_artifact, tiny_checkpoint, tiny_model

from rusty_ir.tools.rusty import main

PROMPT, DECODE, K = 16, 24, 4


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``CompileOptions`` of every compile the bench asks for; each gets the shared tiny artifact."""
    import rusty_ir.driver as driver

    asked: list[Any] = []

    def compile_model(model: Any, options: Any, **_: Any) -> Any:
        asked.append(options)
        return driver.CompileResult(artifact=tiny_artifact(), cache_hit=True, seconds=0.0, folder=None)

    monkeypatch.setattr(driver, "compile_model", compile_model)
    return asked


def bench(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["bench", *args, "-q"])
    out, err = capsys.readouterr()
    return code, out, err


def tiny_args(*extra: str) -> list[str]:
    return [str(tiny_model().source), "--prompt-tokens", str(PROMPT), "--max-tokens", str(DECODE), "--repeats", "1",
            "--warmup", "0", "--no-check", *extra]  # fmt: skip


def check_consistent(r: dict[str, Any], mode: str) -> dict[str, Any]:
    """The report's speculative figures agree with each other and with the decode figures."""
    s = r["speculative"]
    assert s is not None and s["mode"] == mode and s["draft_tokens"] == K
    for key in ("drafted", "accepted", "acceptance_rate", "tokens_per_verify_step", "verify_steps", "plain_steps", "model_steps"):
        assert key in s, key
    assert 0 <= s["accepted"] <= s["drafted"] and s["drafted"] > 0 and s["verify_steps"] > 0
    assert s["acceptance_rate"] == pytest.approx(s["accepted"] / s["drafted"], abs=1e-4)
    assert s["tokens_per_verify_step"] >= 1
    assert s["tokens_per_verify_step"] == pytest.approx((s["accepted"] + s["verify_steps"]) / s["verify_steps"], abs=1e-4)
    # each verification step emits its accepted drafts and one token of the model's, a plain step one token
    assert s["accepted"] + s["verify_steps"] + s["plain_steps"] == DECODE == r["settings"]["decode_tokens"]
    assert s["model_steps"] == s["verify_steps"] + s["plain_steps"]
    # decode tokens/s: emitted tokens over wall time, as a plain run counts them
    assert r["decode_tokens_per_s"] == pytest.approx(DECODE / r["decode_seconds"])
    assert len(r["generated_ids"]) == DECODE + 1
    assert s["plain_greedy_match"] == s["plain_greedy_compared"] > 1  # greedy speculation: plain greedy's tokens
    assert s["dispatches_per_verify_step"] > 0
    return s


def test_bench_speculate_lookup_json(compiles: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    from rusty_ir.bench import format_report

    code, out, err = bench([*tiny_args("--speculate", "lookup", "--draft-tokens", str(K)), "--json"], capsys)
    assert code == 0, err
    assert len(compiles) == 1 and compiles[0].verify_entry
    r = json.loads(out)
    check_consistent(r, "lookup")
    assert r["speculative"]["draft_model"] is None
    assert r["options"]["speculate"] == "lookup" and f"--speculate lookup --draft-tokens {K}" in r["command"]
    text = format_report(r)
    for needle in ("decode tokens/s", "speculative decoding", "lookup, K=4", "drafted / accepted", "acceptance rate",
                   "tokens per verify step", "emitted tokens over wall time"):  # fmt: skip
        assert needle in text, needle


def test_bench_speculate_with_a_draft_model(compiles: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = tiny_checkpoint(tmp_path / "draft.gguf", seed=4)  # the same tokenizer, other weights
    code, out, err = bench([*tiny_args("--draft", str(draft), "--draft-tokens", str(K)), "--json"], capsys)
    assert code == 0, err
    assert [o.verify_entry for o in compiles] == [True, False]  # the model, then the draft model
    s = check_consistent(json.loads(out), "draft")
    assert s["draft_model"] == str(draft)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--speculate", "medusa"], "unknown --speculate mode 'medusa' (known: lookup, draft)"),
        (["--speculate", "lookup", "--draft-tokens", "0"], "--draft-tokens must be from 1 to 32, got 0"),
        (["--speculate", "draft"], "--speculate draft needs a draft model: give --draft MODEL"),
        (["--draft-tokens", "3"], "--draft-tokens applies to speculative decoding"),
        (["--speculate", "lookup", "--draft", "DRAFT"], "--draft MODEL applies to --speculate draft"),
        (["--draft", "DRAFT"], "its vocabulary differs from"),
    ],
)
def test_bad_combinations(extra: list[str], message: str, compiles: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rusty_ir.synthetic import write_synthetic_gguf

    if "DRAFT" in extra:  # a model of another vocabulary (512 tokens against the tiny model's 272)
        extra = [str(write_synthetic_gguf("test-tiny", "q4_0", tmp_path / "other.gguf")) if a == "DRAFT" else a for a in extra]
    code, out, err = bench(tiny_args(*extra), capsys)
    assert code == 1 and out == "" and compiles == []
    assert err.startswith("rusty: error: ") and message in err and err.count("\n") == 1, err


def test_fusion_refuses_speculation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = bench(["--fusion", "--speculate", "lookup"], capsys)
    assert (
        code == 1
        and err.strip() == "rusty: error: --speculate does not apply to rusty bench --fusion (its results are always checked against numpy)"
    )
