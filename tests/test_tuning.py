"""Measured tuning (rusty_ir/tuning/) on the real wgpu adapter (llvmpipe in CI): candidates, the per-adapter
cache that ``tune-workgroups{configs=...}`` reads, numerics, fallback, the driver and ``rusty bench --tune``.

Regions are tiny (a 16x64 q8_0 contraction over a dynamic token count, a 2x32
elementwise region) and the timed steps short (prefill of 4 tokens, 2 runs), so
the whole file takes about a minute on llvmpipe. The reference for the numbers
is numpy on the dequantized weight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from rusty_ir import tuning
from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.dialects.gpu.attrs import set_module_target
from rusty_ir.errors import RustyError
from rusty_ir.passes.tuning.generic import default_configs
from rusty_ir.passes.tuning.tune_workgroups import TuneWorkgroupsPass
from rusty_ir.registry import build_registry
from rusty_ir.targets import TARGETS
from rusty_ir.tuning import LOWERING, BufferArg, DeviceRunner, HostScalars, RegionBenchmark, TimedStep, Tuner, TuningCache, search_axes
from rusty_ir.weights import SCHEMES, dequantize, quantize

N_OUT, K = 16, 64

CONTRACTION = f"""
func.func @prefill(%x: tensor<?x{K}xf32>, %w: tensor<{N_OUT}x{K}x!rquant.q8_0>) -> tensor<?x{N_OUT}xf32> {{
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x{K}xf32>
  %y = dispatch.region "gemv"(%s, %x, %w) : (index, tensor<?x{K}xf32>, tensor<{N_OUT}x{K}x!rquant.q8_0>) -> tensor<?x{N_OUT}xf32> {{
  ^bb0(%n: index, %a: tensor<?x{K}xf32>, %b: tensor<{N_OUT}x{K}x!rquant.q8_0>):
    %bf = rquant.dequantize %b : tensor<{N_OUT}x{K}x!rquant.q8_0> -> tensor<{N_OUT}x{K}xf32>
    %e = tensor.empty(%n) : tensor<?x{N_OUT}xf32>
    %zero = arith.constant 0.0 : f32
    %i = linalg.fill ins(%zero : f32) outs(%e : tensor<?x{N_OUT}xf32>) -> tensor<?x{N_OUT}xf32>
    %r = linalg.generic {{indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}} ins(%a, %bf : tensor<?x{K}xf32>, tensor<{N_OUT}x{K}xf32>) outs(%i : tensor<?x{N_OUT}xf32>) {{
    ^bb1(%xa: f32, %wa: f32, %acc: f32):
      %p = arith.mulf %xa, %wa : f32
      %q = arith.addf %p, %acc : f32
      linalg.yield %q : f32
    }} -> tensor<?x{N_OUT}xf32>
    dispatch.yield %r : tensor<?x{N_OUT}xf32>
  }}
  func.return %y : tensor<?x{N_OUT}xf32>
}}
"""


def elementwise(cols: int) -> str:
    return f"""
func.func @neg(%x: tensor<2x{cols}xf32>) -> tensor<2x{cols}xf32> {{
  %y = dispatch.region "neg"(%x) : (tensor<2x{cols}xf32>) -> tensor<2x{cols}xf32> {{
  ^bb0(%a: tensor<2x{cols}xf32>):
    %e = tensor.empty() : tensor<2x{cols}xf32>
    %r = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}} ins(%a : tensor<2x{cols}xf32>) outs(%e : tensor<2x{cols}xf32>) {{
    ^bb1(%v: f32, %o: f32):
      %n = arith.negf %v : f32
      linalg.yield %n : f32
    }} -> tensor<2x{cols}xf32>
    dispatch.yield %r : tensor<2x{cols}xf32>
  }}
  func.return %y : tensor<2x{cols}xf32>
}}
"""


def parse(text: str) -> ModuleOp:
    return Parser(build_registry().context(), text).parse_module()


def the_region(module: ModuleOp) -> RegionOp:
    (region,) = [op for op in module.walk() if isinstance(op, RegionOp)]
    return region


def heuristic(module: ModuleOp, target: str = "webgpu") -> tuning.Pair:
    return default_configs(region_ops(the_region(module)), TARGETS[target])


@pytest.fixture(scope="module")
def device() -> Any:
    from rusty_ir.backends.runtime import Device

    try:
        return Device()
    except Exception as err:
        pytest.fail(f"no wgpu adapter (install mesa-vulkan-drivers on a machine without a GPU): {err}")


def tuner(device: Any, path: Path | None, **kwargs: Any) -> Tuner:
    cache = TuningCache(path) if path is not None else None
    return Tuner(device, cache, TARGETS["webgpu"], prefill_length=4, repeats=2, **kwargs)


def with_target(module: ModuleOp, target: str = "webgpu") -> ModuleOp:
    set_module_target(module, TARGETS[target])
    return module


# --- candidates ---------------------------------------------------------------------------------


def test_candidates_vary_the_heuristic_within_the_limits() -> None:
    module = parse(CONTRACTION)
    for name in ("webgpu", "nvidia"):
        target = TARGETS[name]
        config, single = heuristic(module, name)
        for seed in (config, single):
            assert seed is not None
            seen = [seed]
            for axis in search_axes(seed, target):
                configs = axis(seed)
                assert configs[0] == seed and len(configs) == len(set(configs))
                seen += configs[1:]
            assert len(seen) > 5
            for c in seen:  # every candidate is a valid config of the same strategy within the target's limits
                assert c.config.strategy == seed.config.strategy and c.config.threads <= target.max_invocations
        rows = {c.config.thread_tile[0] for c in search_axes(single, target)[0](single)}
        assert rows == {1, 2, 4, 8}
        maths = {c.config.math for c in search_axes(single, target)[2](single)}
        assert maths == ({"f32", "dp4a"} if target.int_dot else {"f32"})
    (neg, _) = heuristic(parse(elementwise(32)))
    assert [c.config.threads for c in search_axes(neg, TARGETS["webgpu"])[0](neg)] == [256, 32, 64, 128]


def test_lowering_is_the_default_pipeline_after_tuning_but_the_weight_layout() -> None:
    from rusty_ir.stages import DEFAULT_STAGES

    names = [n for n, _ in DEFAULT_STAGES]
    after = [spec for n, spec in DEFAULT_STAGES[names.index("tuned") + 1 :] if n != "laid-out"]
    assert tuple(after) == LOWERING and not any(s.startswith("weight-layout") for s in LOWERING)


def test_host_scalars_follow_calls_and_loops() -> None:
    module = parse("""
func.func @layer(%x: tensor<?x8xf32>, %pos: index, %layer: index) {
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  %s = tensor.dim %x, %c0 : tensor<?x8xf32>
  %last = arith.subi %s, %c1 : index
  %end = arith.addi %pos, %s : index
  "test.op"(%last, %end, %layer) : (index, index, index) -> ()
  func.return
}
func.func @prefill(%x: tensor<?x8xf32>, %pos: index) {
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %c1 = arith.constant 1 : index
  scf.for %l = %c3 to %c3 step %c1 {
    func.call @layer(%x, %pos, %l) : (tensor<?x8xf32>, index, index) -> ()
    scf.yield
  }
  func.return
}
""")
    host = HostScalars(module)
    use = next(op for op in module.walk() if op.name == "test.op")
    step = TimedStep("prefill", 5, 7)
    assert [host.value(v, step, rows=99) for v in use.operands] == [4, 12, 3]


# --- measuring, the cache ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned_contraction(device: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Tuner, tuning.RegionResult, ModuleOp, Path]:
    """The contraction tuned once for the tests below (the search is the slow part)."""
    path = tmp_path_factory.mktemp("tuning") / "tuning.json"
    module = parse(CONTRACTION)
    first = tuner(device, path)
    (result,) = first.tune_module(module)
    return first, result, module, path


def test_measured_configs_are_timed_candidates_and_are_cached(device: Any, tuned_contraction: Any) -> None:
    first, result, module, path = tuned_contraction
    assert result.source == "measured", result.note
    assert result.tried[0] == heuristic(module) and (result.config, result.single) in result.tried
    assert len(result.tried) > 5 and not [r for r in result.rejected.values() if "wrong results" in r]
    assert set(result.seconds) == {"decode", "prefill"} and all(t > 0 for t in result.seconds.values())
    # single-token configs are timed on decode, the others on prefill: one step per timing
    assert first.measurements == result.timings

    data = json.loads(path.read_text())
    (entry,) = data["regions"].values()
    assert data["format"] == "rusty-tuning" and data["version"] == tuning.TUNER_VERSION
    assert entry["adapter"] == device.identity and entry["label"] == "gemv"
    assert entry["config"] == tuning.describe(result.config) and entry["single_token_config"] == tuning.describe(result.single)

    # a second compile (new tuner, file read afresh) takes the winners without timing anything
    second = tuner(device, path)
    (hit,) = second.tune_module(parse(CONTRACTION))
    assert (hit.source, hit.config, hit.single, second.measurements) == ("cache", result.config, result.single, 0)


def test_the_pass_applies_the_cached_configs(tuned_contraction: Any) -> None:
    """``tune-workgroups{configs=FILE}`` reads the winners by region signature; without the file, the heuristic's."""
    _, result, _, path = tuned_contraction
    tuned = with_target(parse(CONTRACTION))
    TuneWorkgroupsPass(configs=str(path)).apply(build_registry().context(), tuned)
    assert (the_region(tuned).config, the_region(tuned).single_token_config) == (result.config, result.single)
    plain = with_target(parse(CONTRACTION))
    TuneWorkgroupsPass().apply(build_registry().context(), plain)
    assert (the_region(plain).config, the_region(plain).single_token_config) == heuristic(plain)


def test_every_timed_contraction_config_computes_the_right_numbers(device: Any, tuned_contraction: Any) -> None:
    _, result, module, _ = tuned_contraction
    assert result.source == "measured"
    rng = np.random.default_rng(3)
    raw = quantize(rng.standard_normal((N_OUT, K)).astype(np.float32), SCHEMES["q8_0"])
    w = dequantize(raw, SCHEMES["q8_0"], (N_OUT, K))
    bench = RegionBenchmark(the_region(module), TARGETS["webgpu"])
    runner = DeviceRunner(device)
    # the winners and every other candidate the search timed, at 1 token (the single-token config) and 3
    for pair in dict.fromkeys([(result.config, result.single), *result.tried]):
        lowered = bench.lower(*pair)
        for tokens in (1, 3):
            x = rng.standard_normal((tokens, K)).astype(np.float32)
            shapes = (tokens, BufferArg("f32", (tokens, K)), BufferArg("q8_0", (N_OUT, K)), BufferArg("f32", (tokens, N_OUT)))
            out = np.full((tokens, N_OUT), np.nan, np.float32)
            got = runner.execute(lowered, [tokens, x, raw, out], shapes)[3]
            np.testing.assert_allclose(got, x @ w.T, rtol=1e-4, atol=1e-4, err_msg=f"{pair} at {tokens} tokens")


def test_another_kernel_or_another_adapters_file_misses_the_cache(device: Any, tmp_path: Path) -> None:
    path = tmp_path / "tuning.json"
    base = tuner(device, path)
    base.tune_module(parse(elementwise(32)))
    assert base.measurements > 0
    same = tuner(device, path)
    same.tune_module(parse(elementwise(32)))
    assert same.measurements == 0

    other_kernel = tuner(device, path)
    (r,) = other_kernel.tune_module(parse(elementwise(64)))  # another shape: another signature
    assert r.source == "measured" and other_kernel.measurements > 0
    assert len(json.loads(path.read_text())["regions"]) == 2
    # one file per adapter, named by its identity
    assert tuning.cache_path(tmp_path, "adapter A") != tuning.cache_path(tmp_path, "adapter B")
    assert tuning.cache_path(tmp_path, "adapter A").parent == tmp_path / "tuning"


def test_outputs_must_match_the_heuristic_config() -> None:
    want = np.linspace(-2, 2, 64).astype(np.float32)
    tuning.check_outputs([want * (1 + 1e-6)], [want], "decode")  # another summation order
    for bad in (want + 0.1, np.full_like(want, np.nan)):
        with pytest.raises(RustyError, match="wrong results: decode output #0"):
            tuning.check_outputs([bad], [want], "decode")
    with pytest.raises(RustyError, match="wrong results"):
        tuning.check_outputs([np.array([3], np.int32)], [np.array([2], np.int32)], "decode")
    # other arithmetic (int8 activations, f16 tiles) is held to 2%
    tuning.check_outputs([want * (1 + 1e-2)], [want], "decode", loose=True)
    with pytest.raises(RustyError, match="wrong results"):
        tuning.check_outputs([want * (1 + 1e-2)], [want], "decode")


def test_a_candidate_that_computes_nothing_is_rejected(device: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidates other than the heuristic's launch empty grids: their poisoned outputs stay NaN."""
    module = parse(elementwise(32))
    seed = heuristic(module)
    real = DeviceRunner.dispatches

    def nothing_but_the_seed(self: DeviceRunner, lowered: Any, *args: Any) -> Any:
        out = real(self, lowered, *args)
        return out if lowered.configs == seed else [(bound, (0, 1, 1)) for bound, _ in out]

    monkeypatch.setattr(DeviceRunner, "dispatches", nothing_but_the_seed)
    (result,) = tuner(device, None).tune_module(module)
    assert (result.config, result.single) == seed and result.tried == [seed]
    assert len(result.rejected) == 3 and all(r.startswith("wrong results: decode output #0") for r in result.rejected.values())


def test_identical_regions_are_tuned_once(device: Any) -> None:
    text = elementwise(32)
    module = parse(text + text.replace("@neg", "@neg2"))
    t = tuner(device, None)
    results = t.tune_module(module)
    assert len(results) == 2 and results[0] is results[1]
    assert t.measurements == results[0].timings  # one step: a static region is the same in decode and prefill


def test_corrupt_cache_is_reported_and_replaced(device: Any, tmp_path: Path) -> None:
    path = tmp_path / "tuning.json"
    path.write_text("{not json")
    warnings: list[str] = []
    cache = TuningCache(path, warn=warnings.append)
    assert cache.entries == {} and "ignoring the tuning cache" in warnings[0]
    Tuner(device, cache, TARGETS["webgpu"], prefill_length=2, repeats=1).tune_module(parse(elementwise(32)))
    assert len(json.loads(path.read_text())["regions"]) == 1


# --- without an adapter ----------------------------------------------------------------------------


def test_without_an_adapter_the_driver_keeps_the_heuristic(tmp_path: Path) -> None:
    """A real run with no adapter: Vulkan only (WGPU_BACKEND_TYPE), and no Vulkan driver (VK_ICD_FILENAMES)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from xdsl.parser import Parser\n"
        "from rusty_ir.registry import build_registry\n"
        "from rusty_ir.dialects.gpu.attrs import set_module_target\n"
        "from rusty_ir.targets import TARGETS\n"
        "from rusty_ir.tuning import tune_for_compile\n"
        "m = Parser(build_registry().context(), sys.stdin.read()).parse_module()\n"
        "set_module_target(m, TARGETS['webgpu'])\n"
        "print(tune_for_compile(m, 4, Path(sys.argv[1])))\n"
    )
    env = {**os.environ, "VK_ICD_FILENAMES": str(tmp_path / "no-driver.json"), "WGPU_BACKEND_TYPE": "Vulkan"}
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cache")], input=CONTRACTION, capture_output=True, text=True,
                         env=env, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "None"
    assert "tuning: no wgpu adapter to measure on" in run.stderr and "using the webgpu heuristic" in run.stderr
    assert not (tmp_path / "cache").exists()


# --- the driver -----------------------------------------------------------------------------------


def test_tuned_and_default_compiles_have_different_cache_keys(tmp_path: Path) -> None:
    from importers.tiny import random_weights, tiny_config, write_tiny_gguf

    from rusty_ir.driver import CompileOptions, cache_key
    from rusty_ir.importers import load_model
    from rusty_ir.pipeline import default_pipeline

    cfg = tiny_config("qwen2")
    model = load_model(write_tiny_gguf(tmp_path / "model.gguf", cfg, random_weights(cfg)))
    tuned, plain = CompileOptions(target="nvidia", tune=True), CompileOptions(target="nvidia")
    assert plain.pipeline == default_pipeline("nvidia")
    assert 'tune-workgroups{configs="TUNING_CACHE"}' in tuned.pipeline and "tune-workgroups," in plain.pipeline
    assert cache_key(model, CompileOptions(target="nvidia", tune=True, tune_prefill_length=8), "gpu") != cache_key(model, tuned, "gpu")
    assert cache_key(model, tuned, "gpu") != cache_key(model, plain, "gpu")


# --- rusty bench --tune ------------------------------------------------------------------------------


def test_bench_tune_reports_tuned_against_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on the hidden 'test-tiny' synthetic shape: tuned compile, timings side by side, tuned logits checked."""
    from rusty_ir.bench import format_report
    from rusty_ir.tools.rusty import main

    monkeypatch.setenv("RUSTY_CACHE_DIR", str(tmp_path / "cache"))
    # the search itself is tested above: here one alternative per axis keeps the tiny model's dozen regions quick
    axes = tuning.search_axes
    monkeypatch.setattr(
        tuning, "search_axes", lambda config, target, weights: [lambda c, a=a: a(c)[:2] for a in axes(config, target, weights)]
    )
    args = ["bench", "--synthetic", "test-tiny", "--quant", "q4_0", "--prompt-tokens", "8", "--decode-tokens", "4",
            "--repeats", "1", "--warmup", "0", "--cache-dir", str(tmp_path / "synthetic"), "--tune", "--json"]  # fmt: skip
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    t = r["tuned"]
    assert "--tune" in r["command"] and r["options"]["tune"] is True
    assert "tune-workgroups{configs=" in t["compile"]["pipeline"] and "configs=" not in r["compile"]["pipeline"]
    assert t["compile"]["cache_hit"] is False and r["compile"]["cache_hit"] is False  # two artifacts, two keys
    assert t["prefill_tokens_per_s"] > 0 and t["decode_tokens_per_s"] > 0
    assert t["speedup_decode"] == pytest.approx(r["decode_seconds"] / t["decode_seconds"])
    assert t["correctness"]["passed"] is True and t["correctness"]["max_rel_err"] < 2e-2
    assert len(t["generated_ids"]) == len(r["generated_ids"]) == 5
    assert "tuning: " in err and " measured (" in err
    (cache,) = (tmp_path / "cache" / "tuning").glob("*.json")
    regions = json.loads(cache.read_text())["regions"]
    assert regions and all(e["adapter"] for e in regions.values())
    text = format_report(r)
    assert "tuned against default" in text and "tuned/default" in text and "tuned correctness" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--backend", "reference", "--tune"], "--tune applies to the wgpu backend"),
        (["bench", "--fusion", "--tune"], "--tune does not apply to rusty bench --fusion"),
    ],
)
def test_tune_flag_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    from rusty_ir.tools.rusty import main

    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"rusty: error: {message}" in err and "Traceback" not in err
