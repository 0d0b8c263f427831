"""The dispatch level: host resources (weights, KV cache) and regions that each become one kernel.

Between the tensor level and the tiled level a function is a sequence of
``dispatch.region`` ops, each isolated from above and holding the tensor ops
that one GPU kernel will compute. Counting them per decoder layer is the first
performance number of the compiler. ``tune-workgroups`` attaches a
``#dispatch.lowering_config`` to each region; ``convert-dispatch-to-tiled``
only reads it.

The same dialect names the host's resources from the tensor level down to the
schedule: ``dispatch.weight`` (a tensor of the weight store, bound by name) and
``dispatch.cache`` (one layer's K or V cache buffer) and ``dispatch.block_table``
(which physical blocks of a paged cache hold the sequence).
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.dispatch.attrs import LoweringConfigAttr
from rusty_ir.dialects.dispatch.ops import BlockTableOp, CacheOp, KvCacheOp, RegionOp, WeightOp, YieldOp

Dispatch = Dialect("dispatch", [BlockTableOp, CacheOp, KvCacheOp, RegionOp, WeightOp, YieldOp], [LoweringConfigAttr])

__all__ = ["BlockTableOp", "CacheOp", "Dispatch", "KvCacheOp", "LoweringConfigAttr", "RegionOp", "WeightOp", "YieldOp"]
