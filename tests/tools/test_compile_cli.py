"""`rusty compile`, `rusty run` on wgpu, and the pipeline reproduced stage by stage with rusty-opt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = {"rusty": "rusty_ir.tools.rusty", "rusty-opt": "rusty_ir.tools.rusty_opt", "rusty-translate": "rusty_ir.tools.rusty_translate"}


def tool(name: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", TOOLS[name], *args], capture_output=True, text=True, timeout=600, input=stdin,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`rusty compile -o DIR --dump-after dispatch --generic` of the default model, once (no cache): the folder and
    the run's output (the IR after 'dispatch' on stdout, progress on stderr)."""
    out = tmp_path_factory.mktemp("compiled") / "smollm2"
    return out, tool("rusty", "compile", "-o", str(out), "--dump-after", "dispatch", "--generic")


def test_compile_writes_kernels_schedule_and_manifest_that_rusty_opt_reproduces(
    compiled: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, r = compiled
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["kernels.wgsl", "manifest.json", "schedule.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kernels"] > 0 and "rusty-bufferize" in manifest["pipeline"]
    for stage in ("tensor", "dispatch", "tiled", "gpu"):
        assert stage in r.stderr  # progress per stage

    # The same IR through the tools, stage by stage, gives the same kernels and schedule.
    ir = tool("rusty", "import", "-q").stdout
    gpu = tool("rusty-opt", "-p", "rusty-default", stdin=ir)
    assert gpu.returncode == 0, gpu.stderr
    wgsl = tool("rusty-translate", "--to-wgsl", stdin=gpu.stdout)
    schedule = tool("rusty-translate", "--to-schedule", stdin=gpu.stdout)
    assert wgsl.stdout == (out / "kernels.wgsl").read_text()
    assert json.loads(schedule.stdout) == json.loads((out / "schedule.json").read_text())


def test_dump_after_and_bad_stage(compiled: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    _, r = compiled  # the dump and the compiled folder come from one compile
    assert r.returncode == 0 and '"dispatch.region"(' in r.stdout and "tiled.kernel" not in r.stdout
    reparsed = tool("rusty-opt", stdin=r.stdout)  # the generic form parses back (the custom form: lit_tests/tools)
    assert reparsed.returncode == 0, reparsed.stderr
    bad = tool("rusty", "compile", "-q", "--dump-after", "nowhere", "-o", str(tmp_path / "x"))
    assert bad.returncode == 1 and "unknown stage 'nowhere'" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()


def test_run_on_wgpu_reports_cache_hits_and_dispatches(tmp_path: Path) -> None:
    env = {"RUSTY_CACHE_DIR": str(tmp_path / "cache")}
    args = ("run", "--json", "--max-tokens", "2", "--prompt", "Hi")
    cold = tool("rusty", *args, env=env)
    assert cold.returncode == 0, cold.stderr
    first = json.loads(cold.stdout)
    assert first["backend"] == "wgpu" and first["compile"]["cache_hit"] is False
    layers = 30
    assert first["compile"]["dispatches_per_token"] <= 8 * layers + 4
    warm = json.loads(tool("rusty", *args, env=env).stdout)
    assert warm["compile"]["cache_hit"] is True
    assert warm["generated_ids"] == first["generated_ids"]
    # a cache hit runs without the compiler: xDSL and the passes are never imported
    assert first["compiler_imported"] is True and warm["compiler_imported"] is False
    assert warm["host_peak_rss_bytes"] > 0 and warm["host_rss_bytes"] > 0
    assert set(warm["compile"]["memory"]) == {"weights", "kv_cache", "slots", "io", "params", "total"}
    blocks = warm["compile"]["kv_cache_blocks"]["kv"]  # paged: blocks for the prompt and the answer, not the context
    n = len(warm["prompt_ids"]) + len(warm["generated_ids"]) - 1
    assert blocks["block_size"] == 16 and blocks["blocks_used"] == -(-n // 16) and blocks["blocks_allocated"] < blocks["blocks_max"]
    planning = warm["compile"]["memory_planning"]  # plan-memory's sharing, against one buffer per value
    assert planning["slots"] == warm["compile"]["memory"]["slots"] and 10 * planning["slots"] < planning["one_buffer_per_value"]


def test_run_a_compiled_folder_without_the_compiler(compiled: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    out, r = compiled
    assert r.returncode == 0, r.stderr
    args = ("run", "--json", "--max-tokens", "2", "--prompt", "Hi")
    env = {"RUSTY_CACHE_DIR": str(tmp_path / "cache")}  # empty: nothing may come from the cache
    r = tool("rusty", *args, "--compiled", str(out), env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["compiler_imported"] is False and got["compile"]["cache_hit"] is None
    assert got["compile"]["can"] == {"sample": False, "verify": False, "verify_sample": False}  # rusty compile's defaults
    assert got["compile"]["cache_folder"] == str(out) and not (tmp_path / "cache").exists()
    assert got["generated_ids"] == json.loads(tool("rusty", *args, "--backend", "reference").stdout)["generated_ids"]
    chat = tool("rusty", "chat", "--compiled", str(out), "--temperature", "0.7", stdin="Hi\n")
    assert chat.returncode == 1 and "decodes greedily only" in chat.stderr and "Traceback" not in chat.stderr, chat.stderr
    for bad, message in (
        (("--compiled", str(tmp_path / "nowhere")), "is not a compiled rusty-ir model"),
        (("--compiled", str(out), "--backend", "reference"), "--compiled runs a compiled model on the wgpu backend"),
        (("--compiled", str(out), "--temperature", "0.7"), "without the sampling entries, so it decodes greedily only: drop "
                                                            "temperature, or use a folder compiled with rusty compile --sampling"),
        (("--compiled", str(out), "--speculate", "lookup"), "compile it with rusty compile --speculate"),
    ):  # fmt: skip
        r = tool("rusty", *args, *bad)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_stage_that_cannot_lower_names_the_op(tmp_path: Path) -> None:
    """Skipping form-dispatches leaves linalg ops on the host: the schedule names the op, without a traceback."""
    ir = tool("rusty", "import", "-q").stdout
    partial = tool("rusty-opt", "-p", "convert-transformer-to-tensor,convert-dispatch-to-tiled", stdin=ir)
    assert partial.returncode == 0, partial.stderr
    r = tool("rusty-translate", "--to-schedule", stdin=partial.stdout)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "'tensor.dim' is still here: it is lowered by form-dispatches" in r.stderr, r.stderr


def test_a_folder_compiled_for_sampling_and_speculation(tmp_path: Path) -> None:
    """`rusty compile --sampling --speculate` (a tiny Llama): `rusty run --compiled` then samples and speculates
    (greedy, and sampled through @verify_sample), with the tokens of the reference interpreter for one seed."""
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    cfg = tiny_config("llama")
    model = str(write_tiny_gguf(tmp_path / "tiny.gguf", cfg, random_weights(cfg, seed=3)))
    out = tmp_path / "out"
    r = tool("rusty", "compile", model, "-o", str(out), "--sampling", "--speculate", "-q")
    assert r.returncode == 0, r.stderr
    entries = json.loads((out / "schedule.json").read_text())["functions"]
    assert {"prefill_sample", "decode_sample", "verify", "verify_sample"} <= set(entries)
    ir = tool("rusty", "import", model, "--sampling", "--speculate", "-q").stdout  # the same entries as IR
    assert "func.func @verify_sample(" in ir and "tfm.row_sample" in ir and "func.func @decode_sample(" in ir
    base = ("run", model, "--no-chat", "--prompt", "a b c d a b c d a b c d", "--max-tokens", "14", "--ignore-eos", "--json", "-q")
    sampled = ["--temperature", "0.8", "--seed", "5"]
    for extra in (["--speculate", "lookup"], sampled, [*sampled, "--top-k", "1", "--speculate", "lookup"]):  # top-k 1: the text loops
        got = tool("rusty", *base, "--compiled", str(out), *extra)
        want = tool("rusty", *base, "--backend", "reference", *[x for x in extra if x not in ("--speculate", "lookup")])
        assert got.returncode == 0 and want.returncode == 0, (got.stderr, want.stderr)
        ran = json.loads(got.stdout)
        assert ran["generated_ids"] == json.loads(want.stdout)["generated_ids"], extra
        assert ran["compile"]["can"] == {"sample": True, "verify": True, "verify_sample": True}
        assert ("--speculate" in extra) == (ran["speculative"] is not None and ran["speculative"]["drafted"] > 0), ran["speculative"]
