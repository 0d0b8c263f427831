"""Ops of the ``tiled`` dialect: kernels as explicit schedules on buffers.

A kernel body runs once per invocation (SIMT, as ``gpu.func``). The schedule
is written with four ops that later passes lower one at a time:

- ``tiled.forall``: a loop nest distributed over the grid's workgroups or over
  a workgroup's invocations (``distribute-to-gpu-ids``);
- ``tiled.promote``: a tile of values computed into workgroup memory by all
  invocations together, optionally software-pipelined across the enclosing
  loop (``promote-to-workgroup-memory``);
- ``tiled.contract_tile``: the register micro-kernel of a tiled contraction
  (``vectorize``);
- ``tiled.reduce``: a reduction across groups of invocations
  (``reduction-to-subgroup``).

``tiled.promote`` and ``tiled.reduce`` are collective: every invocation of the
workgroup must reach them (uniform control flow), as for ``gpu.barrier``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    DenseArrayBase,
    Float16Type,
    Float32Type,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StringAttr,
    UnitAttr,
    VectorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.narrow import type_of

WORKGROUP_SPACE = 3
"""Memory space of workgroup memory (MLIR's ``#gpu.address_space<workgroup>``)."""
MAX_WORKGROUP_INVOCATIONS = 1024
"""The most invocations a workgroup may have on any target (Vulkan, Metal and D3D12 all stop at 1024)."""


@irdl_op_definition
class KernelOp(IRDLOperation):
    """One GPU kernel with its launch grid, on buffers.

    Semantics: launches ``grid`` workgroups of ``workgroup_size`` invocations;
    each runs ``body`` with the kernel's arguments. ``grid`` runs on the host
    over the same arguments and yields the three workgroup counts (index).
    Arguments are memrefs (bound as storage buffers; a quantized weight is
    bound as its raw 32-bit words, so a block argument may be ``memref<Nxi32>``
    where the operand has a ``!rquant`` element type of the same byte size) and
    index scalars (the step's symbols, passed in a uniform block).

    Pipeline: made by ``convert-dispatch-to-tiled``; outlined by
    ``convert-tiled-to-gpu``.

    Example:
        tiled.kernel "scale"(%x, %y, %n) {workgroup_size = array<i64: 64, 1, 1>} : memref<?xf32>, memref<?xf32>, index grid {
        ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %m: index):
          ...
          tiled.yield %gx, %c1, %c1 : index, index, index
        } body {
        ^bb0(%a: memref<?xf32>, %b: memref<?xf32>, %m: index):
          ...
          tiled.yield
        }
    """

    name = "tiled.kernel"

    label = prop_def(StringAttr)
    workgroup_size = prop_def(DenseArrayBase)
    args = var_operand_def()
    grid = region_def("single_block")
    body = region_def("single_block")

    traits = traits_def(IsolatedFromAbove())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$label `(` $args `)` attr-dict `:` type($args) `grid` $grid `body` $body"

    def __init__(self, label: str, args: Sequence[SSAValue], workgroup_size: Sequence[int], grid: Block, body: Block) -> None:
        super().__init__(
            operands=[args],
            properties={"label": StringAttr(label), "workgroup_size": DenseArrayBase.from_list(i64, list(workgroup_size))},
            regions=[Region(grid), Region(body)],
        )

    @property
    def workgroup(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.workgroup_size.get_values())

    @property
    def threads(self) -> int:
        x, y, z = self.workgroup
        return x * y * z

    def verify_(self) -> None:
        if len(self.workgroup) != 3 or min(self.workgroup) <= 0:
            raise VerifyException("workgroup_size must be three positive sizes")
        if math.prod(self.workgroup) > MAX_WORKGROUP_INVOCATIONS:
            raise VerifyException(
                f"workgroup_size {list(self.workgroup)} has more than {MAX_WORKGROUP_INVOCATIONS} invocations "
                "(no GPU runs a larger workgroup)"
            )
        for which, region in (("grid", self.grid), ("body", self.body)):
            args = region.block.args
            if len(args) != len(self.args):
                raise VerifyException(f"{which} must take one block argument per kernel argument")
            for operand, arg in zip(self.args, args):
                if not _binds(operand.type, arg.type):
                    raise VerifyException(f"{which} argument type {arg.type} cannot bind operand of type {operand.type}")
        grid_yield = self.grid.block.last_op
        if (
            not isinstance(grid_yield, YieldOp)
            or len(grid_yield.values) != 3
            or any(not isinstance(v.type, IndexType) for v in grid_yield.values)
        ):
            raise VerifyException("grid must end with tiled.yield of three index values")
        body_yield = self.body.block.last_op
        if not isinstance(body_yield, YieldOp) or body_yield.values:
            raise VerifyException("body must end with an empty tiled.yield")


def _binds(operand: Attribute, arg: Attribute) -> bool:
    """Same type, or a memref bound as its raw words: a stored weight as ``memref<Nxi32>`` (or its f16
    scales as ``memref<Nxf16>``), a q8_0 KV cache as rows of words ``memref<?xRxi32>``."""
    if operand == arg:
        return True
    if not (isinstance(operand, MemRefType) and isinstance(arg, MemRefType) and isinstance(arg.element_type, type(i32) | Float16Type)):
        return False
    if isinstance(arg.element_type, Float16Type) and not isinstance(operand.element_type, BlockQuantType | Float16Type):
        return False  # halves are a quantized weight's scales (or an f16 weight), never a float buffer reinterpreted
    shape = arg.get_shape()
    return len(shape) == 1 or (len(shape) == 2 and shape[0] == DYNAMIC_INDEX and operand.get_shape()[0] == DYNAMIC_INDEX)


MAPPINGS = ("workgroup", "invocation")
"""What a ``tiled.forall`` is distributed over."""


@irdl_op_definition
class ForallOp(IRDLOperation):
    """A parallel loop nest distributed over workgroups or over the invocations of a workgroup.

    Semantics: the body runs once for every point ``(i0, ..., in)`` of
    ``[0, ub0) x ... x [0, ubn)``, in no particular order.

    - ``workgroup``: point ``p`` runs on workgroup ``p`` of the kernel's grid
      (dims are grid x, y, z; at most three). The kernel's grid must be the
      iteration space: ``convert-dispatch-to-tiled`` builds both.
    - ``invocation``: the points, linearized row-major, are dealt to the
      workgroup's invocations by their linear index: one each when there are as
      many (then every invocation runs the body, which may hold collective ops),
      a guard when there are fewer, a strided loop when there are more.

    Pipeline: made by ``convert-dispatch-to-tiled``; ``distribute-to-gpu-ids``
    turns it into ``gpu.block_id``/``gpu.thread_id`` arithmetic, guards and loops.

    Example:
        tiled.forall (%row, %lane) in (%c4, %c32) invocation {
          ...
          tiled.yield
        }
    """

    name = "tiled.forall"

    upper_bounds = var_operand_def(IndexType)
    mapping = prop_def(StringAttr)
    body = region_def("single_block")

    def __init__(self, upper_bounds: Sequence[SSAValue], mapping: str, body: Block) -> None:
        super().__init__(operands=[upper_bounds], properties={"mapping": StringAttr(mapping)}, regions=[Region(body)])

    @property
    def ivs(self) -> tuple[SSAValue, ...]:
        return tuple(self.body.block.args)

    def verify_(self) -> None:
        if self.mapping.data not in MAPPINGS:
            raise VerifyException(f"mapping must be one of {', '.join(MAPPINGS)}, got '{self.mapping.data}'")
        block = self.body.block
        if len(block.args) != len(self.upper_bounds) or not block.args or any(not isinstance(a.type, IndexType) for a in block.args):
            raise VerifyException("the body takes one index argument per upper bound (at least one)")
        if self.mapping.data == "workgroup" and len(block.args) > 3:
            raise VerifyException("a workgroup forall has at most three dims (grid x, y, z)")
        term = block.last_op
        if not isinstance(term, YieldOp) or term.values:
            raise VerifyException("the body must end with an empty tiled.yield")

    @classmethod
    def parse(cls, parser: Parser) -> ForallOp:
        ivs = parser.parse_comma_separated_list(parser.Delimiter.PAREN, lambda: parser.parse_argument(expect_type=False))
        parser.parse_keyword("in")
        bounds = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_unresolved_operand)
        pos = parser.pos
        mapping = parser.parse_identifier("expected a mapping: workgroup or invocation")
        if mapping not in MAPPINGS:
            parser.raise_error(f"mapping must be one of {', '.join(MAPPINGS)}", pos, parser.pos)
        attrs = parser.parse_optional_attr_dict_with_keyword()
        index = IndexType()
        region = parser.parse_region([a.resolve(index) for a in ivs])
        op = cls([parser.resolve_operand(b, index) for b in bounds], mapping, Block())
        op.body.detach_block(0)
        op.body.add_block(region.detach_block(0))
        if attrs is not None:
            op.attributes.update(attrs.data)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" (")
        printer.print_list(self.body.block.args, lambda a: printer.print_block_argument(a, print_type=False))
        printer.print_string(") in (")
        printer.print_list(self.upper_bounds, printer.print_operand)
        printer.print_string(f") {self.mapping.data}")
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)


REDUCTIONS = ("add", "max", "min", "argmax")
"""Combining kinds of ``tiled.reduce``; ``argmax`` takes (value, index) pairs."""


@irdl_op_definition
class ReduceOp(IRDLOperation):
    """Combines values across each group of ``width`` consecutive invocations; every member gets the result.

    Semantics: the workgroup's invocations (by linear index) form groups of
    ``width``; result ``k`` of every invocation of a group is the combination of
    operand ``k`` over the group's invocations (``add``, ``max``, ``min``; float
    sums in an unspecified order). ``argmax`` takes two operands, a value and
    an i32 index, and gives the largest value and the smallest index holding it.
    Collective: every invocation of the workgroup must reach it. ``width`` is a
    power of two dividing the workgroup size.

    Pipeline: made by ``convert-dispatch-to-tiled``; ``reduction-to-subgroup``
    lowers it to subgroup operations where the target's subgroup width allows,
    to a tree in workgroup memory otherwise.

    Example: ``%s, %q = tiled.reduce add %partial, %squares width 32 : f32, f32``
    """

    name = "tiled.reduce"

    kind = prop_def(StringAttr)
    width = prop_def(IntegerAttr[I64])
    values = var_operand_def()
    results_ = var_result_def()

    def __init__(self, kind: str, values: Sequence[SSAValue], width: int) -> None:
        super().__init__(
            operands=[values],
            result_types=[[v.type for v in values]],
            properties={"kind": StringAttr(kind), "width": IntegerAttr(width, i64)},
        )

    def verify_(self) -> None:
        kind, width = self.kind.data, self.width.value.data
        if kind not in REDUCTIONS:
            raise VerifyException(f"kind must be one of {', '.join(REDUCTIONS)}, got '{kind}'")
        if width < 1 or width & (width - 1):
            raise VerifyException(f"width must be a power of two, got {width}")
        if not self.values:
            raise VerifyException("nothing to reduce")
        if kind == "argmax" and (len(self.values) != 2 or self.values[0].type != Float32Type() or self.values[1].type != i32):
            raise VerifyException("argmax reduces one (f32 value, i32 index) pair")
        if kind != "argmax" and any(not isinstance(v.type, Float32Type | Float16Type) for v in self.values):
            raise VerifyException(f"{kind} reduces f32 or f16 values")
        if [r.type for r in self.results_] != [v.type for v in self.values]:
            raise VerifyException("results must have the operands' types")

    @classmethod
    def parse(cls, parser: Parser) -> ReduceOp:
        kind = parser.parse_identifier("expected a reduction kind")
        operands = parser.parse_comma_separated_list(parser.Delimiter.NONE, parser.parse_unresolved_operand)
        parser.parse_keyword("width")
        width = parser.parse_integer(allow_boolean=False)
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(parser.Delimiter.NONE, parser.parse_type)
        if len(types) != len(operands):
            parser.raise_error(f"expected {len(operands)} types")
        return cls(kind, [parser.resolve_operand(o, t) for o, t in zip(operands, types)], width)

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.kind.data} ")
        printer.print_list(self.values, printer.print_operand)
        printer.print_string(f" width {self.width.value.data} : ")
        printer.print_list([v.type for v in self.values], printer.print_attribute)


@irdl_op_definition
class PromoteOp(IRDLOperation):
    """A tile of values, computed by the workgroup's invocations together, in a new workgroup-memory buffer.

    Semantics: the tile ``[0, shape0) x ... x [0, shapeN)`` is cut into units of
    ``unit`` consecutive points along the last dim. For every unit the body
    computes its values: its block arguments are the unit's coordinates (the
    last one counts units) and it yields ``unit`` values, those of points
    ``(p0, ..., unit * p_last + c)`` for c = 0, 1, .... The result buffer holds
    each value at its point permuted by ``permutation`` (``[1, 0]`` stores a
    tile transposed), converted to the buffer's element type (f32 or f16; an i32 buffer holds i32 values as they are).
    Collective: every invocation of the workgroup must reach it; afterwards
    every invocation may read the whole buffer. Units are dealt to invocations
    by linear index in the order of ``deal`` (unit dims from slowest to
    fastest; default row-major). Inside an ``scf.for`` whose iterations each
    promote a new tile, ``depth = 2`` asks for software pipelining: the next
    iteration's values are loaded before this iteration's uses of the buffer.

    Pipeline: made by ``convert-dispatch-to-tiled``; lowered by
    ``promote-to-workgroup-memory`` into a ``memref.alloca`` in memory space 3,
    a cooperative copy and barriers.

    Example:
        %a = tiled.promote (%m, %kq) in [64, 32] attributes {permutation = array<i64: 1, 0>, unit = 4 : i64,
                                                            depth = 2 : i64} : memref<32x64xf16, 3> {
          %k = arith.muli %kq, %c4 : index
          ...
          tiled.yield %v0, %v1, %v2, %v3 : f32, f32, f32, f32
        }
    """

    name = "tiled.promote"

    shape = prop_def(DenseArrayBase)
    permutation = prop_def(DenseArrayBase)
    depth = prop_def(IntegerAttr)
    unit = prop_def(IntegerAttr)
    result = result_def(MemRefType)
    body = region_def("single_block")

    def __init__(self, shape: Sequence[int], result_type: MemRefType, body: Block, permutation: Sequence[int] | None = None,
                 depth: int = 1, unit: int = 1, deal: Sequence[int] | None = None) -> None:  # fmt: skip
        perm = list(permutation) if permutation is not None else list(range(len(shape)))
        super().__init__(
            properties={
                "shape": DenseArrayBase.from_list(i64, list(shape)),
                "permutation": DenseArrayBase.from_list(i64, perm),
                "depth": IntegerAttr(depth, i64),
                "unit": IntegerAttr(unit, i64),
            },
            result_types=[result_type],
            regions=[Region(body)],
        )
        if deal is not None:
            self.attributes["deal"] = DenseArrayBase.from_list(i64, list(deal))

    @property
    def tile(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.shape.get_values())

    @property
    def perm(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.permutation.get_values())

    @property
    def unit_size(self) -> int:
        return self.unit.value.data

    @property
    def deal_order(self) -> tuple[int, ...]:
        attr = self.attributes.get("deal")
        return tuple(int(v) for v in attr.get_values()) if isinstance(attr, DenseArrayBase) else tuple(range(len(self.tile)))

    def verify_(self) -> None:
        tile, perm = self.tile, self.perm
        if not tile or min(tile) <= 0:
            raise VerifyException("shape must be positive sizes")
        if sorted(perm) != list(range(len(tile))):
            raise VerifyException(f"permutation {list(perm)} is not a permutation of {len(tile)} dims")
        ty = self.result.type
        assert isinstance(ty, MemRefType)
        if tuple(ty.get_shape()) != tuple(tile[p] for p in perm):
            raise VerifyException(f"result shape {list(ty.get_shape())} must be the tile {list(tile)} permuted by {list(perm)}")
        space = ty.memory_space
        if not (isinstance(space, IntegerAttr) and space.value.data == WORKGROUP_SPACE):
            raise VerifyException("the result must be in workgroup memory (memory space 3)")
        integer = ty.element_type == i32
        if not (integer or isinstance(ty.element_type, Float32Type | Float16Type)):
            raise VerifyException("the result holds f32, f16 or i32")
        if self.depth.value.data not in (1, 2):
            raise VerifyException("depth must be 1 or 2")
        unit = self.unit_size
        if unit <= 0 or tile[-1] % unit:
            raise VerifyException(f"unit {unit} must divide the last tile dim {tile[-1]}")
        if sorted(self.deal_order) != list(range(len(tile))):
            raise VerifyException(f"deal {list(self.deal_order)} is not a permutation of {len(tile)} dims")
        block = self.body.block
        if len(block.args) != len(tile) or any(not isinstance(a.type, IndexType) for a in block.args):
            raise VerifyException("the body takes one index argument per tile dim")
        term = block.last_op
        kinds = "i32" if integer else "f32 or f16"
        ok = (lambda t: t == i32) if integer else (lambda t: isinstance(t, Float32Type | Float16Type))
        if not isinstance(term, YieldOp) or len(term.values) != unit or any(not ok(v.type) for v in term.values):
            raise VerifyException(f"the body must end with tiled.yield of {unit} {kinds} values (one per point of a unit)")

    @classmethod
    def parse(cls, parser: Parser) -> PromoteOp:
        points = parser.parse_comma_separated_list(parser.Delimiter.PAREN, lambda: parser.parse_argument(expect_type=False))
        parser.parse_keyword("in")
        shape = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, lambda: parser.parse_integer(allow_boolean=False))
        attrs = parser.parse_optional_attr_dict_with_keyword()
        parser.parse_punctuation(":")
        result_type = parser.parse_type()
        if not isinstance(result_type, MemRefType):
            parser.raise_error("the result of tiled.promote is a memref")
        region = parser.parse_region([a.resolve(IndexType()) for a in points])
        extra = dict(attrs.data) if attrs is not None else {}
        perm = extra.pop("permutation", None)
        depth = extra.pop("depth", None)
        unit = extra.pop("unit", None)
        op = cls(
            shape,
            result_type,
            region.detach_block(0),
            [int(v) for v in perm.get_values()] if isinstance(perm, DenseArrayBase) else None,
            depth.value.data if isinstance(depth, IntegerAttr) else 1,
            unit.value.data if isinstance(unit, IntegerAttr) else 1,
        )
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" (")
        printer.print_list(self.body.block.args, lambda a: printer.print_block_argument(a, print_type=False))
        printer.print_string(") in [" + ", ".join(map(str, self.tile)) + "]")
        shown: dict[str, Attribute] = dict(self.attributes)
        if self.perm != tuple(range(len(self.tile))):
            shown["permutation"] = self.permutation
        if self.depth.value.data != 1:
            shown["depth"] = self.depth
        if self.unit_size != 1:
            shown["unit"] = self.unit
        printer.print_op_attributes(shown, print_keyword=True)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False)


@irdl_op_definition
class ContractTileOp(IRDLOperation):
    """The register micro-kernel of a tiled contraction: an invocation's accumulators += its slice of A x B.

    Semantics: ``a`` is ``[K, M']`` and ``b`` is ``[K, N']`` (workgroup-memory
    tiles, K first). The invocation owns ``rows`` rows ``m_i = a_offset +
    (i / 4) * a_stride + i % 4`` and ``columns`` columns ``n_j = b_offset +
    (j / 4) * b_stride + j % 4``; accumulator ``i * columns / 4 + j / 4`` is a
    ``vector<4xf32>`` holding columns ``4 (j / 4) .. + 3`` of row ``i``. For
    ``kk`` in ``[0, k)``: ``acc[m_i, n_j] += a[kk, m_i] * b[kk, n_j]``. With
    f16 tiles the products and their sums over the op's ``k`` values are f16,
    added to the f32 accumulators at the end (packed f16 arithmetic, f32
    accumulation across steps), unless ``wide`` is set: then the f16 values
    are widened as they are loaded and multiplied and summed in f32 (f16 tiles
    for memory, f32 arithmetic: attention scores). ``rows`` and ``columns``
    are multiples of 4.

    With ``block_words = W`` the tiles are i32 and hold blocks of 8-bit codes
    (``math = dp4a``): ``k`` is ``blocks * (W + 2)`` rows, each block ``W``
    words of four signed bytes, then two rows of f32 bits. For A those are the
    row's activation scale ``d`` and ``d * sum a`` (the sum of its int8
    values), for B the column's weight ``scale`` and ``offset``. Per block:
    ``acc[m, n] += d_m * (scale_n * dot + offset_n * sum_m)`` with ``dot =
    sum_w dot4_i8(a[w, m], b[w, n])``, exact in i32.

    Pipeline: made by ``convert-dispatch-to-tiled`` (``gemm`` strategy);
    ``vectorize`` expands it into vector loads and ``vector.fma``s.

    Example:
        %r:16 = tiled.contract_tile %a[%ao], %b[%bo], %acc#0, ... {k = 32, rows = 8, columns = 8, a_stride = 32, b_stride = 64}
            : memref<32x64xf16, 3>, memref<32x128xf16, 3>, vector<4xf32>, ... -> vector<4xf32>, ...
    """

    name = "tiled.contract_tile"

    a = operand_def(MemRefType)
    b = operand_def(MemRefType)
    a_offset = operand_def(IndexType)
    b_offset = operand_def(IndexType)
    accumulators = var_operand_def(VectorType)
    k = prop_def(IntegerAttr[I64])
    rows = prop_def(IntegerAttr[I64])
    columns = prop_def(IntegerAttr[I64])
    a_stride = prop_def(IntegerAttr[I64])
    b_stride = prop_def(IntegerAttr[I64])
    wide = opt_prop_def(UnitAttr)
    block_words = opt_prop_def(IntegerAttr[I64])
    results_ = var_result_def(VectorType)

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$a `[` $a_offset `]` `,` $b `[` $b_offset `]` `,` $accumulators attr-dict `:` type($a) `,` type($b) `,` type($accumulators) `->` type($results_)"

    def __init__(self, a: SSAValue, a_offset: SSAValue, b: SSAValue, b_offset: SSAValue, accumulators: Sequence[SSAValue],
                 k: int, rows: int, columns: int, a_stride: int, b_stride: int, wide: bool = False, block_words: int = 0) -> None:  # fmt: skip
        properties: dict[str, Attribute] = {"k": IntegerAttr(k, i64), "rows": IntegerAttr(rows, i64), "columns": IntegerAttr(columns, i64),
                                            "a_stride": IntegerAttr(a_stride, i64), "b_stride": IntegerAttr(b_stride, i64)}  # fmt: skip
        if wide:
            properties["wide"] = UnitAttr()
        if block_words:
            properties["block_words"] = IntegerAttr(block_words, i64)
        super().__init__(operands=[a, b, a_offset, b_offset, accumulators], result_types=[[acc.type for acc in accumulators]],
                         properties=properties)  # fmt: skip

    def verify_(self) -> None:
        rows, cols = self.rows.value.data, self.columns.value.data
        if rows % 4 or cols % 4 or rows <= 0 or cols <= 0 or self.k.value.data <= 0:
            raise VerifyException("rows and columns must be positive multiples of 4, k positive")
        if len(self.accumulators) != rows * cols // 4:
            raise VerifyException(f"expected rows * columns / 4 = {rows * cols // 4} accumulators, got {len(self.accumulators)}")
        vec4 = VectorType(Float32Type(), [4])
        if any(acc.type != vec4 for acc in self.accumulators):
            raise VerifyException("accumulators are vector<4xf32>")
        words = self.block_words.value.data if self.block_words is not None else 0
        if words and (words <= 0 or self.k.value.data % (words + 2)):
            raise VerifyException(f"with block_words = {words}, k must be a multiple of block_words + 2 (the scale rows)")
        elems = (IntegerType,) if words else (Float32Type, Float16Type)
        for name, tile in (("a", self.a.type), ("b", self.b.type)):
            assert isinstance(tile, MemRefType)
            if tile.get_num_dims() != 2 or not isinstance(tile.element_type, elems) or (words and tile.element_type != i32):
                raise VerifyException(f"{name} must be a 2-D {'i32' if words else 'f32 or f16'} tile [K, ...]")
        if type_of(self.a, MemRefType).element_type != type_of(self.b, MemRefType).element_type:
            raise VerifyException("a and b must have the same element type")


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminates the regions of the ``tiled`` ops: a kernel's grid yields its three counts, a promote's body
    its value, the others nothing.

    Example: ``tiled.yield %gx, %gy, %gz : index, index, index``
    """

    name = "tiled.yield"

    values = var_operand_def()

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(KernelOp, ForallOp, PromoteOp)))
    assembly_format = "$values attr-dict (`:` type($values)^)?"

    def __init__(self, values: Sequence[SSAValue | Operation] = ()) -> None:
        super().__init__(operands=[values])


__all__ = ["ContractTileOp", "ForallOp", "KernelOp", "PromoteOp", "ReduceOp", "YieldOp", "WORKGROUP_SPACE"]
