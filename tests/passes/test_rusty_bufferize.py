"""rusty-bufferize numerics: the model-shaped lit case runs on numpy before and after the pass and agrees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import memref
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.parser import Parser

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.interp import BufferInterpreter, TensorInterpreter
from rusty_ir.passes.bufferization.rusty_bufferize import RustyBufferizePass
from rusty_ir.passes.memory.plan_memory import PlanMemoryPass
from rusty_ir.registry import build_registry

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "passes" / "rusty-bufferize.mlir"


def _model(bufferized: bool) -> ModuleOp:
    ctx = build_registry().context()
    module = Parser(ctx, LIT.read_text().split("// -----")[-1]).parse_module()
    if bufferized:
        RustyBufferizePass().apply(ctx, module)
        module.verify()
    return module


def test_structure():
    module = _model(True)
    allocs = [op for op in module.walk() if isinstance(op, memref.AllocOp)]
    assert len(allocs) == 3  # @layer's matmul output, @main's first activation and the loop's spare
    for op in module.walk():
        if isinstance(op, RegionOp):
            assert not op.outputs
            continue
        if op.parent_op() is not None and isinstance(op.parent_op(), RegionOp) or any(isinstance(p, RegionOp) for p in _ancestors(op)):
            continue  # region bodies keep their tensors
        assert not any(isinstance(t, TensorType) for t in (*op.operand_types, *op.result_types)), op.name


def _ancestors(op):
    parent = op.parent_op()
    while parent is not None:
        yield parent
        parent = parent.parent_op()


@pytest.mark.parametrize(("rows", "layers"), [(1, 1), (5, 2), (3, 3)])
def test_same_numbers_before_and_after(rows: int, layers: int):
    rng = np.random.default_rng(rows * 10 + layers)
    weights = {f"blk.{i}.w": rng.standard_normal((8, 8)).astype(np.float32) for i in range(layers)}
    x = rng.standard_normal((rows, 8)).astype(np.float32)
    expected = TensorInterpreter(_model(False), weights).call("main", x, layers)
    out = np.full((rows, 8), np.nan, np.float32)
    BufferInterpreter(_model(True), weights).call("main", x, layers, out)
    np.testing.assert_array_equal(out, expected)
    h = 2 * x
    for i in range(layers):
        h = h @ weights[f"blk.{i}.w"].T + h
    np.testing.assert_allclose(out, -h, rtol=1e-5, atol=1e-5)


def test_same_numbers_after_plan_memory():
    """Slot assignment changes no semantics, but the plan must not let the loop's buffers share a slot."""
    module = _model(True)
    PlanMemoryPass().apply(build_registry().context(), module)
    slots = [op.attributes["rusty.slot"].value.data for op in module.walk() if isinstance(op, memref.AllocOp)]
    assert sorted(slots) == [0, 1, 2]
