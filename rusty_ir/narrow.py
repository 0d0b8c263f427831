"""Typed access to IR that xDSL's generic API types loosely (issue 18: types instead of suppressions).

A generic ``Operation`` gives its properties as ``Attribute``, an ``SSAValue``'s type is an ``Attribute``, and a
block's ``last_op`` or an op's ``parent_block()`` may be ``None``. Where the IR's invariants (an op's definition, a
verified region's terminator) guarantee more, these helpers say so once, checked, instead of a suppression comment
at each use: a violated guarantee fails here, naming what was expected, rather than as an AttributeError later.
"""

from __future__ import annotations

from typing import TypeVar

from xdsl.dialects.builtin import ContainerType
from xdsl.ir import Attribute, Block, Operation, SSAValue

A = TypeVar("A", bound=Attribute)


def prop(op: Operation, name: str, kind: type[A]) -> A:
    """``op``'s property ``name``, which ``op``'s definition makes a ``kind``."""
    attr = op.properties[name]
    assert isinstance(attr, kind), f"{op.name}'s property {name} is {type(attr).__name__}, not {kind.__name__}"
    return attr


def type_of(value: SSAValue, kind: type[A]) -> A:
    """``value``'s type, which the op that defines or uses it makes a ``kind`` (a tensor, a memref, ...)."""
    ty = value.type
    assert isinstance(ty, kind), f"a value of type {ty}, not a {kind.__name__}"
    return ty


def element_type(value: SSAValue) -> Attribute:
    """The element type of ``value``'s tensor, memref or vector type."""
    ty = value.type
    assert isinstance(ty, ContainerType), f"a value of type {ty}, not a tensor, memref or vector"
    return ty.get_element_type()


def terminator(block: Block) -> Operation:
    """The last op of ``block``: its terminator (``scf.yield``, ``tiled.yield``, ...) in verified IR."""
    op = block.last_op
    assert op is not None, "an empty block where a terminator was expected"
    return op


def first_op(block: Block) -> Operation:
    """The first op of ``block``, which is not empty (it holds at least its terminator)."""
    op = block.first_op
    assert op is not None, "an empty block where ops were expected"
    return op


def parent_block(op: Operation) -> Block:
    """The block holding ``op``, which is attached to one (not the top-level module)."""
    block = op.parent_block()
    assert block is not None, f"{op.name} is not in a block"
    return block


__all__ = ["element_type", "first_op", "parent_block", "prop", "terminator", "type_of"]
