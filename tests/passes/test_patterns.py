"""The exported pattern sets, reused the way a plugin would: applied by its own walker outside their pass."""

from __future__ import annotations

from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import FloatAttr, ModuleOp
from xdsl.parser import Parser
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriteWalker

from rusty_ir.dialects.gpu.ops import UnpackF16Op
from rusty_ir.passes.quant.lower_quant_loads import LowerQuantLoadsPass, quant_load_patterns
from rusty_ir.registry import build_registry

F32S = ", ".join(["f32"] * 34)
LOAD_BLOCK = f"""
func.func @block(%w: memref<17xi32>, %blk: index) -> (f32, f32, f32) {{
  %c0 = arith.constant 0 : index
  %sc, %off, %q:32 = rquant.load_block %w[%c0, %blk] {{scheme = "q8_0", shape = array<i64: 1, 64>, layout = "blocks"}} : memref<17xi32> -> {F32S}
  func.return %sc, %off, %q#5 : f32, f32, f32
}}
"""
"""One q8_0 block of a 1 x 64 weight as stored: 34-byte blocks (f16 scale, 32 signed bytes) in 17 words."""


def _parse(text: str) -> ModuleOp:
    return Parser(build_registry().context(), text).parse_module()


def _walker() -> PatternRewriteWalker:
    return PatternRewriteWalker(GreedyRewritePatternApplier(quant_load_patterns(), dce_enabled=False))


def test_quant_load_patterns_lower_a_load_block_outside_the_pass() -> None:
    module = _parse(LOAD_BLOCK)
    assert _walker().rewrite_module(module)
    module.verify()
    assert not [op.name for op in module.walk() if op.name.startswith("rquant.")]
    (fn,) = [op for op in module.walk() if isinstance(op, func.FuncOp)]
    words = fn.body.block.args[0]
    # the scale word, then the block's 8 code words plus one: its codes start 2 bytes into the block, unaligned
    assert len([op for op in module.walk() if isinstance(op, memref.LoadOp) and op.memref == words]) == 10
    ret = fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    scale, offset, code = (v.owner for v in ret.arguments)
    assert isinstance(scale, UnpackF16Op)
    assert isinstance(offset, arith.ConstantOp) and offset.value == FloatAttr(0.0, offset.result.type)
    # a signed byte as a float: (byte ^ 0x80) OR-ed into the bits of 2^23, minus 2^23 + 128
    assert isinstance(code, arith.SubfOp)
    minus = code.rhs.owner
    assert isinstance(minus, arith.ConstantOp) and minus.value == FloatAttr(float(2**23 + 128), code.result.type)
    # the same IR as the pass's
    by_pass = _parse(LOAD_BLOCK)
    LowerQuantLoadsPass().apply(build_registry().context(), by_pass)
    assert str(module) == str(by_pass)


def test_quant_load_patterns_match_only_quant_loads() -> None:
    text = "func.func @f(%w: memref<4xi32>, %i: index) -> i32 {\n  %v = memref.load %w[%i] : memref<4xi32>\n  func.return %v : i32\n}\n"
    module = _parse(text)
    before = str(module)
    assert not _walker().rewrite_module(module)
    assert str(module) == before
