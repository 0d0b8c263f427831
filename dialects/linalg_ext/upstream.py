"""Upstream MLIR ``linalg`` ops that xDSL 0.74 lacks or misreads, as mlir-opt-22 writes them.

``LINALG`` is xDSL's ``linalg`` dialect with these added (the tools' registry loads it,
``rusty_ir.registry``). Each op is upstream's, with the custom syntax mlir-opt prints and
its generic form; ``lower-upstream-linalg`` rewrites them into the ``linalg.generic``s
that ``form-dispatches`` groups into kernels.

- ``linalg.matmul``: upstream's (replacing xDSL's), also reading and printing ``indexing_maps = [...]`` (xDSL's
  parser failed on it and its printer dropped maps that were not the default).
- ``linalg.batch_matmul`` (``indexing_maps`` optional), ``linalg.matvec``.
- ``linalg.elementwise kind=#linalg.elementwise_kind<K> [indexing_maps = [...]]``.
- ``linalg.map`` (long form with a region, and mlir-opt's short form ``{ arith.addf }``).
- ``linalg.softmax dimension(D) ins(..) outs(..) -> T``.

Example (mlir-opt-22 prints each of these)::

    %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x16xf32>, tensor<2x16x12xf32>) outs(%c : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>
    %1 = linalg.elementwise kind=#linalg.elementwise_kind<exp> ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
    %2 = linalg.softmax dimension(1) ins(%s : tensor<8x16xf32>) outs(%s : tensor<8x16xf32>) -> tensor<8x16xf32>
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, cast

from xdsl.builder import Builder
from xdsl.dialects import arith, linalg, math
from xdsl.dialects.builtin import (
    I64,
    AffineMapAttr,
    AnyFloat,
    ArrayAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ShapedType,
    TensorType,
)
from xdsl.dialects.linalg.abstract_ops import NamedOperation
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.utils.enum_attribute import EnumAttribute
from xdsl.ir import Attribute, Block, BlockArgument, Dialect, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum


def _maps(*fns: Callable[..., tuple[object, ...]]) -> ArrayAttr[AffineMapAttr]:
    return ArrayAttr([AffineMapAttr(AffineMap.from_callable(f)) for f in fns])


class _MapsInFront(NamedOperation):
    """A named op whose custom form may start with ``indexing_maps = [...]`` (MLIR prints them when not the
    default), then an optional attribute dictionary, then ``ins(...) outs(...) -> T``."""

    PRINT_ATTRS_IN_FRONT: ClassVar[bool] = True
    DEFAULT_MAPS: ClassVar[ArrayAttr[AffineMapAttr]]

    @classmethod
    def parse(cls, parser: Parser):
        maps = None
        if parser.parse_optional_keyword("indexing_maps") is not None:
            parser.parse_punctuation("=")
            maps = parser.parse_attribute()
        op = super().parse(parser)
        if cls is not MatvecOp:  # upstream always holds the maps (printed in generic form), the default if not given
            op.properties["indexing_maps"] = maps if maps is not None else cls.DEFAULT_MAPS
        return op

    def print(self, printer: Printer) -> None:
        maps = self.properties.get("indexing_maps")
        if maps is not None and maps != self.DEFAULT_MAPS:
            printer.print_string(" indexing_maps = ")
            printer.print_attribute(maps)
        super().print(printer)

    def get_indexing_maps(self) -> ArrayAttr[AffineMapAttr]:
        maps = self.properties.get("indexing_maps")
        return maps if isinstance(maps, ArrayAttr) else self.DEFAULT_MAPS

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        return tuple(m.data for m in self.get_indexing_maps().data)

    @classmethod
    def get_hidden_region(cls, inputs: Sequence[SSAValue], outputs: Sequence[SSAValue]) -> Region:
        return _mac_region(cls.body_arg_types((*inputs, *outputs)))


def _mac_region(arg_types: Sequence[Attribute]) -> Region:
    """``out + lhs * rhs`` (float or integer)."""
    floats = not isinstance(arg_types[-1], IntegerType)
    add, mul = (arith.AddfOp, arith.MulfOp) if floats else (arith.AddiOp, arith.MuliOp)

    @Builder.implicit_region(arg_types)
    def region(args: tuple[BlockArgument, ...]) -> None:
        linalg.YieldOp(add(args[2], mul(args[0], args[1])))

    return region


@irdl_op_definition
class MatmulOp(_MapsInFront):
    """``C += A * B`` over 2-D operands (upstream ``linalg.matmul``); ``indexing_maps`` may transpose or broadcast
    operands, as upstream allows. Pipeline: tensor level input; ``lower-upstream-linalg`` makes it a generic.

    Example: ``%c = linalg.matmul indexing_maps = [#mk, #nk, #mn] ins(%a, %b : ...) outs(%c0 : ...) -> ...``"""

    name = "linalg.matmul"
    DEFAULT_MAPS: ClassVar[ArrayAttr[AffineMapAttr]] = _maps(lambda i, j, k: (i, k), lambda i, j, k: (k, j), lambda i, j, k: (i, j))
    indexing_maps = opt_prop_def(ArrayAttr[AffineMapAttr])

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return ArrayAttr([IteratorTypeAttr.parallel()] * 2 + [IteratorTypeAttr.reduction()])


@irdl_op_definition
class BatchMatmulOp(_MapsInFront):
    """``C[b] += A[b] * B[b]`` over 3-D operands (upstream ``linalg.batch_matmul``). Pipeline: tensor level input;
    ``lower-upstream-linalg`` unrolls the batch into 2-D contractions.

    Example: ``%c = linalg.batch_matmul ins(%a, %b : tensor<2x8x16xf32>, tensor<2x16x12xf32>) outs(%c0 : tensor<2x8x12xf32>) -> tensor<2x8x12xf32>``"""

    name = "linalg.batch_matmul"
    DEFAULT_MAPS: ClassVar[ArrayAttr[AffineMapAttr]] = _maps(
        lambda b, i, j, k: (b, i, k), lambda b, i, j, k: (b, k, j), lambda b, i, j, k: (b, i, j)
    )
    indexing_maps = opt_prop_def(ArrayAttr[AffineMapAttr])

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return ArrayAttr([IteratorTypeAttr.parallel()] * 3 + [IteratorTypeAttr.reduction()])


@irdl_op_definition
class MatvecOp(_MapsInFront):
    """``y[i] += A[i, k] * x[k]`` (upstream ``linalg.matvec``). Pipeline: tensor level input; lowered by
    ``lower-upstream-linalg``.

    Example: ``%y = linalg.matvec ins(%a, %x : tensor<12x16xf32>, tensor<16xf32>) outs(%y0 : tensor<12xf32>) -> tensor<12xf32>``"""

    name = "linalg.matvec"
    DEFAULT_MAPS: ClassVar[ArrayAttr[AffineMapAttr]] = _maps(lambda i, k: (i, k), lambda i, k: (k,), lambda i, k: (i,))

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return ArrayAttr([IteratorTypeAttr.parallel(), IteratorTypeAttr.reduction()])

    def print(self, printer: Printer) -> None:
        NamedOperation.print(self, printer)  # matvec has no indexing_maps property upstream


class ElementwiseKind(StrEnum):
    """Upstream's ``#linalg.elementwise_kind`` values."""

    EXP = "exp"
    LOG = "log"
    ABS = "abs"
    CEIL = "ceil"
    FLOOR = "floor"
    NEGF = "negf"
    RECIPROCAL = "reciprocal"
    ROUND = "round"
    SQRT = "sqrt"
    RSQRT = "rsqrt"
    SQUARE = "square"
    TANH = "tanh"
    ERF = "erf"
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    DIV_UNSIGNED = "div_unsigned"
    MAX_SIGNED = "max_signed"
    MIN_SIGNED = "min_signed"
    MAX_UNSIGNED = "max_unsigned"
    MIN_UNSIGNED = "min_unsigned"
    POWF = "powf"
    SELECT = "select"


@irdl_attr_definition
class ElementwiseKindAttr(EnumAttribute[ElementwiseKind]):
    """``#linalg.elementwise_kind<add>``: the function a ``linalg.elementwise`` applies."""

    name = "linalg.elementwise_kind"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ElementwiseKind:
        with parser.in_angle_brackets():
            return super().parse_parameter(parser)

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            super().print_parameter(printer)


_UNARY_F: dict[ElementwiseKind, Callable[[SSAValue], list[IRDLOperation]]] = {
    ElementwiseKind.EXP: lambda x: [math.ExpOp(x)],
    ElementwiseKind.LOG: lambda x: [math.LogOp(x)],
    ElementwiseKind.ABS: lambda x: [math.AbsFOp(x)],
    ElementwiseKind.CEIL: lambda x: [math.CeilOp(x)],
    ElementwiseKind.FLOOR: lambda x: [math.FloorOp(x)],
    ElementwiseKind.NEGF: lambda x: [arith.NegfOp(x)],
    ElementwiseKind.ROUND: lambda x: [math.RoundOp(x)],
    ElementwiseKind.SQRT: lambda x: [math.SqrtOp(x)],
    ElementwiseKind.RSQRT: lambda x: [math.RsqrtOp(x)],
    ElementwiseKind.SQUARE: lambda x: [arith.MulfOp(x, x)],
    ElementwiseKind.TANH: lambda x: [math.TanhOp(x)],
    ElementwiseKind.ERF: lambda x: [math.ErfOp(x)],
}
_BINARY_F: dict[ElementwiseKind, Callable[[SSAValue, SSAValue], IRDLOperation]] = {
    ElementwiseKind.ADD: arith.AddfOp,
    ElementwiseKind.SUB: arith.SubfOp,
    ElementwiseKind.MUL: arith.MulfOp,
    ElementwiseKind.DIV: arith.DivfOp,
    ElementwiseKind.MAX_SIGNED: arith.MaximumfOp,
    ElementwiseKind.MIN_SIGNED: arith.MinimumfOp,
    ElementwiseKind.POWF: math.PowFOp,
}
_BINARY_I: dict[ElementwiseKind, Callable[[SSAValue, SSAValue], IRDLOperation]] = {
    ElementwiseKind.ADD: arith.AddiOp,
    ElementwiseKind.SUB: arith.SubiOp,
    ElementwiseKind.MUL: arith.MuliOp,
    ElementwiseKind.DIV: arith.DivSIOp,
    ElementwiseKind.DIV_UNSIGNED: arith.DivUIOp,
    ElementwiseKind.MAX_SIGNED: arith.MaxSIOp,
    ElementwiseKind.MIN_SIGNED: arith.MinSIOp,
    ElementwiseKind.MAX_UNSIGNED: arith.MaxUIOp,
    ElementwiseKind.MIN_UNSIGNED: arith.MinUIOp,
}


def elementwise_body(kind: ElementwiseKind, arg_types: Sequence[Attribute]) -> Region | None:
    """The body upstream gives ``linalg.elementwise`` of ``kind`` over these element types, or None when the kind
    does not apply to them (an unsigned kind on floats, a float function on integers)."""
    ints = isinstance(arg_types[0], IntegerType)
    ops: list[IRDLOperation]
    block = Block(arg_types=arg_types)
    args = block.args
    if kind is ElementwiseKind.SELECT and len(args) == 4:
        ops = [arith.SelectOp(args[0], args[1], args[2])]
    elif kind is ElementwiseKind.RECIPROCAL and not ints and len(args) == 2:
        one = arith.ConstantOp(FloatAttr(1.0, cast(AnyFloat, arg_types[0])))
        ops = [one, arith.DivfOp(one.result, args[0])]
    elif kind in _UNARY_F and not ints and len(args) == 2:
        ops = _UNARY_F[kind](args[0])
    elif len(args) == 3 and kind in (_BINARY_I if ints else _BINARY_F):
        ops = [(_BINARY_I if ints else _BINARY_F)[kind](args[0], args[1])]
    else:
        return None
    block.add_ops([*ops, linalg.YieldOp(ops[-1].results[0])])
    return Region(block)


@irdl_op_definition
class ElementwiseOp(NamedOperation):
    """Upstream's ``linalg.elementwise``: ``kind`` applied to the inputs at each point of the output; the optional
    ``indexing_maps`` broadcast or transpose inputs (default: identities). Pipeline: tensor level input; lowered by
    ``lower-upstream-linalg``.

    Example: ``%r = linalg.elementwise kind=#linalg.elementwise_kind<add> ins(%a, %b : T, T) outs(%c : T) -> T``"""

    name = "linalg.elementwise"
    kind = prop_def(ElementwiseKindAttr)
    indexing_maps = opt_prop_def(ArrayAttr[AffineMapAttr])

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        maps = self.indexing_maps
        if maps is not None:
            return tuple(m.data for m in maps.data)
        out = self.outputs[0].type
        rank = len(out.get_shape()) if isinstance(out, ShapedType) else 0
        return (AffineMap.identity(rank),) * len(self.operands)

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return ArrayAttr([IteratorTypeAttr.parallel()] * self.get_num_loops())

    @classmethod
    def get_hidden_region(cls, inputs: Sequence[SSAValue], outputs: Sequence[SSAValue]) -> Region:
        raise NotImplementedError("linalg.elementwise's body depends on its kind: see elementwise_body")

    @classmethod
    def parse(cls, parser: Parser) -> ElementwiseOp:
        parser.parse_keyword("kind")
        parser.parse_punctuation("=")
        pos = parser.pos
        kind = parser.parse_attribute()
        if not isinstance(kind, ElementwiseKindAttr):
            parser.raise_error("expected #linalg.elementwise_kind<...>", pos, parser.pos)
        maps = None
        if parser.parse_optional_keyword("indexing_maps") is not None:
            parser.parse_punctuation("=")
            maps = parser.parse_attribute()
        ins, outs, res_types, attrs = _parse_ins_outs(parser)
        body = elementwise_body(kind.data, cls.body_arg_types((*ins, *outs)))
        if body is None:
            parser.raise_error(f"linalg.elementwise kind '{kind.data.value}' does not apply to these operands", pos)
        rank = len(outs[0].type.get_shape()) if outs and isinstance(outs[0].type, ShapedType) else 0
        identity = ArrayAttr([AffineMapAttr(AffineMap.identity(rank))] * (len(ins) + len(outs)))
        props: dict[str, Attribute] = {"kind": kind, "indexing_maps": maps if maps is not None else identity}
        return cls.build(operands=(ins, outs), result_types=(res_types,), properties=props, attributes=attrs, regions=(body,))

    def print(self, printer: Printer) -> None:
        printer.print_string(" kind=")
        printer.print_attribute(self.kind)
        identity = all(m.data == AffineMap.identity(m.data.num_dims) for m in (self.indexing_maps or ArrayAttr([])).data)
        if self.indexing_maps is not None and not identity:
            printer.print_string(" indexing_maps = ")
            printer.print_attribute(self.indexing_maps)
        _print_ins_outs(printer, self.inputs, self.outputs, {k: v for k, v in self.attributes.items()})
        if self.res:
            printer.print_string(" -> ")
            printer.print_list(self.res.types, printer.print_attribute)

    def verify_(self) -> None:
        if elementwise_body(self.kind.data, self.body_arg_types(self.operands)) is None:
            raise VerifyException(f"kind '{self.kind.data.value}' does not apply to {len(self.inputs)} operand(s) of these types")
        super().verify_()


def _parse_ins_outs(parser: Parser) -> tuple[list[SSAValue], list[SSAValue], list[Attribute], dict[str, Attribute]]:
    """``ins(%a, ... : T, ...) outs(%o, ... : T, ...) [{attrs}] [-> T, ...]``."""

    def operands(keyword: str) -> list[SSAValue]:
        if parser.parse_optional_keyword(keyword) is None:
            return []
        pos = parser.pos
        parser.parse_punctuation("(")
        names = parser.parse_comma_separated_list(Parser.Delimiter.NONE, parser.parse_unresolved_operand)
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(Parser.Delimiter.NONE, parser.parse_type)
        parser.parse_punctuation(")")
        return list(parser.resolve_operands(names, types, pos))

    ins, outs = operands("ins"), operands("outs")
    attrs = parser.parse_optional_attr_dict()
    res: list[Attribute] = []
    if parser.parse_optional_punctuation("->") is not None:
        res = parser.parse_optional_comma_separated_list(Parser.Delimiter.PAREN, parser.parse_type) or [parser.parse_type()]
    return ins, outs, res, attrs


def _print_ins_outs(printer: Printer, ins: Sequence[SSAValue], outs: Sequence[SSAValue], attrs: dict[str, Attribute]) -> None:
    for keyword, values in (("ins", ins), ("outs", outs)):
        if values:
            printer.print_string(f" {keyword}(")
            printer.print_list(values, printer.print_ssa_value)
            printer.print_string(" : ")
            printer.print_list([v.type for v in values], printer.print_attribute)
            printer.print_string(")")
    if attrs:
        printer.print_op_attributes(attrs)


@irdl_op_definition
class SoftmaxOp(IRDLOperation):
    """Upstream's ``linalg.softmax``: ``exp(x - max) / sum(exp(x - max))`` along ``dimension``. Pipeline: tensor level
    input; ``lower-upstream-linalg`` decomposes it (max, exp, sum, divide) as upstream's ``decomposeOperation`` does.

    Example: ``%s = linalg.softmax dimension(1) ins(%x : tensor<8x16xf32>) outs(%o : tensor<8x16xf32>) -> tensor<8x16xf32>``"""

    name = "linalg.softmax"
    input = operand_def(ShapedType)
    output = operand_def(ShapedType)
    result = var_result_def(TensorType)
    dimension = prop_def(IntegerAttr[I64])

    @classmethod
    def parse(cls, parser: Parser) -> SoftmaxOp:
        attrs = parser.parse_optional_attr_dict()
        parser.parse_keyword("dimension")
        parser.parse_punctuation("(")
        dim = parser.parse_integer()
        parser.parse_punctuation(")")
        ins, outs, res, more = _parse_ins_outs(parser)
        if len(ins) != 1 or len(outs) != 1:
            parser.raise_error("linalg.softmax takes one input and one output")
        return cls.build(operands=[ins[0], outs[0]], result_types=[res], properties={"dimension": IntegerAttr(dim, 64)},
                         attributes={**attrs, **more})  # fmt: skip

    def print(self, printer: Printer) -> None:
        if self.attributes:
            printer.print_op_attributes(self.attributes)
        printer.print_string(f" dimension({self.dimension.value.data})")
        _print_ins_outs(printer, [self.input], [self.output], {})
        if self.result:
            printer.print_string(" -> ")
            printer.print_list(self.result.types, printer.print_attribute)

    def verify_(self) -> None:
        ty = self.input.type
        assert isinstance(ty, ShapedType)
        if not 0 <= self.dimension.value.data < len(ty.get_shape()):
            raise VerifyException(f"dimension {self.dimension.value.data} is out of range for {ty}")
        if ty != self.output.type or any(r != ty for r in self.result.types):
            raise VerifyException("input, output and result must have the same type")


@irdl_op_definition
class MapOp(IRDLOperation):
    """Upstream's ``linalg.map``: the region (one argument per input, then the init's element) applied at every
    point; the inputs and init share one shape. Pipeline: tensor level input; lowered by ``lower-upstream-linalg``.

    Example: ``%m = linalg.map { arith.addf } ins(%a, %b : T, T) outs(%init : T)``, or with a region:
    ``linalg.map ins(%a : T) outs(%init : T) (%x: f32, %o: f32) { ... linalg.yield %y : f32 }``."""

    name = "linalg.map"
    inputs = var_operand_def(ShapedType)
    init = operand_def(ShapedType)
    result = var_result_def(TensorType)
    mapper = region_def("single_block")

    @classmethod
    def parse(cls, parser: Parser) -> MapOp:
        short: str | None = None
        short_attrs: dict[str, Attribute] = {}
        if parser.parse_optional_punctuation("{") is not None:
            short = parser.parse_identifier()
            short_attrs = parser.parse_optional_attr_dict()
            parser.parse_punctuation("}")
        ins, outs, _, attrs = _parse_ins_outs(parser)
        if len(outs) != 1:
            parser.raise_error("linalg.map takes one init (outs)")
        if short is None:
            args = parser.parse_comma_separated_list(Parser.Delimiter.PAREN, lambda: parser.parse_argument())
            region = parser.parse_region(args)
            attrs = {**attrs, **parser.parse_optional_attr_dict()}
        else:
            region = _short_region(parser, short, short_attrs, [*ins, *outs])
        init_type = outs[0].type
        result_types = [init_type] if isinstance(init_type, TensorType) else []
        return cls.build(operands=[ins, outs[0]], result_types=[result_types], attributes=attrs, regions=[region])

    def print(self, printer: Printer) -> None:
        _print_ins_outs(printer, self.inputs, [self.init], {})
        printer.print_string(" (")
        printer.print_list(self.mapper.block.args, printer.print_block_argument, delimiter=", ")
        printer.print_string(") ")
        printer.print_region(self.mapper, print_entry_block_args=False)
        if self.attributes:
            printer.print_op_attributes(self.attributes)

    def verify_(self) -> None:
        shapes = {tuple(v.type.get_shape()) for v in (*self.inputs, self.init) if isinstance(v.type, ShapedType)}
        if len(shapes) != 1:
            raise VerifyException("inputs and init must have the same shape")
        if len(self.mapper.block.args) != len(self.inputs) + 1:
            raise VerifyException(f"the region takes {len(self.inputs) + 1} arguments (inputs, then the init), "
                                  f"got {len(self.mapper.block.args)}")  # fmt: skip


def _short_region(parser: Parser, name: str, attrs: dict[str, Attribute], operands: Sequence[SSAValue]) -> Region:
    """mlir-opt's short form of ``linalg.map``'s region: ``{ op }`` applied to the inputs' elements (the init's
    element is an argument it does not read)."""
    types = [v.type.element_type if isinstance(v.type, TensorType | MemRefType) else v.type for v in operands]
    op_type = parser.ctx.get_optional_op(name)
    if op_type is None:
        parser.raise_error(f"unknown operation '{name}' in linalg.map's short form")
    block = Block(arg_types=types)
    props = {k: v for k, v in attrs.items() if k in op_type.get_irdl_definition().properties} if issubclass(op_type, IRDLOperation) else {}
    op = op_type.create(operands=block.args[:-1], result_types=[types[-1]], properties=props,
                        attributes={k: v for k, v in attrs.items() if k not in props})  # fmt: skip
    block.add_ops([op, linalg.YieldOp(*op.results)])
    return Region(block)


NEW_OPS = (BatchMatmulOp, ElementwiseOp, MapOp, MatmulOp, MatvecOp, SoftmaxOp)
"""The ops this module adds to (or replaces in) xDSL's ``linalg``."""

LINALG = Dialect(
    "linalg",
    [*(op for op in linalg.Linalg.operations if op.name not in {o.name for o in NEW_OPS}), *NEW_OPS],
    [*linalg.Linalg.attributes, ElementwiseKindAttr],
)
"""xDSL's ``linalg`` with upstream's ops it lacks (see the module docstring)."""

__all__ = ["LINALG", "NEW_OPS", "BatchMatmulOp", "ElementwiseKind", "ElementwiseKindAttr", "ElementwiseOp", "MapOp",
           "MatmulOp", "MatvecOp", "SoftmaxOp", "elementwise_body"]  # fmt: skip
