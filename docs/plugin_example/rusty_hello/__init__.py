"""rusty-hello: an example rusty-ir plugin with one pass and one dialect.

rusty-ir reads two module-level names from a plugin: ``PASSES`` (ModulePass
subclasses) and ``DIALECTS`` (xDSL Dialects). Install this folder as a package
and its entry point makes both visible to every rusty-ir tool; or load the file
directly with ``rusty-opt --load-pass-plugin=rusty_hello/__init__.py``.
"""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import IntegerAttr, IntegerType, ModuleOp
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)


@irdl_op_definition
class TraceOp(IRDLOperation):
    """Marks a value as interesting; has no effect on execution.

    Example: ``hello.trace %x : i32``
    """

    name = "hello.trace"
    value = operand_def()
    assembly_format = "$value attr-dict `:` type($value)"


class MulByPowerOfTwoLowering(RewritePattern):
    """Rewrites ``arith.muli %x, 2**k`` into ``arith.shli %x, k``."""

    def __init__(self, max_shift: int) -> None:
        self.max_shift = max_shift

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MuliOp, rewriter: PatternRewriter, /) -> None:
        const = op.rhs.owner
        if not isinstance(const, arith.ConstantOp) or not isinstance(const.value, IntegerAttr):
            return
        value = const.value.value.data
        if value <= 0 or value & (value - 1):
            return
        shift = value.bit_length() - 1
        if shift > self.max_shift:
            return
        assert isinstance(op.result.type, IntegerType)
        amount = arith.ConstantOp(IntegerAttr(shift, op.result.type))
        rewriter.replace(op, [amount, arith.ShLIOp(op.lhs, amount)])


@dataclass(frozen=True)
class HelloStrengthReducePass(ModulePass):
    """Replaces integer multiplications by a power of two with left shifts.

    Matches ``arith.muli`` whose right operand is an ``arith.constant`` 2**k
    with 0 < k <= max-shift; produces ``arith.shli`` by k. No pre-conditions.
    """

    name = "hello-strength-reduce"

    max_shift: int = 31
    """Largest shift amount to introduce, in bits (31 = any power of two fitting i32)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(MulByPowerOfTwoLowering(self.max_shift)).rewrite_module(op)


Hello = Dialect("hello", [TraceOp])

PASSES = [HelloStrengthReducePass]
DIALECTS = [Hello]
