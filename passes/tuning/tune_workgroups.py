"""tune-workgroups: attach a ``#dispatch.lowering_config`` to every dispatch region."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from rusty_ir.dialects.dispatch import RegionOp
from rusty_ir.dialects.dispatch.ops import region_ops
from rusty_ir.errors import RustyError
from rusty_ir.passes.dispatch.analysis import region_strategy, root_of
from rusty_ir.passes.tuning.generic import default_config
from rusty_ir.passes.tuning.target import TARGETS


@dataclass(frozen=True)
class TuneWorkgroupsPass(ModulePass):
    """Chooses each dispatch region's strategy, workgroup size and tile sizes, as an attribute.

    Matches: every ``dispatch.region``. Produces: the same regions with a
    ``config = #dispatch.lowering_config<...>`` property; nothing is lowered.
    Regions that already carry a config keep it unless ``overwrite`` is set,
    so a hand-tuned config in the IR wins. Pre-conditions: dispatch-level IR.
    """

    name = "tune-workgroups"

    target: str = "webgpu"
    """Target description whose limits bound the choice: webgpu (portable default), apple or nvidia."""

    overwrite: bool = False
    """Replace configs that are already present (false = keep them)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.target not in TARGETS:
            raise RustyError(f"tune-workgroups: unknown target '{self.target}' (known: {', '.join(TARGETS)})")
        target = TARGETS[self.target]
        for region in op.walk():
            if not isinstance(region, RegionOp) or (region.config is not None and not self.overwrite):
                continue
            ops = region_ops(region)
            region.config = default_config(region_strategy(ops), root_of(ops), target)
