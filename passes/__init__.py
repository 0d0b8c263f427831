"""Every rusty-ir pass, in one lazy registry.

``PASSES`` maps a pipeline name to a factory returning the pass class; each
pass lives in a file named after its pipeline name (``convert-a-to-b`` in
``conversion/a_to_b.py``, others under ``passes/<area>/``). Keep it alphabetical.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xdsl.passes import ModulePass


def _lazy(module: str, cls: str) -> Callable[[], type[ModulePass]]:
    def load() -> type[ModulePass]:
        return getattr(importlib.import_module(module), cls)

    return load


PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "attach-target": _lazy("rusty_ir.passes.gpu.attach_target", "AttachTargetPass"),
    "convert-dispatch-to-tiled": _lazy("rusty_ir.passes.conversion.dispatch_to_tiled", "ConvertDispatchToTiledPass"),
    "convert-tiled-to-gpu": _lazy("rusty_ir.passes.conversion.tiled_to_gpu", "ConvertTiledToGpuPass"),
    "convert-transformer-to-tensor": _lazy("rusty_ir.passes.conversion.transformer_to_tensor", "ConvertTransformerToTensorPass"),
    "distribute-to-gpu-ids": _lazy("rusty_ir.passes.tiling.distribute_to_gpu_ids", "DistributeToGpuIdsPass"),
    "form-dispatches": _lazy("rusty_ir.passes.dispatch.form_dispatches", "FormDispatchesPass"),
    "linalg-fuse-siblings": _lazy("rusty_ir.passes.dispatch.linalg_fuse_siblings", "LinalgFuseSiblingsPass"),
    "lower-quant-loads": _lazy("rusty_ir.passes.quant.lower_quant_loads", "LowerQuantLoadsPass"),
    "lower-upstream-linalg": _lazy("rusty_ir.passes.dispatch.lower_upstream_linalg", "LowerUpstreamLinalgPass"),
    "merge-dispatches": _lazy("rusty_ir.passes.dispatch.merge_dispatches", "MergeDispatchesPass"),
    "plan-memory": _lazy("rusty_ir.passes.memory.plan_memory", "PlanMemoryPass"),
    "promote-to-workgroup-memory": _lazy("rusty_ir.passes.tiling.promote_to_workgroup_memory", "PromoteToWorkgroupMemoryPass"),
    "quantize-weights": _lazy("rusty_ir.passes.quant.quantize_weights", "QuantizeWeightsPass"),
    "reduction-to-subgroup": _lazy("rusty_ir.passes.tiling.reduction_to_subgroup", "ReductionToSubgroupPass"),
    "rusty-bufferize": _lazy("rusty_ir.passes.bufferization.rusty_bufferize", "RustyBufferizePass"),
    "split-bindings": _lazy("rusty_ir.passes.gpu.split_bindings", "SplitBindingsPass"),
    "tune-workgroups": _lazy("rusty_ir.passes.tuning.tune_workgroups", "TuneWorkgroupsPass"),
    "vectorize": _lazy("rusty_ir.passes.tiling.vectorize", "VectorizePass"),
    "weight-layout": _lazy("rusty_ir.passes.quant.weight_layout", "WeightLayoutPass"),
}
