"""The tiled level: each dispatch region as an explicit GPU schedule on buffers.

A ``tiled.kernel`` holds two regions over the same arguments (buffers and the
step's index symbols): ``grid`` computes the workgroup count on the host, and
``body`` is the code one invocation runs. The body is a schedule: loop nests
distributed over workgroups and invocations (``tiled.forall``), tiles promoted
to workgroup memory (``tiled.promote``), register micro-tiles
(``tiled.contract_tile``) and cross-invocation reductions (``tiled.reduce``),
around upstream ``scf``, ``memref``, ``vector``, ``arith``, ``math`` and the
memref-level ``rquant`` loads. The passes after ``convert-dispatch-to-tiled``
lower those four ops one at a time (ops.py says which pass lowers which);
``convert-tiled-to-gpu`` outlines the body into a ``gpu.func`` and turns the
grid into a launch.
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.tiled.ops import WORKGROUP_SPACE, ContractTileOp, ForallOp, KernelOp, PromoteOp, ReduceOp, YieldOp

Tiled = Dialect("tiled", [ContractTileOp, ForallOp, KernelOp, PromoteOp, ReduceOp, YieldOp])

__all__ = ["WORKGROUP_SPACE", "ContractTileOp", "ForallOp", "KernelOp", "PromoteOp", "ReduceOp", "Tiled", "YieldOp"]
