"""User mistakes that were internal errors (issue 16, defects 8 and 10) are clean one-line errors, exit 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rusty_ir.tools import rusty, rusty_opt, rusty_translate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("qwen2")
    return write_tiny_gguf(tmp_path_factory.mktemp("model") / "tiny.gguf", cfg, random_weights(cfg))


def _error(capsys: pytest.CaptureFixture[str], main, argv: list[str], tool: str = "rusty") -> str:
    assert main(argv) == 1
    # a run on llvmpipe warns once that the adapter is a software one; the error is the one other line
    err = "".join(line for line in capsys.readouterr().err.splitlines(keepends=True) if not line.startswith(f"{tool}: warning: "))
    lines = err.splitlines(keepends=True)
    if len(lines) == 3 and lines[2].strip() == "^":  # a located error shows its source line and a caret, as mlir-opt does
        err = lines[0]
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err, err
    assert err.startswith(f"{tool}: error: ") or ": error: " in err, err
    return err


def test_prompt_that_is_not_utf8(tiny: Path, capsys) -> None:
    """A --prompt with undecodable bytes (surrogate escapes) was a TypeError in the tokenizer."""
    err = _error(capsys, rusty.main, ["run", str(tiny), "--backend", "reference", "--prompt", "caf\udce9"])
    assert "--prompt is not valid UTF-8 text (character 3 is an undecodable byte)" in err


def test_context_length_past_what_positions_hold(tiny: Path, capsys) -> None:
    err = _error(capsys, rusty.main, ["run", str(tiny), "--context-length", str(2**31)])
    assert "--context-length must be from 1 to 2147483647" in err


def test_context_length_past_the_gpu(tmp_path: Path, capsys, monkeypatch) -> None:
    """--context-length 1000000000 on wgpu was a GPUValidationError (a buffer past the device's maximum). The
    model claims 2^30 trained positions, so only the GPU's limits refuse it."""
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("qwen2", context_length=2**30)
    model = write_tiny_gguf(tmp_path / "long.gguf", cfg, random_weights(cfg))
    monkeypatch.setenv("RUSTY_CACHE_DIR", str(tmp_path / "cache"))
    err = _error(capsys, rusty.main, ["run", str(model), "-q", "--max-tokens", "1", "--context-length", "1000000000"])
    assert "the GPU cannot hold this model with --context-length 1000000000" in err and "give a smaller --context-length" in err


@pytest.fixture(scope="module")
def compiled(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`rusty compile` of ``tiny``, once: each broken-folder case edits a copy of it."""
    out = tmp_path_factory.mktemp("compiled") / "out"
    assert rusty.main(["compile", str(tiny), "-q", "-o", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(options=None), "manifest.json has no valid 'options'"),  # was an AttributeError
        (lambda m: m.update(quantized_weights=7), "'quantized_weights' must map weight names to schemes"),
        (lambda m: m.clear() or m.update(rusty_ir="0.1.0"), "manifest.json has no valid 'options'"),
    ],
)
def test_a_broken_compiled_folder(tiny: Path, compiled: Path, tmp_path: Path, capsys, change, message: str) -> None:
    out = tmp_path / "out"
    shutil.copytree(compiled, out)
    manifest = json.loads((out / "manifest.json").read_text())
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    err = _error(capsys, rusty.main, ["run", str(tiny), "-q", "--compiled", str(out)])
    assert f"'{out}' is not a compiled rusty-ir model: " in err and message in err


def test_a_compiled_folder_for_other_subgroups(tiny: Path, tmp_path: Path, capsys) -> None:
    """A folder compiled for the nvidia target (reductions over subgroups of 32) on an adapter of another subgroup
    width (llvmpipe's are 8) gave wrong tokens silently; now it is refused, saying which target to compile for. On an
    adapter whose target has subgroups of 32 it runs."""
    from rusty_ir.backends.runtime import Device
    from rusty_ir.targets import TARGETS, check_subgroups, target_for_adapter

    llvmpipe = {"device": "llvmpipe (LLVM 15.0.6, 256 bits)", "adapter_type": "CPU", "vendor": "llvmpipe"}
    h200 = {"device": "NVIDIA H200", "adapter_type": "DiscreteGPU", "vendor": "NVIDIA"}
    check_subgroups("webgpu", llvmpipe)  # width-agnostic kernels run anywhere
    check_subgroups("nvidia", h200)
    check_subgroups("apple", h200)  # warps and SIMD-groups are both 32 wide
    out = tmp_path / "nvidia"
    assert rusty.main(["compile", str(tiny), "-q", "--target", "nvidia", "-o", str(out)]) == 0
    run = ["run", str(tiny), "-q", "--compiled", str(out), "--max-tokens", "2"]
    mine = target_for_adapter(Device().info)
    if TARGETS[mine].subgroup_size == 32:
        assert rusty.main(run) == 0
        return
    err = _error(capsys, rusty.main, run)
    assert "compiled for the 'nvidia' target, whose kernels assume subgroups of 32 invocations" in err
    assert f"rusty compile --target {mine}" in err


def _nested(depth: int) -> str:
    loops = "".join(f"  scf.for %i{d} = %c to %c step %c {{\n" for d in range(depth))
    return f"func.func @f(%c: index) {{\n{loops}{'  }' * depth}\n  func.return\n}}\n"


@pytest.mark.parametrize("main", [rusty_opt.main, rusty_translate.main])
def test_deep_nesting_is_a_located_error(tmp_path: Path, capsys, main) -> None:
    """Nesting past about 96 levels crashed with RecursionError."""
    (tmp_path / "shallow.mlir").write_text(_nested(40))
    assert rusty_opt.main([str(tmp_path / "shallow.mlir"), "-o", str(tmp_path / "out.mlir")]) == 0
    (tmp_path / "deep.mlir").write_text(_nested(3000))
    argv = [str(tmp_path / "deep.mlir")] + (["--to-wgsl"] if main is rusty_translate.main else [])
    err = _error(capsys, main, argv, "")
    assert err.startswith(f"{tmp_path / 'deep.mlir'}:") and "error: the IR is nested too deeply" in err


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.mlir").write_text('func.func @f() {\n  "\x1b[2Jtest.op"() : () -> ()\n  func.return\n}\n')
    err = _error(capsys, rusty_opt.main, [str(tmp_path / "bad.mlir")], "")
    assert "\x1b" not in err and "\\x1b[2J" in err


def test_an_unterminated_string_fails_fast(tmp_path: Path, capsys) -> None:
    """xDSL's string pattern backtracked exponentially: this line hung rusty-opt and rusty-translate for good."""
    import time

    (tmp_path / "cut.mlir").write_text('x"({{.*}}) <{kernel = @kernels::@gemv_2, more words to backtrack over\n')
    start = time.perf_counter()
    err = _error(capsys, rusty_opt.main, [str(tmp_path / "cut.mlir")], "")
    assert "End of file reached before closing string literal" in err and time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--speculate", "medusa"], "unknown --speculate mode 'medusa' (known: lookup, draft)"),
        (["--speculate", "lookup", "--draft-tokens", "0"], "--draft-tokens must be from 1 to 32, got 0"),
        (["--speculate", "lookup", "--draft-tokens", "33"], "--draft-tokens must be from 1 to 32, got 33"),
        (["--speculate", "draft"], "--speculate draft needs a draft model: give --draft MODEL"),
        # sampling with --speculate works (rejection sampling); its options are still checked
        (["--speculate", "lookup", "--temperature", "0.8", "--draft-tokens", "0"], "--draft-tokens must be from 1 to 32, got 0"),
        (["--speculate", "lookup", "--draft", "SMOLLM2"], "--draft MODEL applies to --speculate draft"),
        (["--draft", "SMOLLM2"], "its vocabulary differs from"),
    ],
)
def test_bad_speculative_options(tiny: Path, smollm2_path: Path, capsys, flags: list[str], message: str) -> None:
    """Speculative decoding's options: a bad mode, K out of range (sampled too), a draft model without draft mode or of
    another vocabulary."""
    flags = [str(smollm2_path) if f == "SMOLLM2" else f for f in flags]
    err = _error(capsys, rusty.main, ["run", str(tiny), "--backend", "reference", "-q", "--prompt", "hi", *flags])
    assert message in err


@pytest.mark.parametrize("command", ["chat", "serve"])
def test_chat_and_serve_check_speculative_options_first(tiny: Path, capsys, command: str) -> None:
    """``rusty chat`` and ``rusty serve`` take the speculative options too, checked before the model is loaded."""
    err = _error(capsys, rusty.main, [command, str(tiny), "--backend", "reference", "-q", "--speculate", "medusa"])
    assert "unknown --speculate mode 'medusa' (known: lookup, draft)" in err
