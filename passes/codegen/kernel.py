"""Building one ``tiled.kernel``: arguments, GPU ids, workgroup memory, barriers, reductions.

A ``Kernel`` is made from a bufferized ``dispatch.region``: the kernel takes
the region's operands; a memref of a stored weight type (``!quant`` blocks,
f16, bf16) is bound as its raw 32-bit words. The strategy code builds the
body through ``kernel.b`` and the host-side grid through ``kernel.grid_b``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import gpu, memref
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    IntegerAttr,
    MemRefType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, SSAValue

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.quant.attrs import BlockQuantType
from rusty_ir.dialects.tiled import KernelOp, YieldOp
from rusty_ir.passes.builder import F32, IRBuilder
from rusty_ir.passes.codegen.kv_cache import cache_arg_type
from rusty_ir.weights import Scheme, scheme

WORKGROUP_SPACE = IntegerAttr(3, i64)
"""Memory space of workgroup memory (``memref.alloca`` in a kernel)."""


def stored_scheme(ty: Attribute) -> Scheme | None:
    """The storage scheme of a weight memref read as raw words (None for plain f32/i32 buffers, and for
    dynamically sized ones: an f16 KV cache is an ``array<f16>`` the kernels index directly)."""
    if not isinstance(ty, MemRefType) or not ty.has_static_shape():
        return None
    elem = ty.element_type
    if isinstance(elem, BlockQuantType):
        return elem.scheme
    if isinstance(elem, Float16Type):
        return scheme("f16")
    if isinstance(elem, BFloat16Type):
        return scheme("bf16")
    return None


def kernel_arg_type(ty: Attribute) -> Attribute:
    """How a region operand is bound in the kernel: stored weights become ``memref<Nxi32>``, q8_0 KV
    cache rows ``memref<?xRxi32>`` (``kv_cache.cache_arg_type``)."""
    sch = stored_scheme(ty)
    if sch is None:
        return cache_arg_type(ty) if isinstance(ty, MemRefType) else ty
    assert isinstance(ty, MemRefType)
    words = (sch.nbytes(tuple(ty.get_shape())) + 3) // 4
    return MemRefType(i32, [words])


class Kernel:
    """A kernel under construction for one region."""

    def __init__(self, region: RegionOp, config: LoweringConfigAttr, extra: Sequence[SSAValue] = ()) -> None:
        """``extra``: host buffers the kernel takes after the region's operands (scratch between
        the kernels of one region); the body sees them as ``extra_args``."""
        self.region = region
        self.config = config
        self.extra = list(extra)
        types = [kernel_arg_type(a.type) for a in region.args] + [v.type for v in self.extra]
        self.body = Block(arg_types=types)
        self.grid = Block(arg_types=types)
        self.b = IRBuilder(self.body)
        self.grid_b = IRBuilder(self.grid)
        self.body_args = dict(zip(region.block.args, self.body.args))
        self.grid_args = dict(zip(region.block.args, self.grid.args))
        self.extra_args = list(self.body.args[len(region.args) :])

    @property
    def threads(self) -> int:
        return self.config.threads

    # --- ids ----------------------------------------------------------------------------------
    def _id(self, op_cls: type[gpu.ThreadIdOp] | type[gpu.BlockIdOp] | type[gpu.GridDimOp], dim: str, b: IRBuilder | None = None) -> SSAValue:
        return (b or self.b).value(op_cls(gpu.DimensionAttr(gpu.DimensionEnum(dim))))

    def thread_id(self, dim: str = "x", b: IRBuilder | None = None) -> SSAValue:
        return self._id(gpu.ThreadIdOp, dim, b)

    def block_id(self, dim: str = "x", b: IRBuilder | None = None) -> SSAValue:
        return self._id(gpu.BlockIdOp, dim, b)

    def grid_dim(self, dim: str = "x", b: IRBuilder | None = None) -> SSAValue:
        """Workgroups in the grid along ``dim`` (as launched)."""
        return self._id(gpu.GridDimOp, dim, b)

    # --- memory -------------------------------------------------------------------------------
    def shared(self, size: int, elem: Attribute = F32) -> SSAValue:
        """A workgroup-memory array of ``size`` elements (allocated at the top of the body)."""
        op = memref.AllocaOp.get(elem, shape=[size], memory_space=WORKGROUP_SPACE)
        first = self.body.first_op
        if first is None:
            self.body.add_op(op)
        else:
            self.body.insert_op_before(op, first)
        return op.memref

    def barrier(self, b: IRBuilder | None = None) -> None:
        (b or self.b).insert(gpu.BarrierOp())

    def load(self, b: IRBuilder, buf: SSAValue, indices: Sequence[SSAValue]) -> SSAValue:
        return b.value(memref.LoadOp.get(buf, indices))

    def store(self, b: IRBuilder, value: SSAValue, buf: SSAValue, indices: Sequence[SSAValue]) -> None:
        b.insert(memref.StoreOp.get(value, buf, indices))

    def tree_reduce(
        self,
        shared: SSAValue,
        tid: SSAValue,
        width: int,
        combine: Callable[[IRBuilder, SSAValue, SSAValue], SSAValue],
        lane: SSAValue | None = None,
        b: IRBuilder | None = None,
        slot: SSAValue | None = None,
    ) -> None:
        """Reduce each group's ``width`` slots of ``shared`` into its first slot, with barriers between halvings.

        Every thread of the workgroup must call this (barriers). Groups are
        ``width`` consecutive threads; ``lane`` is a thread's index in its
        group (default: one group, ``lane = tid``) and ``slot`` its place in
        ``shared`` (default ``tid``; an offset lets several reductions share
        one buffer). ``width`` is a power of two. ``b`` builds the code
        (default: the kernel body).
        """
        b = b or self.b
        lane = lane if lane is not None else tid
        slot = slot if slot is not None else tid
        stride = width // 2
        while stride >= 1:
            s = b.index(stride)

            def step(ib: IRBuilder, s: SSAValue = s) -> list[SSAValue]:
                other = ib.addi(slot, s)
                a = self.load(ib, shared, [slot])
                c = self.load(ib, shared, [other])
                self.store(ib, combine(ib, a, c), shared, [slot])
                return []

            b.if_then(b.cmpi("ult", lane, s), step)
            self.barrier(b)
            stride //= 2

    # --- finishing ----------------------------------------------------------------------------
    def finish(self, grid: Sequence[SSAValue]) -> KernelOp:
        """Close both regions: the grid yields ``grid`` (built with ``grid_b``)."""
        self.grid_b.insert(YieldOp(grid))
        self.b.insert(YieldOp())
        return KernelOp(self.region.label.data, [*self.region.args, *self.extra], self.config.workgroup_size, self.grid, self.body)


__all__ = ["Kernel", "kernel_arg_type", "stored_scheme"]
