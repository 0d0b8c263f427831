"""Building one ``tiled.kernel``: arguments, the grid, and the schedule ops of the tiled level.

A ``Kernel`` is made from a bufferized ``dispatch.region``: the kernel takes
the region's operands; a memref of a stored weight type (f16, bf16) is bound
as its raw 32-bit words, which a quantized weight's buffer already is. A schedule builder
(``passes/codegen/<strategy>.py``) writes the body through ``kernel.b`` with
the helpers here (``forall``, ``reduce``, ``promote``, ``contract_tile``) and
the host-side grid through ``kernel.grid_b``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import gpu, memref
from xdsl.dialects.builtin import IntegerAttr, MemRefType, i32, i64
from xdsl.ir import Attribute, Block, SSAValue

from rusty_ir.dialects.dispatch import LoweringConfigAttr, RegionOp
from rusty_ir.dialects.dispatch.attrs import LoweringConfig
from rusty_ir.dialects.quant.storage import halves_scheme
from rusty_ir.dialects.tiled import WORKGROUP_SPACE, ContractTileOp, ForallOp, KernelOp, PromoteOp, ReduceOp, YieldOp
from rusty_ir.passes.builder import INDEX, IRBuilder
from rusty_ir.targets import TargetDescription

MAX_GROUPS_X = 65535
"""Workgroups per grid dimension that every WebGPU adapter supports."""


def kernel_arg_type(ty: Attribute) -> Attribute:
    """How a region operand is bound in the kernel: stored weights become ``memref<Nxi32>`` (a quantized weight's
    buffer already is its words, as a q8_0 KV cache's is the words of its rows, ``memref<?xRxi32>``)."""
    sch = halves_scheme(ty)
    if sch is None:
        return ty
    assert isinstance(ty, MemRefType)
    words = (sch.nbytes(tuple(ty.get_shape())) + 3) // 4
    return MemRefType(i32, [words])


Body = Callable[[IRBuilder, Sequence[SSAValue]], None]
"""Writes a loop body at the builder, given the ivs."""


class Kernel:
    """A kernel under construction for one region."""

    def __init__(self, region: RegionOp, config: LoweringConfigAttr, target: TargetDescription, extra: Sequence[SSAValue] = ()) -> None:
        """``extra``: host buffers the kernel takes after the region's operands (scratch between
        the kernels of one region); the body sees them as ``extra_args``."""
        self.region = region
        self.config_attr = config
        self.config: LoweringConfig = config.config
        self.target = target
        self.extra = list(extra)
        types = [kernel_arg_type(a.type) for a in region.args] + [v.type for v in self.extra]
        self.body = Block(arg_types=types)
        self.grid = Block(arg_types=types)
        self.b = IRBuilder(self.body)
        self.grid_b = IRBuilder(self.grid)
        # keyed by SSAValue: callers look up any region value (an operand, a ``dest``), not only block arguments
        self.body_args: dict[SSAValue, SSAValue] = dict(zip(region.block.args, self.body.args))
        self.grid_args: dict[SSAValue, SSAValue] = dict(zip(region.block.args, self.grid.args))
        self.extra_args = list(self.body.args[len(region.args) :])
        self._kept_shared: dict[tuple[str, tuple[int, ...], Attribute], SSAValue] = {}

    @property
    def threads(self) -> int:
        return self.config.threads

    # --- the schedule ---------------------------------------------------------------------------
    def forall(self, b: IRBuilder, bounds: Sequence[SSAValue], mapping: str, body: Body) -> None:
        """``tiled.forall (ivs) in (bounds) mapping { body }``."""
        block = Block(arg_types=[INDEX] * len(bounds))
        inner = IRBuilder(block)
        body(inner, block.args)
        inner.insert(YieldOp())
        b.insert(ForallOp(bounds, mapping, block))

    def workgroups(self, bounds: Sequence[SSAValue], body: Body, b: IRBuilder | None = None) -> None:
        self.forall(b or self.b, bounds, "workgroup", body)

    def invocations(self, b: IRBuilder, bounds: Sequence[int], body: Body) -> None:
        self.forall(b, [b.index(n) for n in bounds], "invocation", body)

    def reduce(self, b: IRBuilder, kind: str, values: Sequence[SSAValue], width: int) -> list[SSAValue]:
        """``tiled.reduce`` of ``values`` across groups of ``width`` invocations (collective)."""
        if width == 1 or not values:
            return list(values)
        return list(b.insert(ReduceOp(kind, values, width)).results)

    def promote(
        self,
        b: IRBuilder,
        shape: Sequence[int],
        elem: Attribute,
        body: Callable[[IRBuilder, Sequence[SSAValue]], Sequence[SSAValue]],
        *,
        permutation: Sequence[int] | None = None,
        depth: int = 1,
        unit: int = 1,
        deal: Sequence[int] | None = None,
        name: str = "",
    ) -> SSAValue:
        """``tiled.promote``: a workgroup-memory tile whose units (``unit`` points along the last dim) ``body``
        computes from the unit's coordinates (collective)."""
        perm = list(permutation) if permutation is not None else list(range(len(shape)))
        block = Block(arg_types=[INDEX] * len(shape))
        inner = IRBuilder(block)
        inner.insert(YieldOp(list(body(inner, block.args))))
        ty = MemRefType(elem, [shape[p] for p in perm], memory_space=IntegerAttr(WORKGROUP_SPACE, i64))
        op = PromoteOp(shape, ty, block, perm, depth, unit, deal)
        if name:
            op.result.name_hint = name
        return b.value(op)

    def contract_tile(self, b: IRBuilder, a: SSAValue, a_offset: SSAValue, bt: SSAValue, b_offset: SSAValue, accs: Sequence[SSAValue],
                      k: int, rows: int, columns: int, a_stride: int, b_stride: int, wide: bool = False, block_words: int = 0) -> list[SSAValue]:  # fmt: skip
        """``tiled.contract_tile`` (``wide``: f16 tiles multiplied and summed in f32; ``block_words``: i32 tiles of
        8-bit code blocks)."""
        return list(
            b.insert(ContractTileOp(a, a_offset, bt, b_offset, accs, k, rows, columns, a_stride, b_stride, wide, block_words)).results
        )

    def shared(self, size: int | Sequence[int], elem: Attribute, once: str | None = None) -> SSAValue:
        """A workgroup-memory array of ``size`` elements, or of shape ``size`` (allocated at the top of the body).
        ``once``: the array of this name, shape and type that an earlier call allocated, if any, for callers that
        never use it in the same workgroup (the contractions of a gemv region, each in workgroups of its own)."""
        shape = [size] if isinstance(size, int) else list(size)
        if once is not None:
            key = (once, tuple(shape), elem)
            if key not in self._kept_shared:
                self._kept_shared[key] = self.shared(shape, elem)
            return self._kept_shared[key]
        op = memref.AllocaOp.get(elem, shape=shape, memory_space=IntegerAttr(WORKGROUP_SPACE, i64))
        first = self.body.first_op
        if first is None:
            self.body.add_op(op)
        else:
            self.body.insert_op_before(op, first)
        return op.memref

    def grid_dim(self, b: IRBuilder, axis: str) -> SSAValue:
        """Workgroups in the grid along ``axis`` (x, y or z), read in the kernel (``gpu.grid_dim``): how a body
        knows a count the host computed from a buffer's size, which a kernel cannot read."""
        return b.value(gpu.GridDimOp(gpu.DimensionAttr(gpu.DimensionEnum(axis))))

    # --- grids ----------------------------------------------------------------------------------
    def linear_grid(self, count: SSAValue) -> list[SSAValue]:
        """A grid of ``count`` workgroups (host side), folded into y past the per-dimension limit."""
        g = self.grid_b
        gx = g.minui(count, g.index(MAX_GROUPS_X))
        return [gx, g.ceildiv(count, gx), g.index(1)]

    # --- finishing ------------------------------------------------------------------------------
    def finish(self, grid: Sequence[SSAValue]) -> KernelOp:
        """Close both regions: the grid yields ``grid`` (built with ``grid_b``)."""
        self.grid_b.insert(YieldOp(grid))
        self.b.insert(YieldOp())
        return KernelOp(self.region.label.data, [*self.region.args, *self.extra], self.config.workgroup, self.grid, self.body)


def load(b: IRBuilder, buf: SSAValue, indices: Sequence[SSAValue]) -> SSAValue:
    return b.value(memref.LoadOp.get(buf, indices))


def store(b: IRBuilder, value: SSAValue, buf: SSAValue, indices: Sequence[SSAValue]) -> None:
    b.insert(memref.StoreOp.get(value, buf, indices))


__all__ = ["Kernel", "kernel_arg_type", "load", "store"]
