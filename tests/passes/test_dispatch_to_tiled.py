"""convert-dispatch-to-tiled on wgpu: each strategy's kernel against numpy, and the tiny model through the default pipeline.

The per-strategy cases are the lit test's hand-written bufferized regions
(lit_tests/passes/convert-dispatch-to-tiled.mlir), run at sizes that do not divide the
workgroup: 3 tokens, rows of 50, 37 output rows of a q4_0 weight, attention prefill of 3 rows
at pos 2 with 4 heads over 2 kv heads. The reference is the numpy buffer interpreter on the
region before the pass. Skipped without a wgpu adapter (CI has llvmpipe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.parser import Parser

from rusty_ir.backends.schedule import build_schedule
from rusty_ir.backends.wgsl import emit_program, emit_wgsl
from rusty_ir.dialects.dispatch.interp import BufferInterpreter
from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
from rusty_ir.passes.conversion.dispatch_to_tiled import ConvertDispatchToTiledPass
from rusty_ir.passes.conversion.tiled_to_gpu import ConvertTiledToGpuPass
from rusty_ir.pipeline import build_pipeline, default_pipeline
from rusty_ir.registry import build_registry
from test_transformer_to_tensor import tiny  # tests/passes is on sys.path (rootdir conftest)

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "passes" / "convert-dispatch-to-tiled.mlir"


@pytest.fixture(scope="module")
def device() -> Any:
    from rusty_ir.backends.runtime import Device  # noqa: PLC0415

    try:
        return Device()
    except Exception as err:  # no adapter
        pytest.fail(f"no wgpu adapter (install mesa-vulkan-drivers on a machine without a GPU): {err}")


def chunk(index: int) -> ModuleOp:
    return Parser(build_registry().context(), LIT.read_text().split("// -----")[index]).parse_module()


_HOST = {
    arith.MuliOp: lambda a, b: a * b, arith.AddiOp: lambda a, b: a + b, arith.SubiOp: lambda a, b: a - b,
    arith.CeilDivUIOp: lambda a, b: -(-a // b), arith.DivUIOp: lambda a, b: a // b, arith.MinUIOp: min,
}  # fmt: skip


def run_on_gpu(device: Any, module: ModuleOp, args: list[Any], outputs: dict[int, np.ndarray]) -> None:
    """Lower the host function's regions, launch its kernels with ``args`` (arrays become buffers), read back ``outputs``."""
    ctx = build_registry().context()
    ConvertDispatchToTiledPass().apply(ctx, module)
    ConvertTiledToGpuPass().apply(ctx, module)
    module.verify()
    program = emit_program(module)
    shader = device.compile(program.source)
    host = next(op for op in module.ops if isinstance(op, func.FuncOp))
    arrays = {i: a for i, a in enumerate(args) if isinstance(a, np.ndarray)}
    buffers = {i: device.buffer(np.ascontiguousarray(a)) for i, a in arrays.items()}
    env: dict[SSAValue, Any] = {}
    for i, (arg, value) in enumerate(zip(host.body.block.args, args)):
        env[arg] = buffers.get(i, value)
    shapes = {buffers[i]: a.shape for i, a in arrays.items()}
    dispatches = []

    def run(block: Block) -> None:
        for op in block.ops:
            if isinstance(op, arith.ConstantOp):
                assert isinstance(op.value, IntegerAttr)
                env[op.result] = op.value.value.data
            elif type(op) in _HOST:
                env[op.results[0]] = _HOST[type(op)](env[op.operands[0]], env[op.operands[1]])
            elif isinstance(op, arith.CmpiOp) and op.predicate.value.data == 7:  # ule
                env[op.result] = env[op.lhs] <= env[op.rhs]
            elif isinstance(op, scf.IfOp):
                run((op.true_region if env[op.cond] else op.false_region).block)
            elif isinstance(op, memref.DimOp):
                env[op.result] = shapes[env[op.source]][env[op.index]]
            elif isinstance(op, memref.AllocOp):
                (size,) = (env[v] for v in op.dynamic_sizes)
                env[op.memref] = device.empty(4 * size)
            elif isinstance(op, gpu.LaunchFuncOp):
                name = op.kernel.nested_references.data[-1].data
                iface = next(k for k in program.kernels if k.name == name)
                operands = [env[v] for v in op.kernelOperands]
                bufs = [operands[b.arg_index] for b in iface.buffers]
                params = {p.name: operands[p.arg_index] for p in iface.params.fields} if iface.params else None
                grid = tuple(env[v] for v in (op.gridSizeX, op.gridSizeY, op.gridSizeZ))
                dispatches.append((device.kernel(shader, iface).bind(bufs, params), grid))
            elif not isinstance(op, func.ReturnOp | scf.YieldOp):
                raise AssertionError(f"unexpected host op {op.name}")

    run(host.body.block)
    device.run(dispatches)
    for i, out in outputs.items():
        out[...] = device.read(buffers[i], out.dtype, out.size).reshape(out.shape)


def reference(index: int, args: list[Any], weights: dict[str, Any] | None = None) -> list[Any]:
    """The region before the pass on the numpy buffer interpreter: the arguments after the call (outs written in place)."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    module = chunk(index)
    host = next(op for op in module.ops if isinstance(op, func.FuncOp))
    BufferInterpreter(module, weights or {}).call(host.sym_name.data, *copies)
    return copies


def test_elementwise_three_tokens(device: Any) -> None:
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    y = np.full((3, 8), np.nan, np.float32)
    run_on_gpu(device, chunk(0), [x, 3, y.copy()], {2: y})
    np.testing.assert_allclose(y, reference(0, [x, 3, np.zeros_like(x)])[2], rtol=1e-6)
    np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


@pytest.mark.parametrize("rows", [1, 5])
def test_row_reduction_length_50(device: Any, rows: int) -> None:
    x = np.random.default_rng(rows).standard_normal((rows, 50)).astype(np.float32)
    y = np.full((rows, 50), np.nan, np.float32)
    run_on_gpu(device, chunk(1), [x, y.copy()], {1: y})
    want = reference(1, [x, np.zeros_like(x)])[1]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_contraction_q4_0_37_rows_3_tokens(device: Any) -> None:
    rng = np.random.default_rng(37)
    view = tiny.store_tensor("w", rng.standard_normal((37, 64)).astype(np.float32), "q4_0")
    x = rng.standard_normal((3, 64)).astype(np.float32)
    h = rng.standard_normal((3, 37)).astype(np.float32)
    y = np.full((3, 37), np.nan, np.float32)
    words = np.frombuffer(view.data.tobytes() + b"\0" * (-len(view.data.tobytes()) % 4), np.int32)
    run_on_gpu(device, chunk(2), [x, words, h, 3, y.copy()], {4: y})
    want = reference(2, [x, view, h, 3, np.zeros_like(y)])[4]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, x @ view.to_numpy().T + h, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("rows", "pos"), [(3, 2), (1, 40)])
def test_attention_gqa_prefill(device: Any, rows: int, pos: int) -> None:
    """3 query rows at pos 2 (causal within the prompt), and one decode row over 41 positions (two KV tiles)."""
    rng = np.random.default_rng(rows + pos)
    context = 48
    q = rng.standard_normal((rows, 16)).astype(np.float32)
    kc = rng.standard_normal((context, 8)).astype(np.float32)
    vc = rng.standard_normal((context, 8)).astype(np.float32)
    y = np.full((rows, 16), np.nan, np.float32)
    run_on_gpu(device, chunk(3), [q, kc, vc, pos, y.copy()], {4: y})
    want = reference(3, [q, kc, vc, pos, np.zeros_like(y)])[4]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("target", ["webgpu", "nvidia"])
def test_tiny_model_on_wgpu_matches_reference(device: Any, target: str) -> None:
    """The tiny mixed-quant model through every stage, prefill then decode steps on wgpu, against the tfm reference.

    Attention (and, for the nvidia target, whose prefill contractions take 4 tokens per
    workgroup, the contractions) is multi-versioned: decode folds the host ``if`` to the
    single-token kernels, a prefill step picks per step (a 5-token prompt, then a 1-token prefill).
    """
    from rusty_ir.backends.runtime.model import ModelRuntime  # noqa: PLC0415

    registry = build_registry()
    module = tiny.build_model()
    build_pipeline(registry, default_pipeline(target)).apply(registry.context(), module)
    module.verify()
    runtime = ModelRuntime(build_schedule(module), emit_wgsl(module), *_store(), 16)
    store = _store()[0]
    ref = ReferenceInterpreter(tiny.build_model(), store, max_context=16)
    prompt = [3, 1, 4, 1, 5]
    got = runtime.prefill(np.array(prompt, np.int32), 0)
    want = ref.prefill(np.array(prompt, np.int32), 0)
    sequence = [*prompt]
    for _ in range(3):
        assert got == want, sequence
        sequence.append(want)
        got = runtime.decode(want, len(sequence) - 1)
        want = ref.decode(want, len(sequence) - 1)
    assert got == want, sequence
    sequence.append(want)
    got = runtime.prefill(np.array([want], np.int32), len(sequence) - 1)
    want = ref.prefill(np.array([want], np.int32), len(sequence) - 1)
    assert got == want, sequence
    assert runtime.dispatches_per_step("decode") == 2 * 8 + 3  # split-KV attention is two dispatches
    assert runtime.dispatches_per_step("prefill") == 2 * 7 + 3


def _store() -> tuple[Any]:
    return (tiny.random_store(np.random.default_rng(1234))[0],)
