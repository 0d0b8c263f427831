"""convert-dispatch-to-tiled on wgpu: each strategy's kernel against numpy, and the tiny model through the default pipeline.

The per-strategy cases are the lit test's hand-written bufferized regions
(lit_tests/passes/convert-dispatch-to-tiled.mlir), run at sizes that do not divide the
workgroup: 3 tokens, rows of 50, 37 output rows of a q4_0 weight, attention prefill of 3 rows
at pos 2 with 4 heads over 2 kv heads. The reference is the numpy buffer interpreter on the
region before the pass. Skipped without a wgpu adapter (CI has llvmpipe).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_transformer_to_tensor import tiny  # tests/passes is on sys.path (rootdir conftest)
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, ModuleOp, UnrealizedConversionCastOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.parser import Parser

from rusty_ir.backends.schedule import build_schedule
from rusty_ir.backends.wgsl import emit_program, emit_wgsl
from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.interp import BufferInterpreter
from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
from rusty_ir.errors import RustyError
from rusty_ir.passes.codegen.gemv import GEMV_STEP_TOKENS
from rusty_ir.passes.tuning.signature import parse_config
from rusty_ir.pipeline import build_pipeline, default_pipeline
from rusty_ir.registry import build_registry
from rusty_ir.stages import DEFAULT_STAGES

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "passes" / "convert-dispatch-to-tiled.mlir"


@pytest.fixture(scope="module")
def device() -> Any:
    from rusty_ir.backends.runtime import Device

    try:
        return Device()
    except Exception as err:  # no adapter
        pytest.fail(f"no wgpu adapter (install mesa-vulkan-drivers on a machine without a GPU): {err}")


def chunk(label: str) -> ModuleOp:
    """The lit file's case whose dispatch region is named ``label``."""
    text = next(case for case in LIT.read_text().split("// -----") if f'dispatch.region "{label}"' in case)
    return Parser(build_registry().context(), text).parse_module()


_HOST = {
    arith.MuliOp: lambda a, b: a * b, arith.AddiOp: lambda a, b: a + b, arith.SubiOp: lambda a, b: a - b,
    arith.CeilDivUIOp: lambda a, b: -(-a // b), arith.DivUIOp: lambda a, b: a // b, arith.MinUIOp: min,
}  # fmt: skip


TILED_TO_GPU = (
    "convert-dispatch-to-tiled,promote-to-workgroup-memory,reduction-to-subgroup,distribute-to-gpu-ids,"
    "lower-quant-loads,vectorize,convert-tiled-to-gpu"
)
"""The default pipeline's stages from the tiled level to gpu kernels (rusty_ir/stages.py)."""


def lower(module: ModuleOp, target: str = "webgpu", configs: dict[str, tuple[Any, Any]] | None = None) -> ModuleOp:
    """Attach ``target``, replace region configs by label (``(config, single_token_config)`` text), lower to gpu kernels."""
    registry = build_registry()
    ctx = registry.context()
    build_pipeline(registry, f"attach-target{{target={target}}}").apply(ctx, module)
    for region in (op for op in module.walk() if isinstance(op, RegionOp)):
        if configs and region.label.data in configs:
            config, single = configs[region.label.data]
            region.config = parse_config(config)
            if single:
                region.single_token_config = parse_config(single)
    build_pipeline(registry, TILED_TO_GPU).apply(ctx, module)
    module.verify()
    return module


def run_on_gpu(device: Any, module: ModuleOp, args: list[Any], outputs: dict[int, np.ndarray], target: str = "webgpu",
               configs: dict[str, tuple[Any, Any]] | None = None) -> None:  # fmt: skip
    """Lower the host function's regions, launch its kernels with ``args`` (arrays become buffers), read back ``outputs``."""
    lower(module, target, configs)
    run_lowered(device, module, args, outputs)


def run_lowered(device: Any, module: ModuleOp, args: list[Any], outputs: dict[int, np.ndarray], shader: Any = None) -> Any:
    """``run_on_gpu`` of a module already lowered (``lower``), its compiled ``shader`` if given; returns the shader."""
    program = emit_program(module)
    shader = shader or device.compile(program.source)
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
            elif isinstance(op, UnrealizedConversionCastOp):  # a stored weight's buffer as the kernel's words
                env[op.results[0]] = env[op.inputs[0]]
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
    return shader


def reference(case: str | ModuleOp, args: list[Any], weights: dict[str, Any] | None = None) -> list[Any]:
    """The region before the pass on the numpy buffer interpreter: the arguments after the call (outs written in place)."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    module = chunk(case) if isinstance(case, str) else case
    host = next(op for op in module.ops if isinstance(op, func.FuncOp))
    BufferInterpreter(module, weights or {}).call(host.sym_name.data, *copies)
    return copies


def test_elementwise_three_tokens(device: Any) -> None:
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    y = np.full((3, 8), np.nan, np.float32)
    run_on_gpu(device, chunk("axpb_0"), [x, 3, y.copy()], {2: y})
    np.testing.assert_allclose(y, reference("axpb_0", [x, 3, np.zeros_like(x)])[2], rtol=1e-6)
    np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


@pytest.mark.parametrize("rows", [1, 5])
def test_row_reduction_length_50(device: Any, rows: int) -> None:
    x = np.random.default_rng(rows).standard_normal((rows, 50)).astype(np.float32)
    y = np.full((rows, 50), np.nan, np.float32)
    run_on_gpu(device, chunk("norm_0"), [x, y.copy()], {1: y})
    want = reference("norm_0", [x, np.zeros_like(x)])[1]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


CONTRACTION_CONFIGS = {
    "gemv": "#dispatch.lowering_config<gemv, workgroup = [64, 1, 1], workgroup_tile = [1, 8], thread_tile = [4], split = 32>",
    "gemv-2-tokens-unrolled": "#dispatch.lowering_config<gemv, workgroup = [32, 1, 1], workgroup_tile = [2, 8], thread_tile = [2], "
    "split = 8, reduction_tile = 2>",
    "gemm": "#dispatch.lowering_config<gemm, workgroup = [64, 1, 1], workgroup_tile = [32, 32], thread_tile = [4, 4], reduction_tile = 32>",
    "gemm-pipelined": "#dispatch.lowering_config<gemm, workgroup = [32, 1, 1], workgroup_tile = [16, 32], thread_tile = [4, 4], "
    "reduction_tile = 64, pipeline_depth = 2>",
}


DP4A_CONFIGS = {
    "gemv-dp4a": "#dispatch.lowering_config<gemv, workgroup = [64, 1, 1], workgroup_tile = [1, 8], thread_tile = [4], split = 32, "
    "math = dp4a>",
    "gemv-dp4a-2-tokens-unrolled": "#dispatch.lowering_config<gemv, workgroup = [32, 1, 1], workgroup_tile = [2, 8], thread_tile = [2], "
    "split = 8, reduction_tile = 2, math = dp4a>",
    # activations quantized once by a first kernel: every token in one workgroup, and 2 of the 3 (a partial second
    # workgroup of tokens) with runs of 3 blocks, more than the row's 2
    "gemv-dp4a-prequantized": "#dispatch.lowering_config<gemv, workgroup = [64, 1, 1], workgroup_tile = [3, 2], thread_tile = [1], "
    "split = 32, math = dp4a, prequantize = 1>",
    "gemv-dp4a-prequantized-2-tokens": "#dispatch.lowering_config<gemv, workgroup = [24, 1, 1], workgroup_tile = [2, 3], thread_tile = [1], "
    "split = 8, math = dp4a, prequantize = 1>",
    # the gemm's tiles of codes: one block per step (32 rows: a partial tile of 3 tokens), two blocks per step pipelined
    "gemm-dp4a": "#dispatch.lowering_config<gemm, workgroup = [64, 1, 1], workgroup_tile = [32, 32], thread_tile = [4, 4], "
    "reduction_tile = 32, math = dp4a>",
    "gemm-dp4a-pipelined": "#dispatch.lowering_config<gemm, workgroup = [32, 1, 1], workgroup_tile = [16, 32], thread_tile = [4, 4], "
    "reduction_tile = 64, pipeline_depth = 2, math = dp4a>",
}


def int8_activations(x: np.ndarray, block: int = 32) -> np.ndarray:
    """What a dp4a gemv multiplies instead of ``x``: each block of K rounded to int8 steps of max|x| / 127, in f32
    as the kernel computes it."""
    blocks = x.reshape(*x.shape[:-1], -1, block).astype(np.float32)
    amax = np.abs(blocks).max(axis=-1, keepdims=True)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    d = (amax * np.float32(1 / 127)).astype(np.float32)
    return (np.round(blocks * inv) * d).reshape(x.shape).astype(np.float32)


def _gemv_case(scheme: str, seed: int) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """The lit file's gemv case (y = x @ W^T + h) with a 37 x 64 weight stored in ``scheme`` and 3 tokens:
    (the stored weight, x, h, y filled with NaN, the weight's words, a parser of a fresh module)."""
    rng = np.random.default_rng(seed)
    view = tiny.store_tensor("w", rng.standard_normal((37, 64)).astype(np.float32), scheme)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    h = rng.standard_normal((3, 37)).astype(np.float32)
    y = np.full((3, 37), np.nan, np.float32)
    words = np.frombuffer(view.data.tobytes() + b"\0" * (-len(view.data.tobytes()) % 4), np.int32)
    text = str(chunk("gemv_0")).replace("!rquant.q4_0", f"!rquant.{scheme}")
    return view, x, h, y, words, lambda: Parser(build_registry().context(), text).parse_module()


@pytest.mark.parametrize(("config", "scheme"), [(c, "q4_0") for c in sorted(CONTRACTION_CONFIGS)] + [
    (c, s) for c in ("gemv", "gemm") for s in ("q4_1", "q8_0", "int4_g32", "int8_g32")])  # fmt: skip
def test_contraction_37_rows_3_tokens(device: Any, config: str, scheme: str) -> None:
    view, x, h, y, words, parse = _gemv_case(scheme, 37)
    run_on_gpu(device, parse(), [x, words, h, 3, y.copy()], {4: y}, configs={"gemv_0": (CONTRACTION_CONFIGS[config], None)})
    want = reference(parse(), [x, view, h, 3, np.zeros_like(y)])[4]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, x @ view.to_numpy().T + h, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("scheme", ["q4_0", "q4_1", "q8_0", "int4_g32", "int8_g32"])
@pytest.mark.parametrize("config", sorted(DP4A_CONFIGS))
def test_dp4a_contraction_37_rows_3_tokens(device: Any, config: str, scheme: str) -> None:
    """The gemv and gemm with int8 activations and packed dot products (``math = dp4a``; llvmpipe has ``dot4I8Packed``):
    exactly the float contraction of the int8-rounded activations, and within 2% of the float one."""
    view, x, h, y, words, parse = _gemv_case(scheme, 38)
    run_on_gpu(
        device, parse(), [x, words, h, 3, y.copy()], {4: y}, target="webgpu int-dot=1", configs={"gemv_0": (DP4A_CONFIGS[config], None)}
    )
    w = view.to_numpy().astype(np.float64)
    np.testing.assert_allclose(y, int8_activations(x) @ w.T + h, rtol=1e-5, atol=1e-4)
    exact = x @ w.T
    assert np.abs(y - h - exact).max() <= 2e-2 * np.abs(exact).max()


def test_dp4a_needs_the_targets_int_dot() -> None:
    text = str(chunk("gemv_0"))
    module = Parser(build_registry().context(), text).parse_module()
    with pytest.raises(RustyError, match=r"math = dp4a needs a target with packed 8-bit dot products; webgpu has none"):
        lower(module, "webgpu", {"gemv_0": (DP4A_CONFIGS["gemv-dp4a"], None)})


ATTENTION_CONFIGS = {
    "per-row": None,
    # FlashAttention-2 (W = Bq/4 * Bk/4): rows per invocation (head_dim 4 allows Bk = 4), lanes per row (head_dim 32)
    "flash": "#dispatch.lowering_config<attention, workgroup = [4, 1, 1], workgroup_tile = [16], reduction_tile = 4>",
    "flash-2-lanes-per-row": "#dispatch.lowering_config<attention, workgroup = [16, 1, 1], workgroup_tile = [8], reduction_tile = 32>",
}
F16_TILES = {"flash-2-lanes-per-row"}
"""Configs also run on the nvidia target: Q, K, V and P tiles in f16, products and sums in f32 (``wide``)."""


def _attention_chunk(head_dim: int) -> ModuleOp:
    """The lit file's attention case (4 heads over 2 KV heads) with heads of ``head_dim``."""
    text = str(chunk("attention_0"))
    if head_dim != 4:
        text = (text.replace("x16xf32", f"x{4 * head_dim}xf32").replace("x8xf32", f"x{2 * head_dim}xf32")
                .replace("head_dim = 4 : i64", f"head_dim = {head_dim} : i64"))  # fmt: skip
    return Parser(build_registry().context(), text).parse_module()


@pytest.mark.parametrize(
    ("config", "target"), [(c, "webgpu") for c in sorted(ATTENTION_CONFIGS)] + [(c, "nvidia") for c in sorted(F16_TILES)]
)
@pytest.mark.parametrize(("rows", "pos"), [(3, 2), (1, 40), (9, 30)])
def test_attention_gqa_prefill(device: Any, rows: int, pos: int, config: str, target: str) -> None:
    """3 query rows at pos 2 (causal within the prompt), one decode row over 41 positions (two KV tiles), 9 rows
    at pos 30 (query blocks and key tiles cut by the causal mask); per query row, and FlashAttention-2 (a
    4 x 4 register tile of scores and of outputs per invocation)."""
    rng = np.random.default_rng(rows + pos)
    context = 48
    hd = 32 if config == "flash-2-lanes-per-row" else 4
    q = rng.standard_normal((rows, 4 * hd)).astype(np.float32)
    kc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    vc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    y = np.full((rows, 4 * hd), np.nan, np.float32)
    flash = ATTENTION_CONFIGS[config]
    run_on_gpu(
        device, _attention_chunk(hd), [q, kc, vc, pos, y.copy()], {4: y}, target, configs={"attention_0": (flash, None)} if flash else None
    )
    want = reference(_attention_chunk(hd), [q, kc, vc, pos, np.zeros_like(y)])[4]
    tol = 1e-5 if target == "webgpu" else 3e-3  # f16 tiles: q, k, v and the probabilities rounded to f16
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("partitions", [2, 3])
@pytest.mark.parametrize(("rows", "pos"), [(1, 40), (9, 30)])
def test_split_kv_partitions_grow_with_the_context(
    device: Any, monkeypatch: pytest.MonkeyPatch, rows: int, pos: int, partitions: int
) -> None:
    """Split-KV of 4 positions a partition with ``SPLIT_KV_PARTITIONS`` lowered to 2 and 3: 39-41 positions take
    2 partitions of 20-24 positions or 3 of 16 (``partition_size``), the merge and the scratch buffer sized alike."""
    from rusty_ir.passes.codegen import attention

    monkeypatch.setattr(attention, "SPLIT_KV_PARTITIONS", partitions)
    rng = np.random.default_rng(rows + pos)
    hd, context = 4, 48
    q = rng.standard_normal((rows, 4 * hd)).astype(np.float32)
    kc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    vc = rng.standard_normal((context, 2 * hd)).astype(np.float32)
    y = np.full((rows, 4 * hd), np.nan, np.float32)
    config = "#dispatch.lowering_config<attention, workgroup = [8, 1, 1], reduction_tile = 4, split = 4>"
    run_on_gpu(device, _attention_chunk(hd), [q, kc, vc, pos, y.copy()], {4: y}, "webgpu", configs={"attention_0": (config, None)})
    want = reference(_attention_chunk(hd), [q, kc, vc, pos, np.zeros_like(y)])[4]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


_SUBGROUP_PROBE = """
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(subgroup_size) size: u32) { out[0] = size; }
"""


def adapter_subgroup_size(device: Any) -> int:
    """The subgroup width compute kernels get on this adapter (8 on llvmpipe's 256-bit vectors, 32 on NVIDIA)."""
    import wgpu

    dev = device.device
    pipeline = dev.create_compute_pipeline(layout="auto", compute={"module": device.compile(_SUBGROUP_PROBE), "entry_point": "main"})
    buf = device.empty(4)
    group = dev.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[{"binding": 0, "resource": {"buffer": buf}}])
    enc = dev.create_command_encoder()
    cp = enc.begin_compute_pass()
    cp.set_pipeline(pipeline)
    cp.set_bind_group(0, group)
    cp.dispatch_workgroups(1)
    cp.end()
    dev.queue.submit([enc.finish()])
    del wgpu
    return int(device.read(buf, np.uint32, 1)[0])


@pytest.mark.parametrize("target", ["webgpu", "nvidia"])
def test_tiny_model_on_wgpu_matches_reference(device: Any, target: str) -> None:
    """The tiny mixed-quant model through every stage, prefill then decode steps on wgpu, against the tfm reference.

    Attention and the contractions are multi-versioned (gemm and gemv): decode folds the host ``if`` to the
    single-token kernels, a prefill step picks per step (a 5-token prompt, then a 1-token prefill). The nvidia
    target brings f16 GEMM tiles and subgroup reductions (at this adapter's subgroup width).
    """
    from rusty_ir.backends.runtime.model import ModelRuntime

    registry = build_registry()
    module = tiny.build_model()
    pipeline = default_pipeline(target)
    if target == "nvidia":  # NVIDIA's f16 math and subgroup reductions, within this adapter's subgroup width and memory
        limits = f"subgroup-size={adapter_subgroup_size(device)} max-workgroup-memory={device.limits['max-compute-workgroup-storage-size']}"
        pipeline = pipeline.replace("attach-target{target=nvidia}", f"attach-target{{target=nvidia {limits}}}")
    build_pipeline(registry, pipeline).apply(registry.context(), module)
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
    # per layer: q/k/v projections, the cache append (rotate-half RoPE reads d +- head_dim/2: not in the
    # projection's epilogue), attention (split-KV: two in decode), o, gate/up, down
    assert runtime.dispatches_per_step("decode") == 2 * 7 + 3
    assert runtime.dispatches_per_step("prefill") == 2 * 6 + 3


def _store() -> tuple[Any]:
    return (tiny.random_store(np.random.default_rng(1234))[0],)


def tiny_regions(stage: str = "bufferized", target: str = "webgpu") -> ModuleOp:
    """The tiny model after the default pipeline up to ``stage`` (configs from the ``target`` heuristic)."""
    registry = build_registry()
    module = tiny.build_model()
    specs = [spec.replace("TARGET", target) for _, spec in DEFAULT_STAGES]
    names = [n for n, _ in DEFAULT_STAGES]
    build_pipeline(registry, ",".join(specs[: names.index(stage) + 1])).apply(registry.context(), module)
    return module


def outline_region(module: ModuleOp, label: str) -> ModuleOp:
    """One bufferized region of ``module`` as the body of a function of its operands."""
    region = next(op for op in module.walk() if isinstance(op, RegionOp) and op.label.data == label)
    fn_block = Block(arg_types=[a.type for a in region.args])
    clone = region.clone()
    for i, arg in enumerate(fn_block.args):
        clone.operands[i] = arg
    fn_block.add_op(clone)
    fn_block.add_op(func.ReturnOp())
    fn = func.FuncOp("case", ([a.type for a in region.args], []), Region(fn_block))
    out = ModuleOp([fn])
    out.verify()
    return out


def region_inputs(module: ModuleOp, tokens: int, rng: np.random.Generator) -> tuple[list[Any], list[Any], list[int]]:
    """(GPU args, reference args, indices of the buffers it writes) for an outlined region whose index operands are
    all the step's token count (contractions, elementwise regions): random activations, random quantized weights."""
    from rusty_ir.dialects.quant.storage import buffer_scheme, stored_tensor
    from rusty_ir.weights import TensorView, quantize

    fn = next(op for op in module.ops if isinstance(op, func.FuncOp))
    region = next(op for op in fn.walk() if isinstance(op, RegionOp))
    written = {region.block.args.index(op.dest) for op in region.walk() if op.name == "bufferization.materialize_in_destination"}
    gpu_args: list[Any] = []
    ref_args: list[Any] = []
    for i, arg in enumerate(fn.body.block.args):
        ty = arg.type
        if isinstance(ty, IndexType):
            gpu_args.append(tokens)
            ref_args.append(tokens)
            continue
        stored = stored_tensor(region.block.args[i])  # a quantized weight's words: the tensor they store
        shape = tuple(tokens if d < 0 else d for d in (stored or ty).get_shape())
        sch = buffer_scheme(region.block.args[i])
        if sch is not None:
            data = quantize(rng.standard_normal(shape).astype(np.float32) * 0.3, sch)
            gpu_args.append(np.frombuffer(data.tobytes() + b"\0" * (-len(data) % 4), np.int32))
            ref_args.append(TensorView(f"w{i}", shape, sch, data))
            continue
        arr = rng.standard_normal(shape).astype(np.float32)
        gpu_args.append(arr)
        ref_args.append(arr.copy())
    return gpu_args, ref_args, sorted(written)


@pytest.mark.parametrize("tokens", [1, 5, 9])
@pytest.mark.parametrize("label", ["contraction_0_contraction_1", "contraction_4", "contraction_5", "contraction_6"])
def test_tiny_model_contractions_match_the_buffer_interpreter(device: Any, label: str, tokens: int) -> None:
    """Each contraction region of the tiny model (mixed schemes, RMSNorm prologues, residual and SiLU epilogues)
    through the tiled pipeline on wgpu, against the dispatch-level interpreter: one token and five take the gemv
    version (up to ``GEMV_STEP_TOKENS``: decode and speculative verification steps), nine the gemm."""
    rng = np.random.default_rng(tokens)
    gpu_args, ref_args, outs = region_inputs(outline_region(tiny_regions(), label), tokens, rng)
    results = {i: np.full_like(gpu_args[i], np.nan) for i in outs}
    run_on_gpu(device, outline_region(tiny_regions(), label), gpu_args, results)
    want = reference(outline_region(tiny_regions(), label), ref_args)
    for i in outs:
        np.testing.assert_allclose(results[i], want[i], rtol=1e-4, atol=1e-4, err_msg=f"{label} output #{i}")


def test_prequantized_few_token_gemv_matches_the_single_token_one(device: Any) -> None:
    """On a target with packed int8 dot products, gate+up (its RMSNorm computed in the region; the tiny model's
    qkv weights are not all in dp4a schemes) takes a prequantized few-token gemv for steps of 2 to
    ``GEMV_STEP_TOKENS`` (one version per step size below it): the same int8 activations as the single-token gemv,
    which quantizes them in every workgroup, so the same results up to the order of the float sums; both within
    int8 rounding of the float contraction. Steps of 2 and 5 take exact versions, 8 the config itself."""
    target, label = "webgpu int-dot=1", "contraction_5"
    regions = tiny_regions(target=target)
    few = next(r for r in regions.walk() if isinstance(r, RegionOp) and r.label.data == label).few_token_config
    assert few is not None and few.config.prequantize == 1 and few.config.math == "dp4a"
    lowered = {}
    for version in ("few", "single"):
        lowered[version] = outline_region(regions, label)
        if version == "single":
            next(r for r in lowered[version].walk() if isinstance(r, RegionOp)).properties.pop("few_token_config")
        lower(lowered[version], target)
    shaders: dict[str, Any] = {}
    for tokens in (2, 5, 8):
        gpu_args, ref_args, outs = region_inputs(outline_region(regions, label), tokens, np.random.default_rng(tokens))
        got = {}
        for version, module in lowered.items():
            got[version] = {i: np.full_like(gpu_args[i], np.nan) for i in outs}
            args = [a.copy() if isinstance(a, np.ndarray) else a for a in gpu_args]
            shaders[version] = run_lowered(device, module, args, got[version], shaders.get(version))
        want = reference(outline_region(regions, label), ref_args)
        for i in outs:
            np.testing.assert_allclose(got["few"][i], got["single"][i], rtol=1e-4, atol=1e-4, err_msg=f"{tokens} tokens, output #{i}")
            assert np.abs(got["few"][i] - want[i]).max() <= 2e-2 * np.abs(want[i]).max(), f"{tokens} tokens, output #{i}"


def test_producer_epilogues_quantize_their_consumers_activations(device: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With packed int8 dot products, few-token gemvs of whole 32-row blocks per workgroup quantize the next region's
    activation in their epilogue (``quantize_pairs``): the o projection (a token per workgroup) gate+up's, RMSNorm's
    ``x * g`` as int8 blocks with their partial ``sum x^2``; gate+up (every token of the step per workgroup) down's,
    prequantized here as llama3-8b's is (``PREQUANTIZE_MIN_K`` lowered to the tiny model's 128). Neither consumer's
    few-token versions runs a quantizing kernel, and the tiny model's verification logits of 2, 5 and 8 tokens equal
    those of one-token steps, whose gemvs quantize in every workgroup, up to the order of the float sums."""
    art, rt = _int_dot_tiny_model(device, tmp_path, monkeypatch)
    # one token, a gemv for each step of 2-7 tokens and one for 8 (gate+up) or one for 2 and one of 3 tokens a
    # workgroup for 3-8 (down: one weight, ``PREQUANTIZED_NARROW_TOKENS``), prefill
    for label, count in (("contraction_5", 9), ("contraction_6", 4)):
        kernels = re.findall(rf"^fn ({label}(?:_\d+)?)\(", art.wgsl, re.M)
        assert len(kernels) == count, kernels
    _verify_matches_one_token_steps(rt, (2, 5, 8))


def test_more_token_configs_take_the_larger_few_token_steps(device: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every prequantized few-token gemv of the tiny model given a ``more_token_config`` (64 invocations of 2 rows,
    K split in 4, 4 tokens a workgroup) beside its few-token config cut to steps of 2 tokens: steps of 3 tokens run
    its exact version, steps of 4 to 8 it, and gate+up still quantizes down's activation in its epilogue (32 rows, whole
    blocks, in both). The verification logits of 2, 3, 5 and 8 tokens equal those of one-token steps."""
    from rusty_ir.passes.tuning import generic, tune_workgroups

    def with_more(single: Any, ops: Any, target: Any) -> tuple[Any, Any]:
        few, more = generic.few_token_configs(single, ops, target)
        if few is None or not few.config.prequantize:
            return few, more
        rows = few.config.workgroup_tile[1]
        return few.replace(workgroup_tile=[2, rows]), few.replace(workgroup=[64, 1, 1], workgroup_tile=[4, 32], split=4)

    monkeypatch.setattr(tune_workgroups, "few_token_configs", with_more)
    art, rt = _int_dot_tiny_model(device, tmp_path, monkeypatch)
    for label in ("contraction_5", "contraction_6"):  # one token, steps of 2, 3 and 4-8 tokens, prefill: no quantizing kernel
        kernels = re.findall(rf"^@compute @workgroup_size\((\d+), 1, 1\)\nfn ({label}(?:_\d+)?)\(", art.wgsl, re.M)
        assert [size for size, _ in kernels].count("64") == 2, kernels
        assert len(kernels) == 5, kernels
    _verify_matches_one_token_steps(rt, (2, 3, 5, 8))


def test_few_token_configs_of_qkv_and_of_a_wide_lm_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tune-workgroups`` on the tiny Q4_0 model with packed int8 dot products, its K taken as 256 blocks (so that
    the configs of 2 tokens and of more differ, as on llama3-8b) and ``PREQUANTIZED_WIDE_ROWS`` lowered to its
    vocabulary: norm+qkv prequantizes steps of 2 tokens in one config (2 tokens a workgroup) and the larger ones in
    another whose lanes walk more blocks, ``PREQUANTIZED_NARROW_TOKENS`` tokens a workgroup; the verification's LM
    head, as wide as the vocabulary, takes the larger steps' config for all of its steps, every step's tokens a
    workgroup."""
    from rusty_ir.importers import load_model
    from rusty_ir.importers.to_ir import build_module
    from rusty_ir.passes.tuning import generic
    from rusty_ir.synthetic import synthetic_model_path

    model = load_model(synthetic_model_path("test-tiny", "q4_0", 0, tmp_path)[0])
    prequantized_gemv = generic._prequantized_gemv
    monkeypatch.setattr(generic, "_prequantized_gemv", lambda blocks, per_lane: prequantized_gemv(256, per_lane))
    monkeypatch.setattr(generic, "PREQUANTIZED_WIDE_ROWS", model.config.vocab)
    module = build_module(model.config, model.weights, verify_entry=True)
    registry = build_registry()
    names = [n for n, _ in DEFAULT_STAGES]
    specs = [spec.replace("TARGET", "webgpu int-dot=1") for _, spec in DEFAULT_STAGES][: names.index("tuned") + 1]
    build_pipeline(registry, ",".join(specs)).apply(registry.context(), module)
    regions = [r for r in module.walk() if isinstance(r, RegionOp)]
    qkv = next(r for r in regions if r.label.data == "contraction_0_contraction_1")
    few, more = qkv.few_token_config, qkv.more_token_config
    assert few is not None and more is not None
    assert (few.config.prequantize, more.config.prequantize, few.config.workgroup_tile[0]) == (1, 1, 2)
    assert more.config.workgroup_tile[0] == generic.PREQUANTIZED_NARROW_TOKENS
    assert few.config.split > more.config.split  # the larger steps' lanes walk more blocks each
    head = next(r for r in regions if isinstance(fn := r.parent_op(), func.FuncOp) and fn.sym_name.data == "verify"
                and r.few_token_config is not None)  # fmt: skip
    assert head.more_token_config is None
    assert (head.few_token_config.config.prequantize, head.few_token_config.config.split) == (1, more.config.split)
    assert head.few_token_config.config.workgroup_tile[0] == GEMV_STEP_TOKENS


def test_a_region_of_several_contractions_quantizes_its_tokens_in_each_workgroup(device: Any, tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The tiny model's norm+qkv (a region of several contractions, its RMSNorm computed in the region) given a
    few-token gemv that quantizes all of a step's tokens in each workgroup (``prequantize`` off, 8 tokens a workgroup):
    its contractions, each in workgroups of its own, share one workgroup array for the int8 activations
    (``Kernel.shared(once=...)``), there is no quantizing kernel, and the verification logits of 2, 5 and 8 tokens
    equal those of one-token steps."""
    from xdsl.dialects.linalg.ops import GenericOp

    from rusty_ir.dialects.dispatch import LoweringConfigAttr
    from rusty_ir.passes.dispatch.analysis import Kind, kind
    from rusty_ir.passes.tuning import generic, tune_workgroups

    def quantized_in_workgroups(single: Any, ops: Any, target: Any) -> tuple[Any, Any]:
        few, more = generic.few_token_configs(single, ops, target)
        if few is None or sum(1 for o in ops if isinstance(o, GenericOp) and kind(o) is Kind.CONTRACTION) < 2:
            return few, more
        return LoweringConfigAttr("gemv", [64, 1, 1], workgroup_tile=[8, 16], thread_tile=[2], split=8, math="dp4a"), None

    monkeypatch.setattr(tune_workgroups, "few_token_configs", quantized_in_workgroups)
    art, rt = _int_dot_tiny_model(device, tmp_path, monkeypatch)
    found = re.findall(
        r"((?:var<workgroup> [^\n]*\n)*)@compute @workgroup_size\(64, 1, 1\)\nfn (contraction_0_contraction_1_\d+)\(", art.wgsl
    )
    assert len(found) == 7, [name for _, name in found]  # one version per step size, 2 to 8 tokens
    for shared, name in found:
        assert shared.count("array<vec4<i32>") == 1, (name, shared)
    _verify_matches_one_token_steps(rt, (2, 5, 8))


def _int_dot_tiny_model(device: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(artifact, runtime) of the tiny model compiled for packed int8 dot products with its verify entry, its down
    projection prequantized as llama3-8b's is (``PREQUANTIZE_MIN_K`` lowered to its 128)."""
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.importers import load_model
    from rusty_ir.passes.tuning import generic
    from rusty_ir.synthetic import synthetic_model_path

    monkeypatch.setattr(generic, "PREQUANTIZE_MIN_K", 128)
    path, _ = synthetic_model_path("test-tiny", "q4_0", 0, tmp_path)
    model = load_model(path)
    int_dot = ("target=attach-target{target=webgpu int-dot=1 overwrite=true}",)
    art = compile_model(model, CompileOptions(verify_entry=True, insert_after=int_dot), use_cache=False).artifact
    return art, ModelRuntime(art.schedule, art.wgsl, art.runtime_weights(model.weights), 64, device)


def _verify_matches_one_token_steps(rt: Any, steps: tuple[int, ...]) -> None:
    """Verification logits of each step size against those of one-token steps over the same ids and positions."""
    ids = np.arange(100, 108, dtype=np.int32)
    for tokens in steps:
        few = rt.verify_logits(ids[:tokens], 0)
        one = np.stack([rt.verify_logits(ids[i : i + 1], i)[0] for i in range(tokens)])
        np.testing.assert_allclose(few, one, rtol=1e-4, atol=1e-4 * np.abs(one).max(), err_msg=f"{tokens} tokens")
