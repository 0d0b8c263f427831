"""Kernels marked the upstream way (gpu.kernel, known_block_size) translate to WGSL that runs correctly.

The input is lit_tests/backends/wgsl/upstream-kernel.mlir: mlir-opt-22's output for one hand-written module
(a GEMV with a bias and tanh, launched by gpu.launch_func), in custom form and in generic form. Each is
parsed as rusty-translate parses it (the tools' registry, whose gpu dialect reads upstream's syntax),
emitted as WGSL and run on the wgpu adapter against numpy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from wgsl_harness import Runner

from rusty_ir.backends.wgsl import emit_program
from rusty_ir.ir import SourceMap, parse_module
from rusty_ir.registry import build_registry
from rusty_ir.tools.common import split_input

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))  # test_mlir_opt_interop.mlir_opt
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


# --- upstream linalg programs, through the default pipeline, on the wgpu adapter ------------------------------

T = "tensor<{}xf32>"


def _fn(args: dict[str, tuple[int, ...]], out: tuple[int, ...], body: str) -> str:
    """``func.func @bench(args) -> out`` with ``body`` (which defines ``%r``)."""
    sig = ", ".join(f"%{n}: {T.format('x'.join(map(str, s)))}" for n, s in args.items())
    ty = T.format("x".join(map(str, out)))
    return f"func.func @bench({sig}) -> {ty} {{\n{body}\n  func.return %r : {ty}\n}}\n"


def _zeros(shape: tuple[int, ...], name: str = "f") -> str:
    ty = T.format("x".join(map(str, shape)))
    return (f"  %e = tensor.empty() : {ty}\n  %z = arith.constant 0.0 : f32\n"
            f"  %{name} = linalg.fill ins(%z : f32) outs(%e : {ty}) -> {ty}\n")  # fmt: skip


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


TNK = "affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>"
ROWB = "affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>"
LINALG_CASES: dict[str, tuple[dict[str, tuple[int, ...]], tuple[int, ...], str, Any]] = {
    "matmul": ({"a": (8, 16), "b": (16, 12)}, (8, 12), _zeros((8, 12)) +
               "  %r = linalg.matmul ins(%a, %b : tensor<8x16xf32>, tensor<16x12xf32>) outs(%f : tensor<8x12xf32>) -> tensor<8x12xf32>",
               lambda a, b: a @ b),
    "matmul_maps_acc": ({"a": (8, 16), "b": (12, 16), "c": (8, 12)}, (8, 12),
                        f"  %r = linalg.matmul indexing_maps = [{TNK}] ins(%a, %b : tensor<8x16xf32>, tensor<12x16xf32>) "
                        "outs(%c : tensor<8x12xf32>) -> tensor<8x12xf32>",
                        lambda a, b, c: c + a @ b.T),
    "batch_matmul": ({"a": (3, 8, 16), "b": (3, 16, 12)}, (3, 8, 12), _zeros((3, 8, 12)) +
                     "  %r = linalg.batch_matmul ins(%a, %b : tensor<3x8x16xf32>, tensor<3x16x12xf32>) "
                     "outs(%f : tensor<3x8x12xf32>) -> tensor<3x8x12xf32>",
                     lambda a, b: a @ b),
    "matvec": ({"m": (40, 64), "x": (64,)}, (40,), _zeros((40,)) +
               "  %r = linalg.matvec ins(%m, %x : tensor<40x64xf32>, tensor<64xf32>) outs(%f : tensor<40xf32>) -> tensor<40xf32>",
               lambda m, x: m @ x),
    "fill_add": ({"a": (8, 16)}, (8, 16), "  %e = tensor.empty() : tensor<8x16xf32>\n  %k = arith.constant 2.5 : f32\n"
                 "  %f = linalg.fill ins(%k : f32) outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>\n"
                 "  %r = linalg.elementwise kind=#linalg.elementwise_kind<add> ins(%a, %f : tensor<8x16xf32>, tensor<8x16xf32>) "
                 "outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>",
                 lambda a: a + 2.5),
    "transpose": ({"a": (8, 16)}, (16, 8), "  %e = tensor.empty() : tensor<16x8xf32>\n"
                  "  %r = linalg.transpose ins(%a : tensor<8x16xf32>) outs(%e : tensor<16x8xf32>) permutation = [1, 0]",
                  lambda a: a.T),
    "broadcast": ({"v": (16,)}, (8, 16), "  %e = tensor.empty() : tensor<8x16xf32>\n"
                  "  %r = linalg.broadcast ins(%v : tensor<16xf32>) outs(%e : tensor<8x16xf32>) dimensions = [0]",
                  lambda v: np.broadcast_to(v, (8, 16))),
    "map": ({"a": (8, 16), "b": (8, 16)}, (8, 16), "  %e = tensor.empty() : tensor<8x16xf32>\n"
            "  %r = linalg.map ins(%a, %b : tensor<8x16xf32>, tensor<8x16xf32>) outs(%e : tensor<8x16xf32>)\n"
            "    (%x: f32, %y: f32, %o: f32) {\n      %p = arith.mulf %x, %y : f32\n      %q = math.tanh %p : f32\n"
            "      linalg.yield %q : f32\n    }",
            lambda a, b: np.tanh(a * b)),
    "softmax": ({"a": (8, 40)}, (8, 40), "  %e = tensor.empty() : tensor<8x40xf32>\n"
                "  %r = linalg.softmax dimension(1) ins(%a : tensor<8x40xf32>) outs(%e : tensor<8x40xf32>) -> tensor<8x40xf32>",
                _softmax),
    "elementwise": ({"a": (8, 16), "v": (16,)}, (8, 16), "  %e = tensor.empty() : tensor<8x16xf32>\n"
                    "  %x = linalg.elementwise kind=#linalg.elementwise_kind<exp> ins(%a : tensor<8x16xf32>) "
                    "outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>\n"
                    f"  %r = linalg.elementwise kind=#linalg.elementwise_kind<mul> indexing_maps = [{ROWB}] "
                    "ins(%x, %v : tensor<8x16xf32>, tensor<16xf32>) outs(%e : tensor<8x16xf32>) -> tensor<8x16xf32>",
                    lambda a, v: np.exp(a) * v),
}  # fmt: skip
"""Upstream linalg programs: (argument shapes, result shape, body, numpy reference)."""


def _upstream_generic(text: str) -> str:
    """``text`` as mlir-opt-22 prints it in generic form (upstream's own reading of the program)."""
    from test_mlir_opt_interop import mlir_opt

    r = subprocess.run([mlir_opt(), "--mlir-print-op-generic", "-"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("form", ["custom", "generic"])
@pytest.mark.parametrize("case", sorted(LINALG_CASES))
def test_an_upstream_linalg_program_runs_on_wgpu(device: Any, case: str, form: str) -> None:
    """Each program, as written (custom form) or as mlir-opt-22 prints it (generic form), through the default
    pipeline (lower-upstream-linalg, form-dispatches, ..., WGSL and the host schedule), run on the adapter."""
    from rusty_ir.bench.fusion_program import _Program, compile_variant

    args, out_shape, body, reference = LINALG_CASES[case]
    text = _fn(args, out_shape, body)
    wgsl, schedule, _ = compile_variant(text if form == "custom" else _upstream_generic(text), True, "webgpu")
    rng = np.random.default_rng(sum(map(ord, case)))
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in args.values()]
    names = [a.name for a in schedule.functions["bench"].args]  # mlir-opt's generic form renames them %argN
    prog = _Program.load(device, wgsl, schedule, dict(zip(names, arrays)), {}, out_shape)
    try:
        encoder = device.device.create_command_encoder()
        prog.encode(encoder)
        device.device.queue.submit([encoder.finish()])
        out = prog.read_output(out_shape)
    finally:
        prog.release()
    np.testing.assert_allclose(out, reference(*arrays), rtol=1e-5, atol=1e-5)
