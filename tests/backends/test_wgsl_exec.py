"""Runs every construct the emitters print, as WGSL on the wgpu adapter and as MSL on the CPU, and compares with numpy.

Each test parses a file of lit_tests/backends/wgsl (the same IR the FileCheck tests
read), emits WGSL or MSL, runs one kernel and checks its outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from wgsl_harness import Runner


@pytest.fixture
def runner(both_backends: Runner) -> Runner:
    """Every test here runs twice: WGSL on wgpu and MSL on the CPU (conftest.py)."""
    return both_backends


N = 64
RNG = np.random.default_rng(0)


def test_float_binary(runner: Runner):
    a = RNG.uniform(-4, 4, N).astype(np.float32)
    b = RNG.uniform(0.5, 3, N).astype(np.float32) * RNG.choice([-1, 1], N).astype(np.float32)
    out = runner.run("arith.mlir", "float_binary", (1,), {"a": a, "b": b}, {"out": (np.float32, (N, 7))})["out"]
    expected = np.stack([a + b, a - b, a * b, a / b, np.maximum(a, b), np.minimum(a, b), -a], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def _i32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64).astype(np.uint32).view(np.int32) if x.dtype != np.int32 else x


def test_int_binary(runner: Runner):
    a = RNG.integers(-(2**31), 2**31, N, dtype=np.int64).astype(np.int32)
    b = RNG.integers(-(2**31), 2**31, N, dtype=np.int64).astype(np.int32)
    a[:4] = [7, -7, 100, -(2**31) + 1]
    b[:4] = [2, 2, -3, 5]
    b[b == 0] = 1
    out = runner.run("arith.mlir", "int_binary", (1,), {"a": a, "b": b}, {"out": (np.int32, (N, 18))})["out"]
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    ua, ub = a.view(np.uint32).astype(np.int64), b.view(np.uint32).astype(np.int64)
    s = b64 & 31
    quot = np.trunc(a64 / b64).astype(np.int64)  # C-style truncating division
    expected = [
        a64 + b64, a64 - b64, a64 * b64, quot, a64 - quot * b64, ua // ub, ua % ub,
        np.maximum(a64, b64), np.minimum(a64, b64), np.maximum(ua, ub), np.minimum(ua, ub),
        a64 & b64, a64 | b64, a64 ^ b64, a64 << s, a64 >> s, ua >> s, np.abs(a64),
    ]  # fmt: skip
    expected = np.stack([(e % 2**32).astype(np.uint32).view(np.int32) for e in expected], axis=1)
    np.testing.assert_array_equal(out, expected)


def test_compare_all_predicates(runner: Runner):
    a = RNG.choice([-1.0, 0.0, 1.0, 2.0, np.nan], N).astype(np.float32)
    b = RNG.choice([-1.0, 0.0, 1.0, np.nan], N).astype(np.float32)
    p = RNG.choice([-5, -1, 0, 3, 2**31 - 1, -(2**31)], N).astype(np.int32)
    q = RNG.choice([-1, 0, 3, 7, -(2**31)], N).astype(np.int32)
    out = runner.run("arith.mlir", "compare", (1,), {"a": a, "b": b, "p": p, "q": q}, {"out": (np.int32, (N, 26))})["out"]
    unordered = np.isnan(a) | np.isnan(b)
    with np.errstate(invalid="ignore"):
        fcmp = [
            np.zeros(N, bool), a == b, a > b, a >= b, a < b, a <= b, (a != b) & ~unordered, ~unordered,
            (a == b) | unordered, (a > b) | unordered, (a >= b) | unordered, (a < b) | unordered,
            (a <= b) | unordered, (a != b) | unordered, unordered, np.ones(N, bool),
        ]  # fmt: skip
    up, uq = p.view(np.uint32), q.view(np.uint32)
    icmp = [p == q, p != q, p < q, p <= q, p > q, p >= q, up < uq, up <= uq, up > uq, up >= uq]
    np.testing.assert_array_equal(out, np.stack(fcmp + icmp, axis=1).astype(np.int32))


def test_bool_ops(runner: Runner):
    a = RNG.integers(-10, 10, N).astype(np.int32)
    b = RNG.integers(-10, 10, N).astype(np.int32)
    out = runner.run("arith.mlir", "bool_ops", (1,), {"a": a, "b": b}, {"out": (np.int32, (N, 6))})["out"]
    p, q = a < 0, b > 0
    expected = np.stack([p & q, p | q, -(p ^ q).astype(np.int32), np.where(p, a, b), a & 1, ~q], axis=1).astype(np.int32)
    np.testing.assert_array_equal(out, expected)


def test_casts(runner: Runner):
    f = RNG.uniform(-1000, 1000, N).astype(np.float32)
    a = RNG.integers(-(2**31), 2**31, N, dtype=np.int64).astype(np.int32)
    a[:3] = [-1, 5, -(2**31)]
    out = runner.run("arith.mlir", "casts", (1,), {"f": f, "a": a}, {"out_f": (np.float32, (N, 4)), "out_i": (np.int32, (N, 5))})
    expected_f = np.stack(
        [
            a.astype(np.float32),
            a.view(np.uint32).astype(np.float32),
            a.view(np.float32),
            (a.astype(np.int64) + 3).astype(np.int32).astype(np.float32),
        ],
        axis=1,
    )
    np.testing.assert_array_equal(out["out_f"][:, [0, 1, 3]], expected_f[:, [0, 1, 3]])
    np.testing.assert_array_equal(out["out_f"][:, 2].view(np.int32), a)  # bitcast keeps the bits (NaN payloads too)
    expected_i = np.stack(
        [
            np.trunc(f).astype(np.int32),
            np.abs(f).astype(np.uint32).view(np.int32),
            f.view(np.int32),
            np.arange(N, dtype=np.int32),
            (a.astype(np.int64) + 3).astype(np.int32),
        ],
        axis=1,
    )
    np.testing.assert_array_equal(out["out_i"], expected_i)


def test_constants(runner: Runner):
    out = runner.run("arith.mlir", "constants", (1,), {}, {"out_f": (np.float32, (12,)), "out_i": (np.int32, (9,))})
    expected_f = np.array([1.5, -2.25, 0.1, 3.4028235e38, 1e-30, np.inf, -np.inf, np.nan, -0.0, 65504.0, 0.0, -1e10], np.float32)
    np.testing.assert_array_equal(out["out_f"], expected_f)
    assert np.signbit(out["out_f"][8]) and not np.signbit(out["out_f"][10])
    expected_i = np.array([0, 7, -1, -(2**31), 2**31 - 1, np.uint32(0xF0F0F0F0).view(np.int32), -1, 1, 100000], np.int32)
    np.testing.assert_array_equal(out["out_i"], expected_i)


def test_math_ops(runner: Runner):
    from math import erf

    x = np.linspace(0.05, 6.0, N).astype(np.float32)
    x[5] = 3.25  # y = 0.25 and -0.75 style halves would be ambiguous for roundeven; keep a clean .25
    x[6] = 3.5  # roundeven(0.5) = 0
    x[7] = 5.5  # roundeven(2.5) = 2
    out = runner.run("math.mlir", "math_ops", (1,), {"a": x}, {"out": (np.float32, (N, 17))})["out"]
    y = x - np.float32(3)
    expected = np.stack(
        [np.exp(y), np.tanh(10 * y), 1 / np.sqrt(x), np.sqrt(x), np.log(x), np.abs(y), np.exp2(y), np.log2(x),
         np.floor(y), np.ceil(y), np.sin(y), np.cos(y), np.round(y), np.trunc(y),
         np.array([erf(v) for v in y.astype(np.float64)]), np.power(x, y), x * y + x],
        axis=1,
    )  # fmt: skip
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)


# -- control flow ------------------------------------------------------------


def test_row_sum(runner: Runner):
    x = RNG.standard_normal((N, 16)).astype(np.float32)
    out = runner.run("control-flow.mlir", "row_sum", (1,), {"x": x}, {"out": (np.float32, (N,))})["out"]
    np.testing.assert_allclose(out, x.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_fib_swaps_loop_carried_values(runner: Runner):
    out = runner.run("control-flow.mlir", "fib", (1,), {}, {"out": (np.int32, (32,))})["out"]
    fib = [0, 1]
    while len(fib) < 32:
        fib.append(fib[-1] + fib[-2])
    np.testing.assert_array_equal(out, np.array(fib[:32], np.int64).astype(np.int32))


def test_nested_if_for(runner: Runner):
    n, scale = 50, 0.5
    out = runner.run("control-flow.mlir", "nested", (1,), {}, {"out": (np.float32, (N,))}, {"n": n, "scale": scale})["out"]
    expected = np.array([sum(j if j % 3 == 0 else -j for j in range(1, i, 2)) * scale if i < n else -1.0 for i in range(N)], np.float32)
    expected[:4] += 1000
    np.testing.assert_array_equal(out, expected)


# -- memory --------------------------------------------------------------------


def test_matmul_rows_2d_buffers(runner: Runner):
    rows = 12
    a = RNG.standard_normal((rows, 4)).astype(np.float32)
    b = RNG.standard_normal((4, 8)).astype(np.float32)
    out = runner.run("memory.mlir", "matmul_rows", (1, rows // 4), {"a": a, "b": b}, {"out": (np.float32, (rows, 8))})["out"]
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def test_rank3_buffer(runner: Runner):
    x = RNG.standard_normal((16, 2, 3)).astype(np.float32)
    out = runner.run("memory.mlir", "rank3", (1,), {"x": x}, {"out": (np.float32, (16,))})["out"]
    np.testing.assert_array_equal(out, x[:, 1, 2] - x[:, 0, 1])


def test_bswap_packed_words(runner: Runner):
    w = RNG.integers(0, 2**32, N, dtype=np.uint64).astype(np.uint32)
    out = runner.run("memory.mlir", "bswap", (1,), {"w": w.view(np.int32)}, {"out": (np.int32, (N,))})["out"]
    np.testing.assert_array_equal(out.view(np.uint32), w.byteswap())


def test_reverse_tile_workgroup_memory(runner: Runner):
    x = np.arange(3 * 64, dtype=np.float32)
    out = runner.run("memory.mlir", "reverse_tile", (3,), {"x": x}, {"out": (np.float32, (3 * 64,))})["out"]
    np.testing.assert_array_equal(out, x.reshape(3, 64)[:, ::-1].reshape(-1))


def test_private_array(runner: Runner):
    x = RNG.standard_normal(N).astype(np.float32)
    out = runner.run("memory.mlir", "private_array", (1,), {"x": x}, {"out": (np.float32, (N,))})["out"]
    np.testing.assert_allclose(out, 4 * x - x + 3 * x, rtol=1e-6)


# -- builtins, params, f16, rgpu -----------------------------------------------------


def test_builtin_ids(runner: Runner):
    wg, grid = (4, 2, 3), (2, 3, 2)
    total = int(np.prod(wg) * np.prod(grid))
    out = runner.run("builtins.mlir", "ids", grid, {}, {"out": (np.int32, (total, 15))})["out"]
    gz, gy, gx = np.meshgrid(*(np.arange(w * g) for w, g in zip(wg[::-1], grid[::-1], strict=True)), indexing="ij")
    gx, gy, gz = gx.reshape(-1), gy.reshape(-1), gz.reshape(-1)
    expected = np.stack(
        [gx % wg[0], gy % wg[1], gz % wg[2], gx // wg[0], gy // wg[1], gz // wg[2],
         *(np.full(total, v) for v in wg), *(np.full(total, v) for v in grid), gx, gy, gz],
        axis=1,
    )  # fmt: skip
    np.testing.assert_array_equal(out, expected)


def test_all_scalar_params(runner: Runner):
    params = {"n": 12, "k": -7, "s": 1.25, "h": 0.333, "flag": True}
    out = runner.run("params.mlir", "all_scalars", (1,), {}, {"out": (np.float32, (6,))}, params)["out"]
    h = np.float32(np.float16(0.333))  # the f16 argument is rounded to f16 in the kernel
    np.testing.assert_array_equal(out, np.array([12, -7, 1.25, h, 1.0, np.float32(1.25) * h], np.float32))
    out = runner.run("params.mlir", "all_scalars", (1,), {}, {"out": (np.float32, (6,))}, {**params, "flag": False})["out"]
    assert out[4] == -1.0


def test_f16_ops(runner: Runner):
    x = RNG.uniform(-4, 4, N).astype(np.float16)
    y = RNG.uniform(-4, 4, N).astype(np.float32)
    out = runner.run("f16.mlir", "half_ops", (1,), {"x": x, "y": y}, {"out16": (np.float16, (N, 4)), "out32": (np.float32, (N,))})
    t = y.astype(np.float16)
    expected = np.stack([x + t, x * t, np.maximum(x, np.float16(2.5)), np.full(N, np.inf, np.float16)], axis=1)
    np.testing.assert_array_equal(out["out16"], expected)
    np.testing.assert_array_equal(out["out32"], (x * t).astype(np.float32))


def test_unpack_f16(runner: Runner):
    halves = RNG.standard_normal(2 * N).astype(np.float16)
    halves[:6] = [np.inf, -np.inf, 6.0e-8, -0.0, 65504, np.nan]  # specials and a subnormal
    words = halves.view(np.int32)  # little-endian: element 2i is the lo half of word i
    out = runner.run("rgpu.mlir", "unpack", (1,), {"w": words}, {"out": (np.float32, (N, 2))})["out"]
    np.testing.assert_array_equal(out.reshape(-1), halves.astype(np.float32))


def test_pack_f16(runner: Runner):
    x = (RNG.standard_normal(2 * N) * 100).astype(np.float32)
    x[:4] = [-0.0, 65504.0, 0.1, 1 / 3]  # the sign of zero, the largest half, values that round (WGSL leaves
    # overflow, and whether subnormal halves flush, to the implementation: not tested)
    out = runner.run("rgpu.mlir", "pack", (1,), {"x": x}, {"out": (np.int32, (N,))})["out"]
    np.testing.assert_array_equal(out.view(np.float16), x.astype(np.float16))  # round to nearest even, lo half first


def test_dot4_i8(runner: Runner):
    a = RNG.integers(-128, 128, (N, 4)).astype(np.int8)
    b = RNG.integers(-128, 128, (N, 4)).astype(np.int8)
    a[0], b[0] = -128, -128  # the largest products
    out = runner.run("rgpu.mlir", "dot4", (1,), {"a": a.view(np.int32).reshape(-1), "b": b.view(np.int32).reshape(-1)},
                     {"out": (np.int32, (N,))})["out"]  # fmt: skip
    np.testing.assert_array_equal(out, (a.astype(np.int32) * b.astype(np.int32)).sum(axis=1))


def test_subgroup_add(runner: Runner):
    x = RNG.integers(-8, 8, N).astype(np.float32)  # small integers: the sum is exact in any order
    out = runner.run("rgpu.mlir", "subgroup_sum", (1,), {"x": x}, {"out": (np.float32, (N, 3))})["out"]
    size = int(out[0, 1])
    assert size in (4, 8, 16, 32, 64, 128) and (out[:, 1] == size).all()
    np.testing.assert_array_equal(out[:, 2], np.arange(N) % size)
    np.testing.assert_array_equal(out[:, 0], np.repeat(x.reshape(-1, size).sum(axis=1), size))


def test_vector_fma_and_lane_access(runner: Runner):
    a, b, c = (RNG.standard_normal(N).astype(np.float32) for _ in range(3))
    out = runner.run("vector.mlir", "fma4", (1,), {"a": a, "b": b, "c": c}, {"out": (np.float32, (N,))})["out"]
    expected = (a * b + 2).reshape(-1, 4)
    expected[:, 3] = c.reshape(-1, 4)[:, 3]
    np.testing.assert_allclose(out, (expected + c.reshape(-1, 4)).reshape(-1), rtol=1e-5, atol=1e-6)  # fma rounds once


def test_vector_extract_reduce_bitcast(runner: Runner):
    x = RNG.standard_normal(4 * N).astype(np.float32)
    w = RNG.integers(-(2**31), 2**31, N, dtype=np.int64).astype(np.int32)
    out = runner.run("vector.mlir", "lanes", (N // 16,), {"x": x, "w": w}, {"out": (np.float32, (N,))})["out"]
    xv = x.reshape(N, 4)
    lane = xv[np.arange(N), np.arange(N) % 4]
    nibbles = (w.view(np.uint32)[:, None] >> np.array([0, 4, 8, 12], np.uint32)) & 15
    np.testing.assert_allclose(out, (xv * lane[:, None]).sum(axis=1) + nibbles.sum(axis=1), rtol=1e-5, atol=1e-5)


def test_vector_f16_workgroup_pairs(runner: Runner):
    x = RNG.standard_normal(32).astype(np.float32)
    out = runner.run("vector.mlir", "half_pairs", (1,), {"in": x}, {"out": (np.float32, (32,))})["out"]
    np.testing.assert_array_equal(out, x.astype(np.float16).astype(np.float32))
