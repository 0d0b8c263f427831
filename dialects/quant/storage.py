"""Quantized buffers: what a bufferized weight stores, asked in one place (``stored_tensor``, ``buffer_scheme``).

Upstream MLIR's memrefs take only builtin element types, so once bufferized a
quantized weight is not ``memref<576x576x!rquant.q4_1>`` but the words of its
stored bytes, ``memref<51840xi32>`` (``words_type``): the same buffer a kernel
binds. What those words hold, the tensor type ``tensor<576x576x!rquant.q4_1>``
(scheme and logical shape), travels as an attribute where the buffer is defined:

- ``dispatch.weight``: its ``stored`` property
  (``dispatch.weight "w" {stored = tensor<576x576x!rquant.q4_1>} : memref<51840xi32>``);
- a function argument: the argument attribute ``rquant.stored``
  (``%w: memref<51840xi32> {rquant.stored = tensor<576x576x!rquant.q4_1>}``);
- inside a ``dispatch.region``, ``rquant.to_tensor`` reads the words as that tensor
  (``rquant.to_tensor %wb : memref<51840xi32> to tensor<576x576x!rquant.q4_1>``);
- in a kernel, each ``rquant.load``/``load_block``/``dot_block`` names its scheme and shape.

Upstream parses all of it with ``--allow-unregistered-dialect`` (tensors may hold
unregistered element types). Passes never read a weight buffer's element type to
find its scheme: they call ``stored_tensor`` or ``buffer_scheme`` with the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, BFloat16Type, DictionaryAttr, Float16Type, MemRefType, TensorType
from xdsl.ir import Attribute, Block, BlockArgument, OpResult, SSAValue

from rusty_ir.dialects.quant.attrs import BlockQuantType, words_type
from rusty_ir.dialects.quant.ops import ToTensorOp
from rusty_ir.weights import Scheme, scheme

STORED_ATTR = "rquant.stored"
"""The function argument attribute naming the quantized tensor a buffer of words stores."""


def is_quantized(ty: Attribute) -> TypeGuard[TensorType[Attribute]]:
    """Whether ``ty`` is a tensor of a block-quantized element type."""
    return isinstance(ty, TensorType) and isinstance(ty.element_type, BlockQuantType)


def buffer_type(ty: Attribute) -> Attribute:
    """The buffer of a host tensor type: ``words_type`` for a quantized tensor, else the memref of the same shape
    and element type (identity layout); other types are returned as they are."""
    if not isinstance(ty, TensorType):
        return ty
    if is_quantized(ty):
        return words_type(ty)
    return MemRefType(ty.element_type, ty.get_shape())


def stored_tensor(value: SSAValue) -> TensorType[Attribute] | None:
    """The quantized tensor whose stored bytes the buffer ``value`` holds, or None for any other value.

    Answered where the buffer is defined: the ``stored`` of a whole (not split) ``dispatch.weight``, the
    ``rquant.stored`` attribute of a function argument, the operand of a ``dispatch.region`` or
    ``tiled.kernel`` a block argument of theirs binds; or where it is read: a ``rquant.to_tensor`` of it.
    (Those ops are known by name: the ``dispatch`` and ``tiled`` dialects import this one.)"""
    if not isinstance(value.type, MemRefType):
        return None
    for use in value.uses:
        if isinstance(use.operation, ToTensorOp):
            return _quantized(use.operation.tensor.type)
    if isinstance(value, OpResult):
        owner = value.op
        if owner.name == "dispatch.weight" and "part" not in owner.properties:
            return _quantized(owner.properties.get("stored"))
        return None
    assert isinstance(value, BlockArgument)
    parent = value.block.parent_op()
    if isinstance(parent, func.FuncOp):
        return _quantized(arg_attrs(parent).get(value, DictionaryAttr({})).data.get(STORED_ATTR))
    if parent is not None and parent.name in _BINDS_OPERANDS and value.index < len(parent.operands):
        return stored_tensor(parent.operands[value.index])
    return None


_BINDS_OPERANDS = ("dispatch.region", "tiled.kernel")
"""Ops whose regions' block arguments are their operands, in order (a region's body; a kernel's grid and body)."""


def buffer_scheme(value: SSAValue) -> Scheme | None:
    """The storage scheme of a weight buffer kernels read as raw words: a quantized weight's (``stored_tensor``),
    or f16/bf16 for a statically shaped memref of halves; None for anything else (f32/i32 buffers, and dynamically
    sized ones: an f16 KV cache is an ``array<f16>`` the kernels index directly)."""
    stored = stored_tensor(value)
    if stored is not None:
        elem = stored.element_type
        assert isinstance(elem, BlockQuantType)
        return elem.scheme
    return halves_scheme(value.type)


def halves_scheme(ty: Attribute) -> Scheme | None:
    """f16 or bf16 for a statically shaped memref of them (a float weight bound as words), else None: the part of
    ``buffer_scheme`` a type alone answers (a quantized weight's words need the value)."""
    if not isinstance(ty, MemRefType) or not ty.has_static_shape():
        return None
    if isinstance(ty.element_type, Float16Type):
        return scheme("f16")
    if isinstance(ty.element_type, BFloat16Type):
        return scheme("bf16")
    return None


def _quantized(attr: Attribute | None) -> TensorType[Attribute] | None:
    return attr if attr is not None and is_quantized(attr) else None


def arg_attrs(fn: func.FuncOp) -> dict[BlockArgument, DictionaryAttr]:
    """The argument attributes of ``fn``'s entry block arguments (those with a non-empty dictionary)."""
    if fn.arg_attrs is None or not fn.body.blocks:
        return {}
    block = fn.body.block
    return {a: d for a, d in zip(block.args, fn.arg_attrs.data) if d.data}


def set_arg_attrs(fn: func.FuncOp, attrs: Mapping[BlockArgument, DictionaryAttr]) -> None:
    """Give ``fn`` the argument attributes ``attrs`` (by entry block argument; the others get none), one
    dictionary per argument as upstream requires, or none at all when every dictionary is empty."""
    block: Block = fn.body.block
    dicts = [attrs.get(a, DictionaryAttr({})) for a in block.args]
    fn.arg_attrs = ArrayAttr(dicts) if any(d.data for d in dicts) else None


def stored_arg_attr(stored: TensorType[Attribute], others: DictionaryAttr | None = None) -> DictionaryAttr:
    """``others`` with ``rquant.stored = stored`` added."""
    return DictionaryAttr({**(others.data if others is not None else {}), STORED_ATTR: stored})


__all__ = [
    "STORED_ATTR",
    "arg_attrs",
    "buffer_scheme",
    "buffer_type",
    "halves_scheme",
    "is_quantized",
    "set_arg_attrs",
    "stored_arg_attr",
    "stored_tensor",
    "words_type",
]
