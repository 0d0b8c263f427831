"""Upstream MLIR's ``gpu`` dialect as mlir-opt writes it, read beside xDSL's.

xDSL 0.74's ``gpu`` ops have no custom syntax, and its ``gpu.func`` marks a kernel and its workgroup
size the old way: a ``kernel`` property and a ``gpu.known_block_size`` attribute (still read; rusty-ir's
``convert-tiled-to-gpu`` writes upstream's marking since issue 17). MLIR (19 and later, mlir-opt-22 included) writes a kernel as::

    gpu.module @kernels {
      gpu.func @scale(%arg0: memref<256xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
        %thread_id_x = gpu.thread_id  x
        ...
        gpu.return
      }
    }
    gpu.launch_func  @kernels::@scale blocks in (%c4, %c1, %c1) threads in (%c64, %c1, %c1)  args(%arg0 : memref<256xf32>)

and in generic form ``"gpu.func"() <{function_type = ..., known_block_size = array<i32: 64, 1, 1>}> ({...})
{gpu.kernel, sym_name = "scale", workgroup_attributions = 0 : i64}``: the marker is the unit attribute
``gpu.kernel``, ``known_block_size`` an inherent attribute (a property).

``GPU`` here is xDSL's dialect with subclasses of its ops that parse those custom forms, accept both
markings and print the custom forms as mlir-opt does (``gpu.module``, ``gpu.func``, ``gpu.return``,
``gpu.barrier``, ``gpu.launch_func``, the id ops); the other gpu ops print generic, as xDSL's do. ``is_kernel`` and
``block_size`` read a ``gpu.func`` marked either way; the WGSL and MSL emitters use them. Not read:
``workgroup(...)``/``private(...)`` attributions (allocate workgroup memory with ``memref.alloca`` in
address space 3), ``async`` launches and ``gpu.module`` targets; each is a parse error saying so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from xdsl.dialects import gpu
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    IntegerType,
    StringAttr,
    UnitAttr,
    i32,
)
from xdsl.dialects.utils import parse_func_op_like
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import AnyAttr, BaseAttr
from xdsl.irdl.operations import IRDLOperation, OpDef, OptPropertyDef
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

KERNEL_ATTR = "gpu.kernel"
"""Upstream's kernel marker: a unit attribute on the ``gpu.func``."""

_FUNC_PROPERTIES = ("known_block_size", "known_grid_size", "arg_attrs", "res_attrs", "workgroup_attrib_attrs", "private_attrib_attrs")
"""Upstream's inherent attributes of ``gpu.func`` besides ``function_type``: properties in generic form, in the
``attributes {...}`` dictionary of the custom form."""


def is_kernel(func: gpu.FuncOp) -> bool:
    """Whether ``func`` is a kernel: rusty-ir's ``kernel`` property or upstream's ``gpu.kernel`` attribute."""
    return func.kernel is not None or KERNEL_ATTR in func.attributes


def block_size(func: gpu.FuncOp) -> DenseArrayBase[IntegerType] | None:
    """The workgroup size of a kernel: upstream's ``known_block_size`` property, or rusty-ir's
    ``gpu.known_block_size`` attribute; None when it has neither."""
    size = func.properties.get("known_block_size")
    if isinstance(size, DenseArrayBase) and isinstance(size.elt_type, IntegerType):
        return cast(DenseArrayBase[IntegerType], size)
    return func.known_block_size


_Op = TypeVar("_Op", bound=IRDLOperation)


def _with_properties(base: type[_Op], properties: Mapping[str, OptPropertyDef]) -> OpDef:
    """``base``'s definition with more optional properties (xDSL cannot re-declare a decorated op in a subclass):
    a subclass returns it from ``get_irdl_definition`` and verifies against it."""
    parent = base.get_irdl_definition()
    return dataclasses.replace(parent, properties={**parent.properties, **properties})


_FUNC_DEF = _with_properties(gpu.FuncOp, {
    "known_block_size": OptPropertyDef(DenseArrayBase.constr(i32)),
    "known_grid_size": OptPropertyDef(DenseArrayBase.constr(i32)),
    **{name: OptPropertyDef(BaseAttr(ArrayAttr)) for name in _FUNC_PROPERTIES[2:]},
})  # fmt: skip


class FuncOp(gpu.FuncOp):
    """``gpu.func`` as xDSL's, also taking upstream's properties and its custom syntax (see the module's docstring)."""

    @classmethod
    def get_irdl_definition(cls) -> OpDef:
        return _FUNC_DEF

    def verify_(self) -> None:
        _FUNC_DEF.verify(self)
        if self.body.blocks and self.function_type.inputs.data != self.body.blocks[0].arg_types:
            raise VerifyException("Expected first entry block arguments to have the same types as the function input types")
        if is_kernel(self) and len(self.function_type.outputs) != 0:
            raise VerifyException("Expected void return type for kernel function")

    @classmethod
    def parse(cls, parser: Parser) -> FuncOp:
        """``gpu.func @name(%a: T, ...) [-> (R)] [kernel] [attributes {...}] {body}``, as mlir-opt prints it."""
        kernel = False
        plain = parser.parse_optional_attr_dict_with_keyword

        def kernel_then_attributes(reserved_attr_names: Any = ()) -> Any:
            nonlocal kernel
            del parser.parse_optional_attr_dict_with_keyword  # once: a func-like op in the body parses as usual
            for unsupported in ("workgroup", "private"):
                if parser.parse_optional_keyword(unsupported) is not None:
                    parser.raise_error(f"gpu.func {unsupported}(...) attributions are not supported: allocate "
                                       "workgroup memory with memref.alloca in address space 3 inside the kernel")  # fmt: skip
            kernel = parser.parse_optional_keyword("kernel") is not None
            return plain(reserved_attr_names)

        parser.parse_optional_attr_dict_with_keyword = kernel_then_attributes  # type: ignore[method-assign]  # this parser, one call
        try:
            name, inputs, outputs, region, extra, arg_attrs, res_attrs = parse_func_op_like(
                parser, reserved_attr_names=("sym_name", "function_type", KERNEL_ATTR)
            )
        finally:
            parser.__dict__.pop("parse_optional_attr_dict_with_keyword", None)
        attributes: dict[str, Attribute] = dict(extra.data) if extra is not None else {}
        properties: dict[str, Attribute] = {"function_type": FunctionType.from_lists(inputs, outputs)}
        for key in _FUNC_PROPERTIES:  # inherent attributes written in the dictionary are properties
            if key in attributes:
                properties[key] = attributes.pop(key)
        if arg_attrs is not None:
            properties["arg_attrs"] = arg_attrs
        if res_attrs is not None:
            properties["res_attrs"] = res_attrs
        attributes["sym_name"] = StringAttr(name)
        if kernel:
            attributes[KERNEL_ATTR] = UnitAttr()
        return cls.build(properties=properties, attributes=attributes, regions=[region])

    def print(self, printer: Printer) -> None:
        """``gpu.func @name(%a: T, ...) [-> R] [kernel] [attributes {...}] {body}``, as mlir-opt prints it (an
        old-style ``kernel`` property prints as the keyword too)."""
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        entry = self.body.blocks[0] if self.body.blocks else None
        arg_attrs = self.properties.get("arg_attrs")
        per_arg = list(arg_attrs.data) if isinstance(arg_attrs, ArrayAttr) else []

        def argument(i: int) -> None:
            if entry is not None:
                printer.print_block_argument(entry.args[i])
            else:
                printer.print_attribute(self.function_type.inputs.data[i])
            if i < len(per_arg) and isinstance(per_arg[i], DictionaryAttr) and per_arg[i].data:
                printer.print_string(" ")
                printer.print_attr_dict(per_arg[i].data)

        with printer.in_parens():
            printer.print_list(range(len(self.function_type.inputs.data)), argument)
        outputs = self.function_type.outputs.data
        if outputs:
            printer.print_string(" -> ")
            if len(outputs) == 1:
                printer.print_attribute(outputs[0])
            else:
                with printer.in_parens():
                    printer.print_list(outputs, printer.print_attribute)
        if is_kernel(self):
            printer.print_string(" kernel")
        shown = {k: v for k, v in self.properties.items() if k in _FUNC_PROPERTIES and k not in ("arg_attrs", "res_attrs")}
        shown |= {k: v for k, v in self.attributes.items() if k not in ("sym_name", KERNEL_ATTR)
                  and not (k == "workgroup_attributions" and isinstance(v, IntegerAttr) and v.value.data == 0)}  # fmt: skip
        printer.print_op_attributes(shown, print_keyword=True)
        if entry is not None:
            printer.print_string(" ")
            printer.print_region(self.body, print_entry_block_args=False)


class ModuleOp(gpu.ModuleOp):
    """``gpu.module``, also read in upstream's custom syntax: ``gpu.module @name [attributes {...}] {body}``."""

    @classmethod
    def parse(cls, parser: Parser) -> ModuleOp:
        name = parser.parse_symbol_name()
        if parser.parse_optional_punctuation("[") is not None or parser.parse_optional_punctuation("<") is not None:
            parser.raise_error("gpu.module targets and offloading handlers are not supported")
        attributes = parser.parse_optional_attr_dict_with_keyword()
        region = parser.parse_region()
        return cls.build(properties={"sym_name": name}, attributes=attributes.data if attributes else {}, regions=[region])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False)


class ReturnOp(gpu.ReturnOp):
    """``gpu.return [%v, ... : T, ...]``."""

    @classmethod
    def parse(cls, parser: Parser) -> ReturnOp:
        attributes = parser.parse_optional_attr_dict()
        operands = parser.parse_optional_undelimited_comma_separated_list(parser.parse_optional_unresolved_operand,
                                                                           parser.parse_unresolved_operand)  # fmt: skip
        values: Sequence[SSAValue] = []
        if operands:
            parser.parse_punctuation(":")
            types = parser.parse_comma_separated_list(parser.Delimiter.NONE, parser.parse_type)
            values = parser.resolve_operands(operands, types, parser.pos)
        return cls.build(operands=[values], attributes=attributes)

    def print(self, printer: Printer) -> None:
        printer.print_op_attributes(self.attributes)
        if self.args:
            printer.print_string(" ")
            printer.print_list(self.args, printer.print_ssa_value)
            printer.print_string(" : ")
            printer.print_list([a.type for a in self.args], printer.print_attribute)


class BarrierOp(gpu.BarrierOp):
    """``gpu.barrier``."""

    @classmethod
    def parse(cls, parser: Parser) -> BarrierOp:
        if parser.parse_optional_keyword("memfence") is not None:
            parser.raise_error("gpu.barrier memfence [...] is not supported (a barrier fences workgroup memory)")
        return cls.build(attributes=parser.parse_optional_attr_dict())

    def print(self, printer: Printer) -> None:
        printer.print_op_attributes(self.attributes)


def _dimension_op(base: type[IRDLOperation]) -> type[IRDLOperation]:
    """``base`` (gpu.thread_id, block_id, ...) reading ``gpu.thread_id x [upper_bound N]`` and taking upstream's
    ``upper_bound`` property."""
    op_def = _with_properties(base, {"upper_bound": OptPropertyDef(AnyAttr())})

    def parse(cls: type[IRDLOperation], parser: Parser) -> IRDLOperation:
        dim = parser.parse_identifier()
        if dim not in ("x", "y", "z"):
            parser.raise_error(f"expected the dimension x, y or z, got '{dim}'")
        properties: dict[str, Attribute] = {"dimension": gpu.DimensionAttr(gpu.DimensionEnum(dim))}
        if parser.parse_optional_keyword("upper_bound") is not None:
            properties["upper_bound"] = IntegerAttr(parser.parse_integer(), IndexType())
        attributes = parser.parse_optional_attr_dict()
        return cls.build(result_types=[IndexType()], properties=properties, attributes=attributes)

    def print(self: IRDLOperation, printer: Printer) -> None:
        printer.print_string(f" {self.properties['dimension'].data.value}")  # type: ignore[attr-defined]  # DimensionAttr
        bound = self.properties.get("upper_bound")
        if isinstance(bound, IntegerAttr):
            printer.print_string(f" upper_bound {bound.value.data}")
        printer.print_op_attributes(self.attributes)

    namespace: dict[str, Any] = {
        "__doc__": f"``{base.name} x|y|z [upper_bound N]``.",
        "__module__": __name__,
        "get_irdl_definition": classmethod(lambda cls: op_def),
        "verify_": lambda self: op_def.verify(self),
        "parse": classmethod(parse),
        "print": print,
    }
    return type(base.__name__, (base,), namespace)


_DIMENSION_OPS = tuple(_dimension_op(op) for op in (gpu.ThreadIdOp, gpu.BlockIdOp, gpu.BlockDimOp, gpu.GridDimOp, gpu.GlobalIdOp))


class LaunchFuncOp(gpu.LaunchFuncOp):
    """``gpu.launch_func @m::@k [clusters in (...)] blocks in (...) threads in (...) [: T] [dynamic_shared_memory_size %s]
    [args(%a : T, ...)]``, as mlir-opt prints it (``async`` launches are not read)."""

    @classmethod
    def parse(cls, parser: Parser) -> LaunchFuncOp:
        if parser.parse_optional_keyword("async") is not None or parser.parse_optional_punctuation("[") is not None:
            parser.raise_error("async gpu.launch_func (tokens, dependencies) is not supported")
        if parser.parse_optional_punctuation("<") is not None:
            parser.raise_error("gpu.launch_func with an async object is not supported")
        kernel = parser.parse_attribute()

        def triple() -> list[Any]:
            parser.parse_keyword("in")
            return parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_unresolved_operand)

        clusters = triple() if parser.parse_optional_keyword("clusters") is not None else []
        parser.parse_keyword("blocks")
        grid = triple()
        parser.parse_keyword("threads")
        block = triple()
        if len(grid) != 3 or len(block) != 3 or len(clusters) not in (0, 3):
            parser.raise_error("gpu.launch_func takes three sizes in each of blocks, threads and clusters")
        size_type: Attribute = parser.parse_type() if parser.parse_optional_punctuation(":") is not None else IndexType()
        shared = []
        if parser.parse_optional_keyword("dynamic_shared_memory_size") is not None:
            shared = [parser.resolve_operand(parser.parse_unresolved_operand(), i32)]
        args: list[SSAValue] = []
        if parser.parse_optional_keyword("args") is not None:

            def argument() -> SSAValue:
                operand = parser.parse_unresolved_operand()
                parser.parse_punctuation(":")
                return parser.resolve_operand(operand, parser.parse_type())

            args = parser.parse_comma_separated_list(parser.Delimiter.PAREN, argument)
        attributes = parser.parse_optional_attr_dict()

        def sizes(ops: list[Any]) -> list[SSAValue]:
            return [parser.resolve_operand(o, size_type) for o in ops]

        g, b, c = sizes(grid), sizes(block), sizes(clusters)
        return cls.build(
            operands=[[], g[0], g[1], g[2], b[0], b[1], b[2], c[:1], c[1:2], c[2:3], shared, args, []],
            result_types=[[]],
            properties={"kernel": kernel},
            attributes=attributes,
        )

    def print(self, printer: Printer) -> None:
        """As mlir-opt prints a launch (sizes of another type than index after a colon)."""
        printer.print_string(" ")
        printer.print_attribute(self.kernel)

        def triple(keyword: str, values: Sequence[SSAValue]) -> None:
            printer.print_string(f" {keyword} in (")
            printer.print_list(values, printer.print_ssa_value)
            printer.print_string(")")

        clusters = [v for v in (self.clusterSizeX, self.clusterSizeY, self.clusterSizeZ) if v is not None]
        if clusters:
            triple("clusters", clusters)
        triple("blocks", [self.gridSizeX, self.gridSizeY, self.gridSizeZ])
        triple("threads", [self.blockSizeX, self.blockSizeY, self.blockSizeZ])
        if not isinstance(self.gridSizeX.type, IndexType):
            printer.print_string(" : ")
            printer.print_attribute(self.gridSizeX.type)
        if self.dynamicSharedMemorySize is not None:
            printer.print_string(" dynamic_shared_memory_size ")
            printer.print_ssa_value(self.dynamicSharedMemorySize)
        if self.kernelOperands:
            printer.print_string(" args(")

            def argument(value: SSAValue) -> None:
                printer.print_ssa_value(value)
                printer.print_string(" : ")
                printer.print_attribute(value.type)

            printer.print_list(self.kernelOperands, argument)
            printer.print_string(")")
        printer.print_op_attributes(self.attributes)


_REPLACED = {"gpu.func", "gpu.module", "gpu.return", "gpu.barrier", "gpu.launch_func", *(d.name for d in _DIMENSION_OPS)}
"""The upstream ops that this module's own (above, with mlir-opt's syntax) replace."""


def _print_as(theirs: type[IRDLOperation], ours: type[IRDLOperation]) -> None:
    """Passes build xDSL's classes (xdsl.dialects.gpu): they print as ours, so the text does not depend on which
    class built an op (the parser makes ours). xDSL's print generic."""
    theirs.print = ours.print  # type: ignore[method-assign]  # a class without a custom printer


_PRINTED_AS: tuple[tuple[type[IRDLOperation], type[IRDLOperation]], ...] = (
    (FuncOp, gpu.FuncOp), (ModuleOp, gpu.ModuleOp), (ReturnOp, gpu.ReturnOp), (BarrierOp, gpu.BarrierOp),
    (LaunchFuncOp, gpu.LaunchFuncOp),
    *zip(_DIMENSION_OPS, (gpu.ThreadIdOp, gpu.BlockIdOp, gpu.BlockDimOp, gpu.GridDimOp, gpu.GlobalIdOp), strict=True),
)  # fmt: skip
for _ours, _theirs in _PRINTED_AS:
    _print_as(_theirs, _ours)

GPU = Dialect(
    "gpu",
    [
        *(op for op in gpu.GPU.operations if op.name not in _REPLACED),
        FuncOp,
        ModuleOp,
        ReturnOp,
        BarrierOp,
        LaunchFuncOp,
        *_DIMENSION_OPS,
    ],
    list(gpu.GPU.attributes),
)
"""xDSL's ``gpu`` dialect with the ops above in place of its own: what the tools register as ``gpu``."""
