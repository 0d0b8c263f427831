"""Attributes of the ``rgpu`` dialect: the target description a module is compiled for.

``#rgpu.target<...>`` is ``rusty_ir.targets.TargetDescription`` written into the
IR: ``attach-target`` puts it on the builtin module as ``rgpu.target``, and every
pass that needs a limit or a feature (tuning, tiling, reductions, bindings)
reads it from there (``module_target``), so a dumped module says what it was
compiled for and re-running a pass on it needs no flag.
"""

from __future__ import annotations

from dataclasses import fields

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Data, Operation
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer

from rusty_ir.errors import RustyError
from rusty_ir.ir import parse_keyword_fields
from rusty_ir.targets import TargetDescription

TARGET_ATTR = "rgpu.target"
"""The name of the builtin module's attribute holding its ``#rgpu.target``."""


@irdl_attr_definition
class TargetAttr(Data[TargetDescription]):
    """What the kernels of a module may use: limits and features of one kind of GPU.

    Every field of ``TargetDescription`` is printed, ints as ``key = N`` and
    flags as ``key = true|false``, in field order after the target's name.

    Example:
        module attributes {rgpu.target = #rgpu.target<"nvidia", max_invocations = 1024,
            max_workgroup_memory = 49152, max_workgroups_per_dim = 65535, subgroup_size = 32,
            f16 = true, int_dot = true, max_binding_bytes = 134217728, binding_offset_alignment = 256>} { ... }
    """

    name = "rgpu.target"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> TargetDescription:
        with parser.in_angle_brackets():
            name = parser.parse_str_literal("expected the target's name as a string")
            known = {f.name: f for f in fields(TargetDescription) if f.name != "name"}
            values = parse_keyword_fields(
                parser, "target", known,
                lambda key: parser.parse_boolean() if known[key].type in ("bool", bool) else parser.parse_integer(allow_boolean=False),
            )  # fmt: skip
        try:
            return TargetDescription(name, **values)
        except ValueError as err:
            parser.raise_error(str(err))

    def print_parameter(self, printer: Printer) -> None:
        items = [f'"{self.data.name}"'] + [
            f"{f.name} = {str(v).lower() if isinstance(v, bool) else v}"
            for f in fields(TargetDescription)
            if f.name != "name" and (v := getattr(self.data, f.name)) is not None
        ]
        printer.print_string("<" + ", ".join(items) + ">")


def module_target(op: Operation) -> TargetDescription:
    """The target of the module ``op`` is in (its ``rgpu.target``), or a RustyError saying how to set one."""
    module = op if isinstance(op, ModuleOp) else op.get_toplevel_object()
    attr: Attribute | None = module.attributes.get(TARGET_ATTR) if isinstance(module, ModuleOp) else None
    if not isinstance(attr, TargetAttr):
        raise RustyError(f"the module has no {TARGET_ATTR} attribute: run attach-target{{target=NAME}} first (or add "
                         f'`attributes {{{TARGET_ATTR} = #rgpu.target<"webgpu">}}` to the module)')  # fmt: skip
    return attr.data


def set_module_target(module: ModuleOp, target: TargetDescription) -> None:
    module.attributes[TARGET_ATTR] = TargetAttr(target)
