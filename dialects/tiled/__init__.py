"""The tiled level: each dispatch region as an explicit GPU schedule on buffers.

A ``tiled.kernel`` holds two regions over the same arguments (buffers and the
step's index symbols): ``grid`` computes the workgroup count on the host, and
``body`` is the code one invocation runs, written with upstream ops only:
``gpu.block_id``/``gpu.thread_id``, ``scf.for``/``scf.if``, ``memref`` loads and
stores (workgroup memory is ``memref.alloca`` in memory space 3),
``gpu.barrier``, ``arith``/``math`` and ``rgpu``. ``convert-tiled-to-gpu``
outlines the body into a ``gpu.func`` and turns the grid into a launch.
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.tiled.ops import KernelOp, YieldOp

Tiled = Dialect("tiled", [KernelOp, YieldOp])

__all__ = ["KernelOp", "Tiled", "YieldOp"]
