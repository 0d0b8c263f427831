"""The `rgpu` dialect: the few gpu-level ops our kernels need that upstream `gpu` lacks,
and the target description a module is compiled for (`#rgpu.target`).

This level sits beside upstream `gpu`, `arith`, `math`, `memref` and `scf` inside
`gpu.func` kernels: `convert-tiled-to-gpu` (and hand-written kernels) produce
these ops, and the WGSL emitter (`rusty_ir.backends.wgsl`) prints them. Each op
here exists because no upstream op expresses it; when upstream grows one, use
that instead.
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.gpu.attrs import TargetAttr
from rusty_ir.dialects.gpu.ops import (
    Dot4I8Op,
    HalfAttr,
    HalfEnum,
    PackF16Op,
    SubgroupAddOp,
    SubgroupMaxOp,
    SubgroupMinOp,
    SubgroupShuffleXorOp,
    UnpackF16Op,
)

RGpu = Dialect(
    "rgpu", [Dot4I8Op, PackF16Op, SubgroupAddOp, SubgroupMaxOp, SubgroupMinOp, SubgroupShuffleXorOp, UnpackF16Op], [HalfAttr, TargetAttr]
)
"""The `rgpu` dialect object, registered by the tools as `rgpu`."""

__all__ = [
    "Dot4I8Op",
    "HalfAttr",
    "HalfEnum",
    "PackF16Op",
    "RGpu",
    "SubgroupAddOp",
    "SubgroupMaxOp",
    "SubgroupMinOp",
    "SubgroupShuffleXorOp",
    "TargetAttr",
    "UnpackF16Op",
]
