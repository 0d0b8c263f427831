"""The three hand-written gpu-level kernels of lit_tests/backends/wgsl/kernels, as WGSL on wgpu and MSL on the CPU, against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from wgsl_harness import Runner


@pytest.fixture
def runner(both_backends: Runner) -> Runner:
    """Every test here runs twice: WGSL on wgpu and MSL on the CPU (conftest.py)."""
    return both_backends


RNG = np.random.default_rng(1)


def test_fused_add_mul(runner: Runner):
    n = 1000  # not a multiple of the workgroup size: the bounds check matters
    a, b, c = (RNG.standard_normal(n).astype(np.float32) for _ in range(3))
    out = runner.run(
        "kernels/elementwise.mlir", "add_mul", (-(-n // 64),), {"a": a, "b": b, "c": c}, {"out": (np.float32, (n + 24,))}, {"n": n}
    )["out"]
    np.testing.assert_allclose(out[:n], (a + b) * c, rtol=1e-6)
    assert not out[n:].any()  # nothing written past n


def test_softmax_rows(runner: Runner):
    for rows, n in ((5, 1000), (3, 37), (2, 64)):
        x = (RNG.standard_normal((rows, n)) * 4).astype(np.float32)
        out = runner.run("kernels/softmax.mlir", "softmax_rows", (rows,), {"x": x}, {"out": (np.float32, (rows, n))}, {"n": n})["out"]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def quantize_q4_1(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GGUF Q4_1 bytes of ``w`` (rows x n) as int32 words, and the dequantized weights."""
    rows, n = w.shape
    blocks = w.reshape(rows, n // 32, 32)
    lo, hi = blocks.min(axis=2), blocks.max(axis=2)
    d = ((hi - lo) / 15).astype(np.float16)
    m = lo.astype(np.float16)
    d32 = np.where(d == 0, 1, d.astype(np.float32))
    q = np.clip(np.round((blocks - m.astype(np.float32)[..., None]) / d32[..., None]), 0, 15).astype(np.uint8)
    qs = q[..., :16] | (q[..., 16:] << 4)  # byte i: element i low nibble, element i + 16 high nibble
    raw = np.concatenate([d[..., None].view(np.uint8), m[..., None].view(np.uint8), qs], axis=2)  # 20 bytes/block
    deq = d.astype(np.float32)[..., None] * q + m.astype(np.float32)[..., None]
    return raw.reshape(-1).view(np.int32), deq.reshape(rows, n)


def test_q4_1_gemv(runner: Runner):
    rows, n = 8, 32 * 40  # 40 blocks per row: threads 0-7 take two blocks, the rest one
    w = RNG.standard_normal((rows, n)).astype(np.float32)
    x = RNG.standard_normal(n).astype(np.float32)
    words, deq = quantize_q4_1(w)
    assert words.nbytes == rows * n // 32 * 20
    out = runner.run("kernels/q4-dot.mlir", "q4_1_gemv", (rows,), {"w": words, "x": x}, {"out": (np.float32, (rows,))}, {"n": n})["out"]
    np.testing.assert_allclose(out, deq.astype(np.float64) @ x, rtol=1e-4, atol=1e-4)
