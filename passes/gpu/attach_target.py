"""attach-target: write the target description the module is compiled for into the IR."""

from __future__ import annotations

from dataclasses import dataclass, replace

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from rusty_ir.dialects.gpu.attrs import TARGET_ATTR, set_module_target
from rusty_ir.errors import RustyError
from rusty_ir.targets import target as find_target


@dataclass(frozen=True)
class AttachTargetPass(ModulePass):
    """Sets the builtin module's ``rgpu.target`` attribute: the limits and features kernels may use.

    Matches: the builtin module. Produces: the same module with
    ``rgpu.target = #rgpu.target<...>``, the named target of
    ``rusty_ir.targets.TARGETS`` with any field given as an option replaced
    (the driver passes an adapter's own limits where they are smaller). A
    module that already has a target keeps it unless ``overwrite`` is set.
    Every later pass that needs a limit reads this attribute. Pre-conditions:
    none; it runs first.

    Example: ``rusty-opt m.mlir -p 'attach-target{target=nvidia max-workgroup-memory=32768}'``
    """

    name = "attach-target"

    target: str = "webgpu"
    """The target's name: webgpu (portable default: WebGPU's guaranteed limits, no optional feature), apple or nvidia."""

    max_invocations: int = -1
    """Invocations per workgroup, if not the named target's (-1 = keep)."""

    max_workgroup_memory: int = -1
    """Bytes of workgroup memory per workgroup, if not the named target's (-1 = keep)."""

    subgroup_size: int = -1
    """Fixed subgroup width, 0 for no subgroup operations, if not the named target's (-1 = keep)."""

    f16: int = -1
    """1 = f16 arithmetic allowed, 0 = not, if not the named target's (-1 = keep)."""

    int_dot: int = -1
    """1 = packed 8-bit dot products (DP4A) allowed, 0 = not, if not the named target's (-1 = keep)."""

    overwrite: bool = False
    """Replace a target the module already has (false = keep it)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if TARGET_ATTR in op.attributes and not self.overwrite:
            return
        try:
            desc = find_target(self.target)
            desc = replace(
                desc,  # each option, where given (not -1), overrides the target's value
                max_invocations=desc.max_invocations if self.max_invocations == -1 else self.max_invocations,
                max_workgroup_memory=desc.max_workgroup_memory if self.max_workgroup_memory == -1 else self.max_workgroup_memory,
                subgroup_size=desc.subgroup_size if self.subgroup_size == -1 else self.subgroup_size,
                f16=desc.f16 if self.f16 == -1 else bool(self.f16),
                int_dot=desc.int_dot if self.int_dot == -1 else bool(self.int_dot),
            )
        except ValueError as err:
            raise RustyError(f"attach-target: {err}") from None
        set_module_target(op, desc)
