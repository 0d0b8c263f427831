"""A test plugin for lit_tests/tools/verify-each-numerically.mlir: ``test-miscompile`` turns every ``arith.mulf``
into ``arith.addf`` (a wrong rewrite, as a pattern), which ``--verify-each-numerically`` must name."""

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern


class MulToAdd(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.MulfOp, rewriter: PatternRewriter, /) -> None:
        rewriter.replace(op, arith.AddfOp(op.lhs, op.rhs))


@dataclass(frozen=True)
class TestMiscompile(ModulePass):
    """Turns arith.mulf into arith.addf: a miscompilation for --verify-each-numerically to find."""

    name = "test-miscompile"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(MulToAdd()).rewrite_module(op)


PASSES = [TestMiscompile]
