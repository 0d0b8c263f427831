"""Ops of the ``tiled`` dialect."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DYNAMIC_INDEX, DenseArrayBase, IndexType, MemRefType, StringAttr, i32, i64
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    lazy_traits_def,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class KernelOp(IRDLOperation):
    """One GPU kernel with its launch grid, on buffers.

    Semantics: launches ``grid`` workgroups of ``workgroup_size`` invocations;
    each runs ``body`` with the kernel's arguments. ``grid`` runs on the host
    over the same arguments and yields the three workgroup counts (index).
    Arguments are memrefs (bound as storage buffers; a quantized weight is
    bound as its raw 32-bit words, so a block argument may be ``memref<Nxi32>``
    where the operand has a ``!quant`` element type of the same byte size) and
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

    def __init__(
        self,
        label: str,
        args: Sequence[SSAValue],
        workgroup_size: Sequence[int],
        grid: Block,
        body: Block,
    ) -> None:
        super().__init__(
            operands=[args],
            properties={
                "label": StringAttr(label),
                "workgroup_size": DenseArrayBase.from_list(i64, list(workgroup_size)),
            },
            regions=[Region(grid), Region(body)],
        )

    @property
    def workgroup(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.workgroup_size.get_values())

    def verify_(self) -> None:
        if len(self.workgroup) != 3 or min(self.workgroup) <= 0:
            raise VerifyException("workgroup_size must be three positive sizes")
        for which, region in (("grid", self.grid), ("body", self.body)):
            args = region.block.args
            if len(args) != len(self.args):
                raise VerifyException(f"{which} must take one block argument per kernel argument")
            for operand, arg in zip(self.args, args):
                if not _binds(operand.type, arg.type):
                    raise VerifyException(f"{which} argument type {arg.type} cannot bind operand of type {operand.type}")
        grid_yield = self.grid.block.last_op
        if not isinstance(grid_yield, YieldOp) or len(grid_yield.values) != 3 or any(
            not isinstance(v.type, IndexType) for v in grid_yield.values
        ):
            raise VerifyException("grid must end with tiled.yield of three index values")
        body_yield = self.body.block.last_op
        if not isinstance(body_yield, YieldOp) or body_yield.values:
            raise VerifyException("body must end with an empty tiled.yield")


def _binds(operand: Attribute, arg: Attribute) -> bool:
    """Same type, or a memref bound as its raw i32 words: a stored weight as ``memref<Nxi32>``, a
    q8_0 KV cache as rows of words ``memref<?xRxi32>``."""
    if operand == arg:
        return True
    if not (isinstance(operand, MemRefType) and isinstance(arg, MemRefType) and arg.element_type == i32):
        return False
    shape = arg.get_shape()
    return len(shape) == 1 or (len(shape) == 2 and shape[0] == DYNAMIC_INDEX and operand.get_shape()[0] == DYNAMIC_INDEX)


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminates the regions of ``tiled.kernel``: the grid yields its three counts, the body nothing.

    Example: ``tiled.yield %gx, %gy, %gz : index, index, index``
    """

    name = "tiled.yield"

    values = var_operand_def()

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(KernelOp)))
    assembly_format = "$values attr-dict (`:` type($values)^)?"

    def __init__(self, values: Sequence[SSAValue | Operation] = ()) -> None:
        super().__init__(operands=[values])
