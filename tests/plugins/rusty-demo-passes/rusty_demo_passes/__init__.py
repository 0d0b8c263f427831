"""rusty-demo-passes: a rusty-ir plugin with one pass on the transformer level and one on the kernels.

rusty-ir reads ``PASSES`` (``ModulePass`` subclasses) and ``DIALECTS`` (xDSL ``Dialect``s) from the module
that the package's ``rusty_ir.plugins`` entry point names (pyproject.toml). Installed, its passes join every
tool: ``rusty-opt -p demo-clamp-epsilon``, and the compile pipeline of ``rusty compile`` and ``rusty run``::

    rusty compile -o out --insert-after target=demo-clamp-epsilon{min=1e-5} --insert-after gpu=demo-reciprocal-div

docs/plugins.md is the tutorial that builds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func, gpu
from xdsl.dialects.builtin import Float16Type, Float32Type, FloatAttr, ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from rusty_ir.diagnostics import emit_remark
from rusty_ir.dialects.transformer import RmsNormOp
from rusty_ir.errors import RustyError

# --- a transformer-level pass ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClampEpsilonPass(ModulePass):
    """Raises the epsilon of every tfm.rms_norm to at least min.

    Runs on the transformer level (before the stage 'tensor'). Each function whose norms it changes gets one
    remark saying how many.
    """

    name = "demo-clamp-epsilon"

    min: float = 1e-5
    """The smallest epsilon to leave (a norm with a larger one keeps it)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.min >= 0:  # not a located error: the option is wrong, not the IR
            raise RustyError(f"demo-clamp-epsilon: min must be a non-negative number, got {self.min}")
        for function in op.walk():
            if not isinstance(function, func.FuncOp):
                continue
            norms = [n for n in function.walk() if isinstance(n, RmsNormOp) and n.epsilon.value.data < self.min]
            for norm in norms:
                norm.epsilon = FloatAttr(self.min, norm.epsilon.type)
            if norms:
                emit_remark(function, f"raised the epsilon of {len(norms)} rms_norm ops to {self.min}")


# --- a kernel-level pass -----------------------------------------------------------------------------

_NUMPY = {Float32Type: np.float32, Float16Type: np.float16}


class DivideByPowerOfTwo(RewritePattern):
    """``arith.divf %x, C`` with C a power of two becomes ``arith.mulf %x, 1/C``: the same value, exactly.

    A division by the constant 0 is an error at the op (the kernels would compute inf or NaN).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: arith.DivfOp, rewriter: PatternRewriter, /) -> None:
        const = op.rhs.owner
        if not isinstance(const, arith.ConstantOp) or not isinstance(const.value, FloatAttr):
            return  # not a scalar constant (a vector splat is left alone)
        value = const.value.value.data
        if value == 0:
            raise RustyError("division by the constant 0: the kernel would compute inf or NaN", op,
                             notes=[("the constant is defined here", const)])  # fmt: skip
        mantissa, _ = math.frexp(abs(value))
        to_numpy = _NUMPY.get(type(op.result.type))
        if mantissa != 0.5 or to_numpy is None:
            return  # not a power of two, or not f32/f16: the reciprocal would round
        reciprocal = 1.0 / value
        if not math.isfinite(reciprocal) or float(to_numpy(reciprocal)) != reciprocal:
            return  # 1/C is past the type's range
        factor = arith.ConstantOp(FloatAttr(reciprocal, op.result.type))
        rewriter.replace_op(op, [factor, arith.MulfOp(op.lhs, factor, op.fastmath)])


@dataclass(frozen=True)
class ReciprocalDivPass(ModulePass):
    """Replaces divisions by a power-of-two constant in kernels with multiplications by its reciprocal.

    Runs on the gpu level (after the stage 'gpu'): rewrites the ``gpu.func`` bodies inside ``gpu.module``
    ops, not the host code. Exact in f32 and f16: x / 2**k and x * 2**-k round alike. A division by the
    constant 0 is an error located at the division.
    """

    name = "demo-reciprocal-div"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for kernels in op.walk():
            if isinstance(kernels, gpu.ModuleOp):
                PatternRewriteWalker(DivideByPowerOfTwo()).rewrite_region(kernels.body)


PASSES = [ClampEpsilonPass, ReciprocalDivPass]
