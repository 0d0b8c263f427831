"""The fusion bench's cases (``rusty_ir.bench.fusion``, step 1): small transformer-level functions built as IR
text, their inputs and weights, the numpy reference, and the check of an output against it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rusty_ir.bench.fusion_options import CASES, FusionOptions
from rusty_ir.bench.report import _bytes
from rusty_ir.errors import RustyError

if TYPE_CHECKING:
    from rusty_ir.backends.runtime.device import Device

ELEMENTWISE_MAX_WIDTH = 4096
"""Row width of the elementwise case's ``[N / W, W]`` layout: ``W = gcd(N, 4096)``."""


@dataclass
class Case:
    """One computation: its IR, its inputs and weights, and the numpy reference."""

    name: str
    title: str
    shape: dict[str, int]
    ir: str
    """Transformer-level IR text: one function ``@bench`` whose arguments are ``inputs`` in order."""
    inputs: dict[str, np.ndarray]
    """Function arguments (f32 activations), by argument name."""
    weights: dict[str, np.ndarray]
    """Weight-store tensors (``tfm.weight`` names), as the arrays whose bytes are uploaded."""
    out_shape: tuple[int, ...]
    reference: Callable[[], np.ndarray]
    dtypes: dict[str, str]
    """What each operand is stored as in our kernels (for the report)."""
    torch_ops: str
    """The PyTorch eager ops timed with --vs-torch."""


def _elementwise_case(n: int, rng: np.random.Generator) -> Case:
    width = math.gcd(n, ELEMENTWISE_MAX_WIDTH)
    rows = n // width
    t = f"tensor<?x{width}xf32>"
    ir = (
        f"func.func @bench(%a: {t}, %b: {t}, %c: {t}) -> {t} {{\n"
        f"  %s = tfm.add %a, %b : {t}\n"
        f"  %m = tfm.mul %s, %c : {t}\n"
        f"  func.return %m : {t}\n"
        "}\n"
    )
    inputs = {k: rng.uniform(-1.0, 1.0, size=(rows, width)).astype(np.float32) for k in ("a", "b", "c")}

    def reference() -> np.ndarray:
        return (inputs["a"] + inputs["b"]) * inputs["c"]

    return Case("elementwise", "(A + B) * C", {"N": n, "rows": rows, "width": width}, ir, inputs, {}, (rows, width), reference,
                {"a": "f32", "b": "f32", "c": "f32", "out": "f32"}, "a + b, then * c")  # fmt: skip


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (x + np.float32(0.044715) * x * x * x)))


def _matmul_case(name: str, m: int, k: int, n: int, rng: np.random.Generator) -> Case:
    ir = (
        f"func.func @bench(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> {{\n"
        f'  %w = tfm.weight "w" : tensor<{n}x{k}xf16>\n'
        f'  %bias = tfm.weight "bias" : tensor<{n}xf16>\n'
        f"  %y = tfm.linear %x, %w, %bias : tensor<?x{k}xf32>, tensor<{n}x{k}xf16>, tensor<{n}xf16> -> tensor<?x{n}xf32>\n"
        f'  %g = tfm.gelu %y {{approximate = "tanh"}} : tensor<?x{n}xf32>\n'
        f"  func.return %g : tensor<?x{n}xf32>\n"
        "}\n"
    )
    x = rng.uniform(-1.0, 1.0, size=(m, k)).astype(np.float32)
    w = (rng.standard_normal((n, k), dtype=np.float32) * np.float32(1.0 / math.sqrt(k))).astype(np.float16)
    bias = rng.standard_normal(n, dtype=np.float32).astype(np.float16)

    def reference() -> np.ndarray:
        return _gelu_tanh(x @ w.astype(np.float32).T + bias.astype(np.float32))

    title = "GELU(x @ W^T + bias)" + (" GEMV" if m == 1 else " GEMM")
    return Case(name, title, {"M": m, "K": k, "N": n}, ir, {"x": x}, {"w": w, "bias": bias}, (m, n), reference,
                {"x": "f32", "w": "f16", "bias": "f16", "out": "f32", "accumulate": "f32"}, "x @ W.T, + bias, gelu(tanh)")  # fmt: skip


def build_case(name: str, opts: FusionOptions) -> Case:
    """The case ``name`` at the sizes of ``opts`` (inputs drawn from a generator seeded per case)."""
    rng = np.random.default_rng([opts.seed, CASES.index(name)])
    if name == "elementwise":
        return _elementwise_case(opts.elements, rng)
    m, k, n = opts.gemm if name == "gemm" else opts.gemv
    return _matmul_case(name, m, k, n, rng)


def largest_binding(name: str, opts: FusionOptions) -> tuple[int, str]:
    """Bytes of the largest buffer case ``name`` binds (inputs, weights, intermediates, output), and the flag that sizes it."""
    if name == "elementwise":
        return 4 * opts.elements, "--fusion-elements"
    m, k, n = opts.gemm if name == "gemm" else opts.gemv
    return max(4 * m * k, 2 * n * k, 4 * m * n), f"--fusion-{name}"


def check_device_fits(device: Device, opts: FusionOptions) -> None:
    """RustyError, before any work, when a case's largest buffer exceeds the device's binding or buffer size."""
    for limit_name in ("max-storage-buffer-binding-size", "max-buffer-size"):
        limit = device.limits.get(limit_name)
        if limit is None:
            continue
        for name in opts.cases:
            need, flag = largest_binding(name, opts)
            if need > limit:
                raise RustyError(f"{name}: a buffer of {need} bytes ({_bytes(need)}) exceeds this device's {limit_name} "
                                 f"of {limit} bytes ({_bytes(limit)}); choose smaller sizes with {flag}")  # fmt: skip


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """max |out - ref| / max |ref| (inf when out has a non-finite value)."""
    if not np.isfinite(out).all():
        return math.inf
    return float(np.abs(out.astype(np.float64) - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def verdict(err: float, tol: float) -> dict[str, Any]:
    """The correctness entry of a variant; a non-finite output has max_rel_err None (JSON has no infinity)."""
    return {"max_rel_err": err if math.isfinite(err) else None, "tolerance": tol, "passed": bool(err <= tol)}
