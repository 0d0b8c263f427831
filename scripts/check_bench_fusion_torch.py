"""The PyTorch side of `rusty bench --fusion --vs-torch`, at tiny sizes.

PyTorch stays out of the project's dependencies and out of CI (tests/test_bench_fusion.py checks
the error without it), so these checks live here. Run them where torch is installed (the GPU
machine has it; on a CPU-only torch they run on the CPU):

    python -m pytest scripts/check_bench_fusion_torch.py
"""

from __future__ import annotations

from typing import Any

import pytest

from rusty_ir.bench.fusion import run_fusion_bench
from rusty_ir.bench.fusion_options import FusionOptions
from rusty_ir.bench.fusion_report import format_fusion_report

torch = pytest.importorskip("torch")

N, GEMM, GEMV = 4096, (8, 64, 32), (1, 64, 48)


def bench(dtype: str) -> dict[str, Any]:
    return run_fusion_bench(FusionOptions(elements=N, gemm=GEMM, gemv=GEMV, repeats=3, warmup=1, vs_torch=True, torch_dtype=dtype))


@pytest.fixture(scope="module")
def auto() -> dict[str, Any]:
    return bench("auto")


def test_torch_variant_in_every_case(auto: dict[str, Any]) -> None:
    want = "cuda" if torch.cuda.is_available() else "cpu"
    for c in auto["cases"]:
        t = c["variants"]["torch"]
        assert t["device"].startswith(want) and t["seconds"] > 0 and len(t["seconds_runs"]) == 3
        assert t["correctness"]["passed"], (c["case"], t["correctness"])
        assert t["dispatches"] == (2 if c["case"] == "elementwise" else 3)
        assert c["traffic_ratio_fused_over_torch"] == pytest.approx(c["variants"]["fused"]["bytes_moved"] / t["bytes_moved"])
    assert "vs PyTorch eager" in format_fusion_report(auto)


def test_torch_bytes_follow_the_model(auto: dict[str, Any]) -> None:
    """auto: float32 elementwise (the same bytes as our unfused ops), float16 matmuls (every tensor 2 bytes)."""
    cases = {c["case"]: c for c in auto["cases"]}
    ew = cases["elementwise"]["variants"]
    assert ew["torch"]["dtypes"]["a"] == "f32" and ew["torch"]["bytes_moved"] == ew["unfused"]["bytes_moved"] == 6 * 4 * N
    for name, (m, k, n) in (("gemm", GEMM), ("gemv", GEMV)):
        t = cases[name]["variants"]["torch"]
        assert t["dtypes"] == {"x": "f16", "w": "f16", "bias": "f16", "out": "f16"}
        x, w, bias, y = 2 * m * k, 2 * n * k, 2 * n, 2 * m * n
        assert [(o["op"], o["bytes_read"], o["bytes_written"]) for o in t["by_op"]] == [
            ("matmul", x + w, y), ("add", y + bias, y), ("gelu", y, y),
        ]  # fmt: skip


def test_float32_torch_matches_numpy_closely() -> None:
    r = bench("float32")
    for c in r["cases"]:
        t = c["variants"]["torch"]
        assert t["dtypes"]["out"] == "f32" and t["correctness"]["max_rel_err"] < 1e-5, c["case"]
