"""``rusty bench --fusion`` (rusty_ir/bench/fusion*.py) and ``form-dispatches{fuse=false}``, on the real wgpu adapter.

Tiny sizes (llvmpipe runs the kernels on the CPU): the whole file takes seconds. The default sizes
(64M elements, 4096^3, 1x4096x14336) are for a real GPU; their figures are recorded from the GPU machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rusty_ir.bench.fusion import run_fusion_bench
from rusty_ir.bench.fusion_options import FusionOptions
from rusty_ir.bench.fusion_program import _Program
from rusty_ir.bench.fusion_report import format_fusion_report
from rusty_ir.errors import RustyError
from rusty_ir.tools.rusty import main

N = 4096
GEMM = (8, 64, 32)
GEMV = (1, 64, 48)
TINY = ["--fusion", "--fusion-elements", str(N), "--fusion-gemm", "x".join(map(str, GEMM)),
        "--fusion-gemv", "x".join(map(str, GEMV)), "--repeats", "3", "--warmup", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_fusion_bench(FusionOptions(elements=N, gemm=GEMM, gemv=GEMV, repeats=3, warmup=1))


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["bench", *args])
    out, err = capsys.readouterr()
    return code, out, err


def matmul_bytes(m: int, k: int, n: int) -> tuple[int, int]:
    """Modelled bytes (fused, unfused) of GELU(x @ W^T + bias): x, out f32; W, bias f16."""
    x, w, bias, y = 4 * m * k, 2 * n * k, 2 * n, 4 * m * n
    fused = x + w + bias + y
    unfused = (x + w + y) + (y + bias + y) + (y + y)  # matmul; + bias; gelu
    return fused, unfused


# --- the report ----------------------------------------------------------------------------------


def test_every_case_fused_and_unfused(report: dict[str, Any]) -> None:
    assert [c["case"] for c in report["cases"]] == ["elementwise", "gemm", "gemv"]
    dispatches = {c["case"]: (c["variants"]["fused"]["dispatches"], c["variants"]["unfused"]["dispatches"]) for c in report["cases"]}
    # fused: one kernel each; unfused: one per tensor-level op (add, mul; matmul, + bias, GELU)
    assert dispatches == {"elementwise": (1, 2), "gemm": (1, 3), "gemv": (1, 3)}
    for c in report["cases"]:
        assert set(c["variants"]) == {"fused", "unfused"}  # no --vs-torch
        for v in c["variants"].values():
            assert v["seconds"] > 0 and len(v["seconds_runs"]) == 3
            assert v["gb_per_s"] == pytest.approx(v["bytes_moved"] / v["seconds"] / 1e9)
            assert v["bytes_moved"] == v["bytes_read"] + v["bytes_written"]
            assert v["bytes_read"] == sum(d["bytes_read"] for d in v["by_dispatch"])
            assert v["bytes_written"] == sum(d["bytes_written"] for d in v["by_dispatch"])
            assert len(v["by_dispatch"]) == v["dispatches"]


def test_results_match_numpy(report: dict[str, Any]) -> None:
    for c in report["cases"]:
        for name, v in c["variants"].items():
            ok = v["correctness"]
            assert ok["passed"] is True and ok["max_rel_err"] <= 1e-5, (c["case"], name, ok)


def test_bytes_moved_by_the_model(report: dict[str, Any]) -> None:
    """Every bound buffer once: (A+B)*C fused reads 3 and writes 1 array, unfused 4 and 2."""
    cases = {c["case"]: c for c in report["cases"]}
    ew = cases["elementwise"]
    assert (ew["variants"]["fused"]["bytes_read"], ew["variants"]["fused"]["bytes_written"]) == (3 * 4 * N, 4 * N)
    assert (ew["variants"]["unfused"]["bytes_read"], ew["variants"]["unfused"]["bytes_written"]) == (4 * 4 * N, 2 * 4 * N)
    assert ew["traffic_ratio_fused_over_unfused"] == pytest.approx(4 / 6)
    for name, shape in (("gemm", GEMM), ("gemv", GEMV)):
        fused, unfused = matmul_bytes(*shape)
        c = cases[name]
        assert (c["variants"]["fused"]["bytes_moved"], c["variants"]["unfused"]["bytes_moved"]) == (fused, unfused), name
        assert c["traffic_ratio_fused_over_unfused"] == pytest.approx(fused / unfused)
        assert c["variants"]["fused"]["dtypes"]["w"] == "f16" and c["variants"]["fused"]["dtypes"]["x"] == "f32"
    for c in report["cases"]:
        assert c["variants"]["fused"]["bytes_moved"] < c["variants"]["unfused"]["bytes_moved"]
        assert c["cuts_more_than_half"] is (c["traffic_ratio_fused_over_unfused"] < 0.5)
        assert c["traffic_cut"] == pytest.approx(1 - c["traffic_ratio_fused_over_unfused"])


def test_gpu_timestamps(report: dict[str, Any]) -> None:
    """llvmpipe has 'timestamp-query': whole-variant and per-dispatch GPU times, consistent with each other."""
    assert report["timing"]["method"] == "gpu-timestamps", "the adapter has no timestamp-query feature (llvmpipe and current GPUs do)"
    for c in report["cases"]:
        for v in c["variants"].values():
            assert v["timing_note"] == ""  # GPU time within the wall time of its submit
            per = [d["seconds"] for d in v["by_dispatch"]]
            assert all(s is not None and s > 0 for s in per)


def test_gpu_target_kernels_on_this_adapter() -> None:
    """The kernels the H200 gets (target nvidia: multi-token contractions behind a host ``if``) run here too and match numpy."""
    r = run_fusion_bench(FusionOptions(cases=("gemm", "gemv"), gemm=GEMM, gemv=GEMV, repeats=1, warmup=0, target="nvidia"))
    assert r["target"] == "nvidia"
    for c in r["cases"]:
        assert [c["variants"][k]["dispatches"] for k in ("fused", "unfused")] == [1, 3]
        for v in c["variants"].values():
            # the gemm multiplies f16 tiles on this target (activations rounded to f16); the gemv is f32
            assert v["correctness"]["passed"] and v["correctness"]["max_rel_err"] <= (5e-3 if c["case"] == "gemm" else 1e-5), (
                c["case"],
                v["variant"],
            )
    with pytest.raises(RustyError, match="unknown target 'tpu' \\(known: webgpu, apple, nvidia\\)"):
        run_fusion_bench(FusionOptions(target="tpu"))


def test_gemm_rate_against_measured_fma_peaks(report: dict[str, Any]) -> None:
    """The GEMM case reports TFLOP/s, and the report the adapter's measured f32 (and f16) fma peaks it is read against."""
    gemm = next(c for c in report["cases"] if c["case"] == "gemm")
    m, k, n = GEMM
    assert gemm["tflops_fused"] == pytest.approx(2 * m * k * n / gemm["variants"]["fused"]["seconds"] / 1e12)
    peaks = report["fma_peaks"]
    assert set(peaks) == {"f32", "f16"}  # llvmpipe has shader-f16
    assert all(p["flops_per_s"] > 0 for p in peaks.values())
    assert "% of the measured f32 fma peak" in format_fusion_report(report)


def test_table(report: dict[str, Any]) -> None:
    text = format_fusion_report(report)
    for needle in ("rusty bench --fusion", "(A + B) * C", "GEMM (M=8, K=64, N=32)", "GEMV (M=1, K=64, N=48)", "ours fused",
                   "ours unfused", "traffic fused/unfused = 0.667", "more than half: no", "w f16", "GPU timestamps"):  # fmt: skip
        assert needle in text, needle


# --- the command ---------------------------------------------------------------------------------


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli([*TINY, "--fusion-cases", "elementwise", "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    for key in ("tool", "command", "date", "commit", "device", "target", "timing", "bytes_model", "cases", "total_seconds"):
        assert key in r, key
    assert r["command"].startswith("rusty bench --fusion --fusion-cases elementwise --fusion-elements 4096")
    assert r["options"]["repeats"] == 3 and r["options"]["warmup"] == 1
    (case,) = r["cases"]
    for key in ("case", "title", "shape", "variants", "traffic_ratio_fused_over_unfused", "traffic_cut", "cuts_more_than_half",
                "speedup_fused_over_unfused"):  # fmt: skip
        assert key in case, key
    assert case["shape"] == {"N": N, "rows": 1, "width": 4096}
    for key in ("dispatches", "seconds", "bytes_read", "bytes_written", "bytes_moved", "gb_per_s", "by_dispatch", "dtypes",
                "correctness", "compile_seconds"):  # fmt: skip
        assert key in case["variants"]["fused"], key
    assert "rusty: elementwise: timing unfused (2 dispatches" in err  # progress on stderr, not in the JSON


def test_guard_catches_skipped_work(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A variant whose dispatches do not run (its output stays zero) fails the command, after the report."""

    def empty_pass(self: _Program, encoder: Any, timestamps: Any = None, only: Any = None) -> None:
        kwargs = {}
        if timestamps is not None:
            kwargs["timestamp_writes"] = {"query_set": timestamps[0], "beginning_of_pass_write_index": timestamps[1],
                                          "end_of_pass_write_index": timestamps[1] + 1}  # fmt: skip
        encoder.begin_compute_pass(**kwargs).end()

    monkeypatch.setattr(_Program, "encode", empty_pass)
    code, out, err = cli([*TINY, "--fusion-cases", "gemv", "--json"], capsys)
    assert code == 1
    assert "correctness guard FAILED: gemv (fused)" in err and "not to be trusted" in err
    assert json.loads(out)["cases"][0]["variants"]["fused"]["correctness"]["passed"] is False


def test_binding_limit_is_a_clear_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import rusty_ir.bench as bench

    real = bench.profiling_device

    def small_device() -> Any:
        device = real()
        device.limits["max-storage-buffer-binding-size"] = 8192
        return device

    monkeypatch.setattr(bench, "profiling_device", small_device)
    code, _, err = cli([*TINY, "--fusion-cases", "elementwise"], capsys)
    assert code == 1
    assert (
        "rusty: error: elementwise: a buffer of 16384 bytes (16.00 KiB) exceeds this device's max-storage-buffer-binding-size "
        "of 8192 bytes (8.00 KiB); choose smaller sizes with --fusion-elements"
    ) in err
    assert "Traceback" not in err and "compiling" not in err  # refused before any work


def test_vs_torch_without_torch(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    code, out, err = cli([*TINY, "--vs-torch"], capsys)
    assert code == 1 and out == ""
    assert "rusty: error: --vs-torch needs PyTorch, which is not installed" in err
    assert "device:" not in err  # refused before any work


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fusion", "--fusion-gemm", "8x64"], "--fusion-gemm takes MxKxN with three positive integers"),
        (["--fusion", "--fusion-gemv", "1x0x8"], "--fusion-gemv takes MxKxN with three positive integers"),
        (["--fusion", "--fusion-gemm", "axbxc"], "--fusion-gemm takes MxKxN"),
        (["--fusion", "--fusion-cases", "gemm,conv"], "--fusion-cases: unknown case 'conv' (cases: elementwise, gemm, gemv)"),
        (["--fusion", "--fusion-cases", ","], "--fusion-cases: no case given"),
        (["--fusion", "--fusion-elements", "0"], "--fusion-elements must be at least 1"),
        (["--fusion", "--repeats", "0"], "--repeats must be between 1 and 1000"),
        (["--fusion", "--warmup", "-1"], "--warmup must be at least 0"),
        (["--fusion", "--synthetic", "test-tiny"], "--synthetic does not apply to rusty bench --fusion"),
        (["--fusion", "model.gguf"], "MODEL does not apply to rusty bench --fusion"),
        (["--fusion", "--no-check"], "--no-check does not apply to rusty bench --fusion (its results are always checked"),
        (["--fusion", "--torch-dtype", "float16"], "--torch-dtype needs --vs-torch"),
        (["--fusion-elements", "64"], "--fusion-* and --torch-dtype apply to rusty bench --fusion only"),
    ],
)
def test_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(args, capsys)
    assert code == 1 and out == ""
    assert f"rusty: error: {message}" in err, err
    assert "Traceback" not in err and "device:" not in err


# --- form-dispatches{fuse=false} on a whole model --------------------------------------------------


def test_unfused_regions_compute_the_same_model(tmp_path: Path) -> None:
    """The tiny model at the dispatch level: fuse=false gives one region per op and the same logits exactly."""
    from rusty_ir.dialects.dispatch import RegionOp
    from rusty_ir.dialects.dispatch.interp import TensorInterpreter
    from rusty_ir.importers import load_model
    from rusty_ir.importers.to_ir import build_module
    from rusty_ir.pipeline import build_pipeline
    from rusty_ir.registry import build_registry
    from rusty_ir.synthetic import synthetic_model_path

    path, _ = synthetic_model_path("test-tiny", "q4_0", 0, str(tmp_path), None)
    model = load_model(path)
    registry = build_registry()
    ctx = registry.context()
    labels, logits = {}, {}
    for fuse in ("true", "false"):
        module = build_module(model.config, model.weights, logits_entry=True)
        build_pipeline(registry, f"convert-transformer-to-tensor,linalg-fuse-siblings,form-dispatches{{fuse={fuse}}}").apply(ctx, module)
        module.verify()
        layer = next(op for op in module.ops if getattr(op, "sym_name", None) is not None and op.sym_name.data == "decoder_layer")
        labels[fuse] = [r.label.data.rsplit("_", 1)[0] for r in layer.walk() if isinstance(r, RegionOp)]
        logits[fuse] = TensorInterpreter(module, model.weights, context_length=16).call(
            "prefill_logits", np.array([3, 1, 4, 1, 5], np.int32), 0
        )
    assert len(labels["true"]) == 7
    # two RMSNorms (reduction + normalize), RoPE of q and of k, SiLU and its product, two residual adds: each alone
    assert labels["false"].count("row_reduction") == 2 and labels["false"].count("elementwise") == 8
    assert labels["false"].count("contraction") == labels["true"].count("contraction") == 5
    np.testing.assert_array_equal(logits["false"], logits["true"])


@pytest.mark.parametrize("weights", [2, 3])
def test_gemm_weights_share_one_register_tile(weights: int) -> None:
    """Sibling linears fused into one contraction of 2 weights (SiLU(x A^T) * x B^T, as gate and up) or 3 (a sum, as
    q, k and v of equal width): the gemm tile's columns are split among the weights (128 x 128 of 8 x 8 holds 64
    rows of each of two, 128 x 192 of 8 x 12 64 of each of three), on the nvidia target's f16 tiles, 40 rows (not
    a whole tile) and 5 tokens, against numpy."""
    from rusty_ir.backends.runtime import Device
    from rusty_ir.bench.fusion_program import compile_variant

    m, k, n = 5, 32, 40  # K = 32: the tiles of three weights fit llvmpipe's 32 KiB of workgroup memory
    rng = np.random.default_rng(weights)
    names = "abc"[:weights]
    ws = {w: (rng.standard_normal((n, k)) / 8).astype(np.float16) for w in names}
    x = rng.standard_normal((m, k)).astype(np.float32)
    t = f"tensor<?x{n}xf32>"
    lines = [f'  %{w} = tfm.weight "{w}" : tensor<{n}x{k}xf16>\n  %y{w} = tfm.linear %x, %{w} : tensor<?x{k}xf32>, tensor<{n}x{k}xf16> -> {t}'
             for w in names]  # fmt: skip
    if weights == 2:
        lines.append(f"  %s = tfm.silu %ya : {t}\n  %out = tfm.mul %s, %yb : {t}")
        y = [x @ ws[w].astype(np.float32).T for w in names]
        want = y[0] / (1 + np.exp(-y[0])) * y[1]
    else:
        lines.append(f"  %ab = tfm.add %ya, %yb : {t}\n  %out = tfm.add %ab, %yc : {t}")
        want = sum(x @ ws[w].astype(np.float32).T for w in names)
    ir = f"func.func @bench(%x: tensor<?x{k}xf32>) -> {t} {{\n" + "\n".join(lines) + f"\n  func.return %out : {t}\n}}\n"
    wgsl, schedule, _ = compile_variant(ir, True, "nvidia")
    assert f"b_tile: array<vec4<f16>, {64 * weights * k // 4}>" in wgsl  # the weights' tile: 64 rows of each, all of K per step
    prog = _Program.load(Device(), wgsl, schedule, {"x": x}, ws, (m, n))
    try:
        encoder = prog.device.device.create_command_encoder()
        prog.encode(encoder)
        prog.device.device.queue.submit([encoder.finish()])
        got = prog.read_output((m, n))
    finally:
        prog.release()
    assert len(prog.dispatches) == 1
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2 * np.abs(want).max())
