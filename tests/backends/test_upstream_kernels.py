"""Kernels marked the upstream way (gpu.kernel, known_block_size) translate to WGSL that runs correctly.

The input is lit_tests/backends/wgsl/upstream-kernel.mlir: mlir-opt-22's output for one hand-written module
(a GEMV with a bias and tanh, launched by gpu.launch_func), in custom form and in generic form. Each is
parsed as rusty-translate parses it (the tools' registry, whose gpu dialect reads upstream's syntax),
emitted as WGSL and run on the wgpu adapter against numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from wgsl_harness import Runner

from rusty_ir.backends.wgsl import emit_program
from rusty_ir.ir import SourceMap, parse_module
from rusty_ir.registry import build_registry
from rusty_ir.tools.common import split_input

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "wgsl" / "upstream-kernel.mlir"
ROWS, K, BLOCK = 128, 32, 64


@pytest.mark.parametrize("form", ["custom", "generic"])
def test_an_upstream_kernel_runs_on_wgpu(runner: Runner, form: str) -> None:
    chunk = split_input(LIT.read_text(encoding="utf-8"), True)[["custom", "generic"].index(form)]
    module = parse_module(build_registry().context(), SourceMap(str(LIT), chunk.text, chunk.line_offset))
    program = emit_program(module)
    (kernel,) = program.kernels
    assert (kernel.name, kernel.workgroup_size) == ("gemv_tanh", (BLOCK, 1, 1))
    rng = np.random.default_rng(17)
    a = rng.uniform(-0.5, 0.5, (ROWS, K)).astype(np.float32)
    x = rng.uniform(-0.5, 0.5, K).astype(np.float32)
    b = rng.uniform(-1, 1, ROWS).astype(np.float32)
    names = [p.name for p in kernel.buffers]  # the block arguments: %arg0..3 (custom) or %arg4..7 (generic)
    out = runner.run(program, "gemv_tanh", (ROWS // BLOCK, 1, 1), dict(zip(names[:3], (a, x, b))), {names[3]: (np.float32, (ROWS,))})
    np.testing.assert_allclose(out[names[3]], np.tanh(a @ x + b), rtol=1e-5, atol=1e-6)
