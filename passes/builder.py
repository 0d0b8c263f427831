"""A small IR builder for passes that write a lot of scalar code.

``IRBuilder`` inserts ops at one point and returns their results, so
``b.addf(b.mulf(x, y), acc)`` reads like the formula it builds. Constants are
cached per builder (one ``arith.constant`` per value and type).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import Builder
from xdsl.dialects import arith, math, scf
from xdsl.dialects.builtin import (
    Float32Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    i1,
    i32,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.rewriter import InsertPoint

INDEX = IndexType()
F32 = Float32Type()

_BINARY: dict[str, Callable[[SSAValue, SSAValue], Operation]] = {
    "addf": arith.AddfOp,
    "subf": arith.SubfOp,
    "mulf": arith.MulfOp,
    "divf": arith.DivfOp,
    "maximumf": arith.MaximumfOp,
    "minimumf": arith.MinimumfOp,
    "addi": arith.AddiOp,
    "subi": arith.SubiOp,
    "muli": arith.MuliOp,
    "divui": arith.DivUIOp,
    "divsi": arith.DivSIOp,
    "remui": arith.RemUIOp,
    "remsi": arith.RemSIOp,
    "andi": arith.AndIOp,
    "ori": arith.OrIOp,
    "xori": arith.XOrIOp,
    "shli": arith.ShLIOp,
    "shrui": arith.ShRUIOp,
    "shrsi": arith.ShRSIOp,
    "minui": arith.MinUIOp,
    "maxui": arith.MaxUIOp,
}

_UNARY: dict[str, Callable[[SSAValue], Operation]] = {
    "exp": math.ExpOp,
    "tanh": math.TanhOp,
    "rsqrt": math.RsqrtOp,
    "sqrt": math.SqrtOp,
    "cos": math.CosOp,
    "sin": math.SinOp,
    "absf": math.AbsFOp,
    "roundeven": math.RoundEvenOp,
    "negf": arith.NegfOp,
}


class IRBuilder:
    """Inserts ops at an insertion point; every method returns the new op's result."""

    def __init__(self, where: InsertPoint | Block) -> None:
        point = InsertPoint.at_end(where) if isinstance(where, Block) else where
        self.builder = Builder(point)
        self._constants: dict[tuple[object, Attribute], SSAValue] = {}

    # --- plumbing -----------------------------------------------------------------------------
    def insert(self, op: Operation) -> Operation:
        return self.builder.insert(op)

    def value(self, op: Operation) -> SSAValue:
        """Insert ``op`` and return its only result."""
        self.insert(op)
        (result,) = op.results
        return result

    def at(self, where: InsertPoint | Block) -> IRBuilder:
        """A builder at another point that shares nothing (constants are per point)."""
        return IRBuilder(where)

    # --- constants ------------------------------------------------------------------------------
    def const(self, value: int | float, type: Attribute) -> SSAValue:
        key = (value, type)
        if key not in self._constants:
            if isinstance(type, Float32Type):
                attr: FloatAttr | IntegerAttr = FloatAttr(float(value), type)
            else:
                assert isinstance(type, IntegerType | IndexType), f"a constant of type {type}: f32, an integer or index"
                attr = IntegerAttr(int(value), type)
            self._constants[key] = self.value(arith.ConstantOp(attr))
        return self._constants[key]

    def index(self, value: int) -> SSAValue:
        return self.const(value, INDEX)

    def i32(self, value: int) -> SSAValue:
        return self.const(value, i32)

    def f32(self, value: float) -> SSAValue:
        return self.const(float(value), F32)

    # --- arithmetic -----------------------------------------------------------------------------
    def binary(self, name: str, lhs: SSAValue, rhs: SSAValue) -> SSAValue:
        return self.value(_BINARY[name](lhs, rhs))

    def unary(self, name: str, x: SSAValue) -> SSAValue:
        return self.value(_UNARY[name](x))

    def __getattr__(self, name: str) -> Callable[..., SSAValue]:
        if name in _BINARY:
            return lambda lhs, rhs: self.binary(name, lhs, rhs)
        if name in _UNARY:
            return lambda x: self.unary(name, x)
        raise AttributeError(name)

    def cmpi(self, pred: str, lhs: SSAValue, rhs: SSAValue) -> SSAValue:
        return self.value(arith.CmpiOp(lhs, rhs, pred))

    def cmpf(self, pred: str, lhs: SSAValue, rhs: SSAValue) -> SSAValue:
        return self.value(arith.CmpfOp(lhs, rhs, pred))

    def select(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(arith.SelectOp(cond, a, b))

    def powf(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(math.PowFOp(a, b))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        return self.addf(self.mulf(a, b), c)

    def ceildiv(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.value(arith.CeilDivUIOp(a, b))

    def product(self, values: Sequence[SSAValue]) -> SSAValue:
        """The index product of ``values`` (1 for none)."""
        if not values:
            return self.index(1)
        total = values[0]
        for v in values[1:]:
            total = self.muli(total, v)
        return total

    # --- casts ----------------------------------------------------------------------------------
    def index_cast(self, x: SSAValue, to: Attribute) -> SSAValue:
        return x if x.type == to else self.value(arith.IndexCastOp(x, to))

    def to_index(self, x: SSAValue) -> SSAValue:
        return self.index_cast(x, INDEX)

    def to_f32(self, x: SSAValue) -> SSAValue:
        """Any int (as unsigned for i32 words and index) or float as f32."""
        if isinstance(x.type, Float32Type):
            return x
        if isinstance(x.type, IndexType):
            x = self.index_cast(x, i32)
        if isinstance(x.type, IntegerType):
            return self.value(arith.UIToFPOp(x, F32))
        return self.value(arith.ExtFOp(x, F32))

    def sitofp(self, x: SSAValue) -> SSAValue:
        return self.value(arith.SIToFPOp(x, F32))

    # --- control flow ---------------------------------------------------------------------------
    def for_loop(
        self,
        lower: SSAValue,
        upper: SSAValue,
        step: SSAValue,
        inits: Sequence[SSAValue],
        body: Callable[[IRBuilder, SSAValue, Sequence[SSAValue]], Sequence[SSAValue]],
    ) -> Sequence[SSAValue]:
        """``scf.for`` whose body is built by ``body(builder, iv, carried) -> yielded``."""
        block = Block(arg_types=[INDEX, *(v.type for v in inits)])
        inner = IRBuilder(block)
        yielded = body(inner, block.args[0], block.args[1:])
        inner.insert(scf.YieldOp(*yielded))
        loop = scf.ForOp(lower, upper, step, inits, block)
        self.insert(loop)
        return loop.results

    def if_then(
        self,
        cond: SSAValue,
        then: Callable[[IRBuilder], Sequence[SSAValue]],
        otherwise: Callable[[IRBuilder], Sequence[SSAValue]] | None = None,
        result_types: Sequence[Attribute] = (),
    ) -> Sequence[SSAValue]:
        """``scf.if``; without ``otherwise`` it has no results."""
        then_block = Block()
        then_b = IRBuilder(then_block)
        then_b.insert(scf.YieldOp(*then(then_b)))
        else_block = Block()
        if otherwise is not None:
            else_b = IRBuilder(else_block)
            else_b.insert(scf.YieldOp(*otherwise(else_b)))
        else:
            IRBuilder(else_block).insert(scf.YieldOp())
        op = scf.IfOp(cond, result_types, [then_block], [else_block])
        self.insert(op)
        return op.results

    def when(self, cond: SSAValue, then: Callable[[IRBuilder], None]) -> None:
        """``scf.if`` without results or else branch: ``then`` writes ops for their effect only (stores)."""

        def then_yields_nothing(b: IRBuilder) -> list[SSAValue]:
            then(b)
            return []

        self.if_then(cond, then_yields_nothing)


__all__ = ["F32", "INDEX", "IRBuilder", "i1"]
