"""The ``rusty`` CLI as a user runs it (subprocesses): import, run, info, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def rusty(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rusty_ir.tools.rusty", *args],
        capture_output=True, text=True, input=stdin, timeout=timeout,
    )  # fmt: skip


def assert_user_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert "rusty: error:" in r.stderr and message in r.stderr, r.stderr


# --- import --------------------------------------------------------------------------------------


def test_import_prints_ir_that_rusty_opt_reparses(smollm2_path: Path) -> None:
    r = rusty("import", str(smollm2_path))
    assert r.returncode == 0, r.stderr
    for entry in ("func.func @decoder_layer(", "func.func @prefill(", "func.func @decode(", "tfm.kv_cache @kv"):
        assert entry in r.stdout
    assert "tfm.config = {" in r.stdout
    assert "loading" in r.stderr and "building transformer IR" in r.stderr  # progress on stderr only
    opt = subprocess.run([sys.executable, "-m", "rusty_ir.tools.rusty_opt"], input=r.stdout, capture_output=True, text=True, timeout=120)
    assert opt.returncode == 0, opt.stderr
    assert "func.func @decoder_layer(" in opt.stdout and 'tfm.weight "blk.{}.ffn_down.weight"[%' in opt.stdout


def test_import_default_model_to_file(tmp_path: Path, smollm2_path: Path) -> None:
    out = tmp_path / "out.mlir"
    r = rusty("import", "-q", "-o", str(out))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert "func.func @decoder_layer(" in out.read_text()


# --- run -----------------------------------------------------------------------------------------


def _run_json(*args: str) -> dict[str, Any]:
    r = rusty("run", "--backend", "reference", "--json", *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --json keeps stderr quiet
    return json.loads(r.stdout)


def test_run_json_fields(smollm2_path: Path) -> None:
    out = _run_json("--max-tokens", "4")
    assert set(out) >= {"model", "backend", "prompt_ids", "generated_ids", "text", "timings", "compile"}
    assert out["backend"] == "reference" and out["compile"] is None and out["chat"] is True  # chat by default
    assert out["model"] == str(smollm2_path)
    assert 1 <= len(out["generated_ids"]) <= 4 and isinstance(out["text"], str)
    t = out["timings"]
    assert {"prefill_s", "decode_s", "decode_tokens_per_s", "time_to_first_token_s"} <= set(t)
    assert t["prefill_s"] > 0


@pytest.mark.parametrize("name", ["capital_france", "chat_single_turn"])
def test_run_json_matches_oracle(name: str, oracle: dict[str, Any]) -> None:
    p = next(p for p in oracle["prompts"] if p["name"] == name)
    if p.get("messages"):
        args = ["--chat", "--prompt", p["messages"][0]["content"]]
    else:
        args = ["--no-chat", "--prompt", p["prompt_text"]]
    out = _run_json(*args, "--ignore-eos", "--max-tokens", str(len(p["generated_ids"])))
    assert out["prompt_ids"] == p["input_ids"]
    # No near-tie in these two prompts (smallest top-two gap > 0.05), so every id must agree.
    assert min(s["top1_minus_top2"] for s in p["greedy_steps"]) > 1e-3
    assert out["generated_ids"] == p["generated_ids"]
    assert out["text"] == p["generated_text"]


def test_run_safetensors_folder_matches_oracle(smollm2_hf_folder: Path, oracle: dict[str, Any]) -> None:
    p = next(p for p in oracle["prompts"] if p["name"] == "capital_france")
    out = _run_json(str(smollm2_hf_folder), "--no-chat", "--prompt", p["prompt_text"], "--ignore-eos",
                    "--max-tokens", "8")  # fmt: skip
    assert out["prompt_ids"] == p["input_ids"] and out["generated_ids"] == p["generated_ids"][:8]


def test_run_streams_text(smollm2_path: Path) -> None:
    r = rusty("run", "--no-chat", "--prompt", "The capital of France is", "--max-tokens", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == " Paris.\n\n"  # the 3 oracle tokens, then a newline
    assert "decode" in r.stderr and "tokens/s" in r.stderr


def test_run_samples_reproducibly_with_a_seed(smollm2_path: Path) -> None:
    args = ("--no-chat", "--prompt", "Once upon a time", "--max-tokens", "3", "--temperature", "1.2", "--top-k", "40", "--seed", "5")
    first, again = _run_json(*args), _run_json(*args)
    assert first["generated_ids"] == again["generated_ids"] and len(first["generated_ids"]) == 3
    assert first["sampling"]["seed"] == 5 and first["sampling"]["top_k"] == 40 and first["finish_reason"] == "length"


# --- bad input -----------------------------------------------------------------------------------


def test_missing_model(tmp_path: Path) -> None:
    assert_user_error(rusty("import", str(tmp_path / "nope.gguf")), "no such file")
    assert_user_error(rusty("run", str(tmp_path / "nope.gguf")), "no such file")


def test_corrupt_gguf_writes_no_output(tmp_path: Path, smollm2_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 20)
    out = tmp_path / "out.mlir"
    r = rusty("import", str(bad), "-o", str(out))
    assert_user_error(r, str(bad))
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(smollm2_path.read_bytes()[:1_000_000])
    assert_user_error(rusty("import", str(truncated), "-o", str(out)), str(truncated))
    assert not out.exists()
    wrong_magic = tmp_path / "magic.gguf"
    wrong_magic.write_bytes(b"NOPE" + b"\x00" * 64)
    assert_user_error(rusty("run", str(wrong_magic)), str(wrong_magic))


def test_prompt_past_context_length(smollm2_path: Path) -> None:
    r = rusty("run", "--context-length", "8", "--max-tokens", "4")
    assert_user_error(r, "new tokens exceeds the context length 8 (--context-length)")
    assert "building transformer IR" not in r.stderr  # refused before any compute


def test_bad_options(smollm2_path: Path) -> None:
    assert_user_error(rusty("run", "--max-tokens", "-1"), "--max-tokens must not be negative")
    assert_user_error(rusty("run", "--context-length", "0"), "--context-length must be from 1 to 2147483647, got 0")
    usage = rusty("run", "--backend", "cuda")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr and "Traceback" not in usage.stderr
    unknown = rusty("run", "--temprature=0.5")  # the subcommand's usage, not the top level's
    assert unknown.returncode == 2 and "rusty run: error: unrecognized arguments: --temprature=0.5" in unknown.stderr
    assert "usage: rusty run" in unknown.stderr
    assert_user_error(rusty("run", "--temperature", "-1"), "temperature must be a number >= 0")
    assert_user_error(rusty("run", "--context-length", "100000"), "past what the model was trained for (8192 positions)")
    assert_user_error(rusty("run", "HuggingFaceTB/SmolLM2-135M-Instruct"), "looks like a Hugging Face model id")
    assert_user_error(rusty("compile"), "nothing to write: give -o DIR")


# --- info ----------------------------------------------------------------------------------------


def test_info_lists_adapters_without_traceback() -> None:
    r = rusty("info", timeout=120)
    assert "Traceback" not in r.stderr
    if r.returncode == 0:
        assert "adapter 0:" in r.stdout and "max-storage-buffer-binding-size" in r.stdout and "features:" in r.stdout
        assert r.stdout.count("* adapter") == 1 and "used by rusty: " in r.stdout  # the one kernels run on, and why
    else:
        assert r.returncode == 1 and "no GPU adapter" in r.stdout
    j = rusty("info", "--json", timeout=120)
    assert "Traceback" not in j.stderr
    report = json.loads(j.stdout)
    for a in report["adapters"]:
        assert {"name", "backend", "type", "features", "limits", "used", "warning"} <= set(a)
    assert [a["used"] for a in report["adapters"]].count(True) == (1 if report["adapters"] else 0) and report["why"]
