"""The quant dialect: block types (parse, print, schemes), op verifiers, and the numpy interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, Builtin, FunctionType, ModuleOp, TensorType, bf16, f16, f32, i8
from xdsl.dialects.func import Func
from xdsl.interpreter import Interpreter
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Attribute, Block, Region
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant import (
    BLOCK_QUANT_TYPES,
    BlockQuantType,
    DequantizeOp,
    Q4_1Type,
    Quant,
    QuantizeOp,
    block_quant_type,
    element_type_for_scheme,
    storage_scheme,
)
from rusty_ir.dialects.quant.interp import QuantFunctions
from rusty_ir.errors import RustyError
from rusty_ir.weights import SCHEMES, TensorView, dequantize, quantize


def context() -> Context:
    ctx = Context()
    for dialect in (Builtin, Func, Quant):
        ctx.load_dialect(dialect)
    return ctx


# --- types ----------------------------------------------------------------------------------------


def test_one_type_per_quantized_scheme() -> None:
    quantized = {name for name, s in SCHEMES.items() if s.quantized}
    assert set(BLOCK_QUANT_TYPES) == quantized
    for name, cls in BLOCK_QUANT_TYPES.items():
        ty = cls()
        assert ty.name == f"rquant.{name}"
        assert ty.scheme is SCHEMES[name]
        assert storage_scheme(ty) is SCHEMES[name]
        assert element_type_for_scheme(SCHEMES[name]) == ty


@pytest.mark.parametrize("scheme", sorted(BLOCK_QUANT_TYPES))
def test_tensor_of_block_type_round_trips(scheme: str) -> None:
    block = SCHEMES[scheme].block
    text = f"tensor<576x{2 * block}x!rquant.{scheme}>"
    ty = Parser(context(), text).parse_type()
    assert isinstance(ty, TensorType)
    assert isinstance(ty.element_type, BlockQuantType) and ty.element_type.scheme.name == scheme
    assert ty.get_shape() == (576, 2 * block)
    assert str(ty) == text


def test_unknown_block_type_is_a_parse_error() -> None:
    with pytest.raises(Exception, match="rquant.iq4_xs"):
        Parser(context(), "tensor<4x256x!rquant.iq4_xs>").parse_type()
    with pytest.raises(ValueError, match="not a quantized scheme"):
        block_quant_type("f16")


def test_plain_storage_schemes() -> None:
    assert storage_scheme(f32) is SCHEMES["f32"]
    assert storage_scheme(f16) is SCHEMES["f16"]
    assert storage_scheme(bf16) is SCHEMES["bf16"]
    assert storage_scheme(i8) is None
    assert block_quant_type("q4_1") == Q4_1Type() != block_quant_type("q4_0")


# --- verifiers ------------------------------------------------------------------------------------


def test_dequantize_verifier() -> None:
    q = TensorType(block_quant_type("q4_0"), [8, 64])
    block = Block(arg_types=[q, TensorType(block_quant_type("q4_k"), [2, 128]), TensorType(f32, [8, 64])])
    good = DequantizeOp(block.args[0], TensorType(f32, [8, 64]))
    block.add_op(good)
    good.verify()
    checks = [
        (DequantizeOp(block.args[0], TensorType(f32, [8, 32])), "input shape \\[8, 64\\] and result shape \\[8, 32\\]"),
        (DequantizeOp(block.args[0], TensorType(f16, [8, 64])), "result element type must be f32"),
        (DequantizeOp(block.args[1], TensorType(f32, [2, 128])), "not a multiple of the !rquant.q4_k block size 256"),
        (DequantizeOp(block.args[2], TensorType(f32, [8, 64])), "must be a quant block type"),
    ]
    for op, message in checks:
        with pytest.raises(VerifyException, match=message):
            op.verify_()


def test_quantize_verifier() -> None:
    block = Block(arg_types=[TensorType(f32, [DYNAMIC_INDEX, 96])])
    QuantizeOp(block.args[0], TensorType(block_quant_type("q8_0"), [DYNAMIC_INDEX, 96])).verify_()
    with pytest.raises(VerifyException, match="not a multiple of the !rquant.int8_g128 block size 128"):
        QuantizeOp(block.args[0], TensorType(block_quant_type("int8_g128"), [DYNAMIC_INDEX, 96])).verify_()
    with pytest.raises(VerifyException, match="must be a quant block type"):
        QuantizeOp(block.args[0], TensorType(f16, [DYNAMIC_INDEX, 96])).verify_()


# --- interpreter ----------------------------------------------------------------------------------


def roundtrip_module(scheme: str, shape: list[int]) -> ModuleOp:
    """func @f(%x: f32 tensor) -> (quantized, dequantized)."""
    qtype = TensorType(block_quant_type(scheme), shape)
    ftype = TensorType(f32, shape)
    block = Block(arg_types=[ftype])
    with ImplicitBuilder(block):
        q = QuantizeOp(block.args[0], qtype)
        d = DequantizeOp(q, ftype)
        func.ReturnOp(q, d)
    module = ModuleOp([func.FuncOp("f", FunctionType.from_lists([ftype], [qtype, ftype]), Region(block))])
    module.verify()
    return module


def interpret(module: ModuleOp, *args: object) -> tuple[object, ...]:
    interp = Interpreter(module)
    interp.register_implementations(FuncFunctions())
    interp.register_implementations(QuantFunctions())
    return interp.call_op("f", args)


@pytest.mark.parametrize(
    ("scheme", "max_err"),
    [("q4_0", 0.2), ("q4_1", 0.15), ("q8_0", 0.01), ("int4_g32", 0.2), ("int4_g128", 0.2), ("int8_g32", 0.01), ("int8_g128", 0.01)],
)
def test_quantize_dequantize(scheme: str, max_err: float) -> None:
    rng = np.random.default_rng(7)
    block = SCHEMES[scheme].block
    x = rng.standard_normal((3, 2 * block)).astype(np.float32)
    q, d = interpret(roundtrip_module(scheme, [DYNAMIC_INDEX, 2 * block]), x)
    assert isinstance(q, TensorView) and q.scheme is SCHEMES[scheme] and q.shape == x.shape
    assert q.data.nbytes == 3 * 2 * SCHEMES[scheme].block_bytes
    assert isinstance(d, np.ndarray) and d.dtype == np.float32 and d.shape == x.shape
    np.testing.assert_array_equal(d, dequantize(q.data, q.scheme, q.shape))
    # Relative to each block's absolute maximum, the error is within the scheme's step.
    rel = np.abs(d - x).reshape(-1, block).max(axis=1) / np.abs(x).reshape(-1, block).max(axis=1)
    assert rel.max() < max_err


def test_dequantize_q8_0_bytes_by_hand() -> None:
    """A Q8_0 block written byte by byte: f16 scale 0.5, codes -3..28 -> values -1.5..14."""
    codes = np.arange(-3, 29, dtype=np.int8)
    raw = np.concatenate([np.array([0.5], np.float16).view(np.uint8), codes.view(np.uint8)])
    view = TensorView("w", (1, 32), SCHEMES["q8_0"], raw)
    qtype = TensorType(block_quant_type("q8_0"), [1, 32])
    block = Block(arg_types=[qtype])
    with ImplicitBuilder(block):
        func.ReturnOp(DequantizeOp(block.args[0], TensorType(f32, [1, 32])))
    module = ModuleOp([func.FuncOp("f", FunctionType.from_lists([qtype], [TensorType(f32, [1, 32])]), Region(block))])
    (got,) = interpret(module, view)
    np.testing.assert_array_equal(got, (codes.astype(np.float32) * 0.5).reshape(1, 32))


def test_dequantize_runtime_checks() -> None:
    qtype: Attribute = TensorType(block_quant_type("q4_0"), [2, 32])
    block = Block(arg_types=[qtype])
    with ImplicitBuilder(block):
        func.ReturnOp(DequantizeOp(block.args[0], TensorType(f32, [2, 32])))
    module = ModuleOp([func.FuncOp("f", FunctionType.from_lists([qtype], [TensorType(f32, [2, 32])]), Region(block))])
    x = np.ones((2, 32), np.float32)
    wrong_scheme = TensorView("w", (2, 32), SCHEMES["q8_0"], quantize(x, SCHEMES["q8_0"]))
    with pytest.raises(RustyError, match="stored as q8_0"):
        interpret(module, wrong_scheme)
    wrong_shape = TensorView("w", (1, 64), SCHEMES["q4_0"], quantize(x.reshape(1, 64), SCHEMES["q4_0"]))
    with pytest.raises(RustyError, match="runtime shape \\[1, 64\\]"):
        interpret(module, wrong_shape)


def test_quantize_to_k_quant_is_a_clear_error() -> None:
    with pytest.raises(RustyError, match="quantizing to q4_k is not supported"):
        interpret(roundtrip_module("q4_k", [1, 256]), np.zeros((1, 256), np.float32))
