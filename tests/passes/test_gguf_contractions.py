"""The gemv and gemm schedules over weights in the GGUF schemes decoded field by field (Q5_0, Q5_1, IQ4_NL,
Q2_K .. Q6_K) on wgpu: the lit file's contraction (y = x @ W^T + h, 37 rows, 3 tokens) with K = 256 (one K-quant
super-block per row), against numpy on ``gguf``'s dequantized weights and against the buffer interpreter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_dispatch_to_tiled import CONTRACTION_CONFIGS, chunk, device, reference, run_on_gpu  # noqa: F401 - device is a fixture
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.parser import Parser

from rusty_ir.registry import build_registry
from rusty_ir.weights import SCHEMES, TensorView, random_blocks

SCHEMES_READ = ("q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k")
GEMM_SCHEMES = ("q5_1", "q4_k", "q6_k")
"""The gemm schedule reads blocks through the same rquant.load_block (tests/backends/test_gguf_quant_loads.py checks
every scheme's): a scheme with a minimum, a K-quant with one, and the 2-byte-aligned Q6_K."""


@pytest.mark.parametrize(("scheme", "config"), [(s, "gemv") for s in SCHEMES_READ] + [(s, "gemm") for s in GEMM_SCHEMES])
def test_gguf_contraction_37_rows_3_tokens(device: Any, scheme: str, config: str) -> None:
    rng = np.random.default_rng(list(SCHEMES).index(scheme))
    sch = SCHEMES[scheme]
    view = TensorView("w", (37, 256), sch, random_blocks(sch, (37, 256), rng))
    x = rng.standard_normal((3, 256)).astype(np.float32)
    h = rng.standard_normal((3, 37)).astype(np.float32)
    y = np.full((3, 37), np.nan, np.float32)
    words = np.frombuffer(view.data.tobytes() + b"\0" * (-view.nbytes % 4), np.int32)
    text = str(chunk("gemv_0")).replace("!rquant.q4_0", f"!rquant.{scheme}").replace("x64", "x256")

    def parse() -> ModuleOp:
        return Parser(build_registry().context(), text).parse_module()

    run_on_gpu(device, parse(), [x, words, h, 3, y.copy()], {4: y}, configs={"gemv_0": (CONTRACTION_CONFIGS[config], None)})
    w = view.to_numpy()
    np.testing.assert_allclose(y, x.astype(np.float64) @ w.T.astype(np.float64) + h, rtol=1e-4, atol=1e-4 * np.abs(w).max())
    want = reference(parse(), [x, view, h, 3, np.zeros_like(y)])[4]
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(w).max())


@pytest.mark.parametrize("scheme", ["q4_0", *SCHEMES_READ])
def test_gemv_heuristic_takes_dp4a_only_for_dot_schemes(scheme: str) -> None:
    """On a target with packed int8 dot products the gemv heuristic picks ``math = dp4a`` for the schemes
    rquant.dot_block reads (DOT_SCHEMES) and f32 for the field-by-field ones; the K-quants' kernel block is 32."""
    from rusty_ir.dialects.quant import DOT_SCHEMES
    from rusty_ir.passes.dispatch.analysis import Kind, kind
    from rusty_ir.passes.tuning.generic import gemm_config, gemv_config
    from rusty_ir.targets import TARGETS

    text = str(chunk("gemv_0")).replace("!rquant.q4_0", f"!rquant.{scheme}").replace("x64", "x256")
    module = Parser(build_registry().context(), text).parse_module()
    root = next(op for op in module.walk() if kind(op) is Kind.CONTRACTION)
    assert isinstance(root, linalg.GenericOp)
    target = TARGETS["nvidia"]
    assert target.int_dot
    config = gemv_config(root, target)
    assert config.config.math == ("dp4a" if scheme in DOT_SCHEMES else "f32")
    assert gemm_config(root, target).config.reduction_tile % 32 == 0
