"""convert-tiled-to-gpu end to end: outline the lit test's tiled kernels, emit WGSL, run the host function on wgpu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import arith, func, gpu
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, UnrealizedConversionCastOp, i32
from xdsl.ir import SSAValue
from xdsl.parser import Parser

from rusty_ir.backends.wgsl import emit_program
from rusty_ir.dialects.quant.storage import stored_tensor
from rusty_ir.passes.conversion.tiled_to_gpu import ConvertTiledToGpuPass
from rusty_ir.registry import build_registry

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "passes" / "convert-tiled-to-gpu.mlir"

_HOST_INDEX_OPS = {
    arith.MuliOp: lambda a, b: a * b,
    arith.AddiOp: lambda a, b: a + b,
    arith.SubiOp: lambda a, b: a - b,
    arith.CeilDivUIOp: lambda a, b: -(-a // b),
    arith.DivUIOp: lambda a, b: a // b,
}


def _chunk(index: int) -> ModuleOp:
    ctx = build_registry().context()
    text = LIT.read_text().split("// -----")[index]
    module = Parser(ctx, text).parse_module()
    ConvertTiledToGpuPass().apply(ctx, module)
    module.verify()
    return module


def launches(f: func.FuncOp, args: dict[SSAValue, Any]) -> list[tuple[str, tuple[int, ...], list[Any]]]:
    """Evaluates a straight-line host function: its index arithmetic and, in order, its launches."""
    env = dict(args)
    out: list[tuple[str, tuple[int, ...], list[Any]]] = []
    for op in f.body.block.ops:
        if isinstance(op, arith.ConstantOp):
            assert isinstance(op.value, IntegerAttr)
            env[op.result] = op.value.value.data
        elif type(op) in _HOST_INDEX_OPS:
            env[op.results[0]] = _HOST_INDEX_OPS[type(op)](env[op.operands[0]], env[op.operands[1]])
        elif isinstance(op, gpu.LaunchFuncOp):
            grid = tuple(env[v] for v in (op.gridSizeX, op.gridSizeY, op.gridSizeZ))
            out.append((op.kernel.nested_references.data[-1].data, grid, [env[v] for v in op.kernelOperands]))
        elif not isinstance(op, func.ReturnOp):
            raise AssertionError(f"unexpected host op {op.name}")
    return out


def test_outlined_module_shape():
    module = _chunk(0)
    (kernels,) = [op for op in module.ops if isinstance(op, gpu.ModuleOp)]
    names = [f.sym_name.data for f in kernels.body.block.ops if isinstance(f, gpu.FuncOp)]
    assert names == ["axpb", "rowsum"]
    assert "gpu.container_module" in module.attributes
    assert not [op for op in module.walk() if op.dialect_name() == "tiled"]


def test_quantized_operand_verifies():
    """A q8_0 buffer (the words of its bytes, memref<34xi32>) launches the memref<34xi32> kernel argument as it is,
    with no cast (upstream's gpu.launch_func wants the operand and argument types to agree)."""
    module = _chunk(1)
    module.verify()
    launch = next(op for op in module.walk() if isinstance(op, gpu.LaunchFuncOp))
    kernel = next(op for op in module.walk() if isinstance(op, gpu.FuncOp) and op.sym_name.data == "gemv_1")
    assert not isinstance(launch.kernelOperands[0].owner, UnrealizedConversionCastOp)
    assert str(stored_tensor(launch.kernelOperands[0])) == "tensor<4x32x!rquant.q8_0>"
    assert launch.kernelOperands[0].type == kernel.function_type.inputs.data[0]
    assert kernel.function_type.inputs.data[0].element_type == i32


@pytest.mark.parametrize("rows", [1, 5, 13])
def test_step_runs_on_wgpu(rows: int):
    from rusty_ir.backends.runtime import Device

    try:
        device = Device()
    except Exception as err:  # no adapter: skip, as tests/backends does
        pytest.fail(f"no wgpu adapter (install mesa-vulkan-drivers on a machine without a GPU): {err}")
    module = _chunk(0)
    program = emit_program(module)
    shader = device.compile(program.source)
    step = next(op for op in module.ops if isinstance(op, func.FuncOp))
    x = np.random.default_rng(rows).standard_normal((rows, 8)).astype(np.float32)
    buffers = {"x": device.buffer(x), "y": device.empty(x.nbytes), "sums": device.empty(rows * 4)}
    host_args = dict(zip(step.body.block.args, [buffers["x"], buffers["y"], buffers["sums"], rows]))
    dispatches = []
    for name, grid, operands in launches(step, host_args):
        iface = next(k for k in program.kernels if k.name == name)
        kernel = device.kernel(shader, iface)
        bufs = [operands[b.arg_index] for b in iface.buffers]
        params = {p.name: operands[p.arg_index] for p in iface.params.fields} if iface.params else None
        dispatches.append((kernel.bind(bufs, params), grid))
    assert [g for _, g in dispatches] == [(-(-rows * 8 // 64), 1, 1), (rows, 1, 1)]
    device.run(dispatches)
    y = device.read(buffers["y"], np.float32, rows * 8).reshape(rows, 8)
    sums = device.read(buffers["sums"], np.float32, rows)
    np.testing.assert_allclose(y, 3 * x + 1, rtol=1e-6)
    np.testing.assert_allclose(sums, (3 * x + 1).sum(axis=1), rtol=1e-5, atol=1e-5)
