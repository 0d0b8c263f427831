"""linalg-fuse-siblings + form-dispatches numerics: the tiny model on numpy before and after, and its dispatch counts."""

from __future__ import annotations

import numpy as np
import pytest
from test_transformer_to_tensor import convert, prefill_logits, tiny  # tests/passes is on sys.path (rootdir conftest)
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.linalg import ops as linalg

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.interp import TensorInterpreter
from rusty_ir.dialects.quant import DequantizeOp
from rusty_ir.passes.dispatch.analysis import Kind, kind
from rusty_ir.passes.dispatch.form_dispatches import FormDispatchesPass
from rusty_ir.passes.dispatch.linalg_fuse_siblings import LinalgFuseSiblingsPass
from rusty_ir.registry import build_registry


def stages() -> tuple[ModuleOp, ModuleOp, ModuleOp]:
    """The tiny model (with @prefill_logits) at the tensor level, after fuse-siblings, after form-dispatches."""
    ctx = build_registry().context()
    tensor_level = convert(prefill_logits(tiny.build_model()))
    fused = tensor_level.clone()
    LinalgFuseSiblingsPass().apply(ctx, fused)
    fused.verify()
    dispatched = fused.clone()
    FormDispatchesPass().apply(ctx, dispatched)
    dispatched.verify()
    return tensor_level, fused, dispatched


@pytest.fixture(scope="module")
def modules() -> tuple[ModuleOp, ModuleOp, ModuleOp]:
    return stages()


def regions_of(module: ModuleOp, name: str) -> list[RegionOp]:
    fn = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == name)
    return [op for op in fn.walk() if isinstance(op, RegionOp)]


def test_identical_logits_and_tokens(modules: tuple[ModuleOp, ModuleOp, ModuleOp]) -> None:
    store, _ = tiny.random_store(np.random.default_rng(1234))
    interps = [TensorInterpreter(m, store, context_length=16) for m in modules]
    prompt = np.array([3, 1, 4, 1, 5], np.int32)
    logits = [i.call("prefill_logits", prompt, 0) for i in interps]
    # Not bit-identical: the interpreter evaluates a fused two-output contraction with its generic
    # path, a single one with einsum, so the sums run in another order (about 1e-6 relative).
    np.testing.assert_allclose(logits[1], logits[0], rtol=1e-5, atol=1e-5)
    # form-dispatches only moves ops into regions: the same numbers exactly
    np.testing.assert_array_equal(logits[2], logits[1])
    for i in interps:
        i.reset()
    tokens = [int(np.asarray(i.call("prefill", prompt, 0))[0]) for i in interps]
    assert len(set(tokens)) == 1 and tokens[0] == int(np.argmax(logits[0]))
    sequence = [*prompt.tolist(), tokens[0]]
    for _ in range(3):
        step = [int(np.asarray(i.call("decode", np.array([sequence[-1]], np.int32), len(sequence) - 1))[0]) for i in interps]
        assert len(set(step)) == 1, step
        sequence.append(step[0])


def test_siblings_fused(modules: tuple[ModuleOp, ModuleOp, ModuleOp]) -> None:
    """k and v (8 wide) and gate and up (64 wide) each become one two-output contraction; q (16 wide) stays alone."""
    tensor_level, fused, _ = modules
    layer = next(op for op in fused.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "decoder_layer")
    contractions = [op for op in layer.walk() if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION]
    assert sorted(len(op.outputs) for op in contractions) == [1, 1, 1, 2, 2]
    before = [op for op in tensor_level.walk() if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION]
    assert len(before) - len([op for op in fused.walk() if isinstance(op, linalg.GenericOp) and kind(op) is Kind.CONTRACTION]) == 2


def test_dispatch_counts(modules: tuple[ModuleOp, ModuleOp, ModuleOp]) -> None:
    _, _, dispatched = modules
    layer = regions_of(dispatched, "decoder_layer")
    # q (with the norm), k|v (with the norm), cache append (+ k rope), attention (+ q rope),
    # output projection (+ residual), gate|up (+ norm, SiLU * up), down (+ residual)
    assert [r.label.data.rsplit("_", 1)[0] for r in layer] == [
        "contraction", "contraction", "cache_append", "attention", "contraction", "contraction", "contraction",
    ]  # fmt: skip
    assert len(layer) <= 8
    # embedding gather, logits (+ final norm of the last row), argmax; decode only calls prefill
    assert len(regions_of(dispatched, "prefill")) == 3
    assert len(regions_of(dispatched, "decode")) == 0


def test_dequantize_only_inside_regions(modules: tuple[ModuleOp, ModuleOp, ModuleOp]) -> None:
    _, _, dispatched = modules
    for op in dispatched.walk():
        if kind(op) is None or isinstance(op, func.FuncOp):
            continue
        parent = op.parent_op()
        while parent is not None and not isinstance(parent, RegionOp):
            parent = parent.parent_op()
        assert parent is not None, f"{op.name} left on the host"
        if isinstance(op, DequantizeOp):
            # its consumer is in the same region
            assert all(use.operation.parent_op() is not None for use in op.result.uses)
