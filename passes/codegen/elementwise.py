"""The ``elementwise`` schedule: one invocation per element of the iteration space (or KV-cache append).

workgroups (wg) over ceil(elements / W)         -- the grid folds into y past 65535
  invocations (t) over (W)
    e = wg * W + t; if e < elements: the element's outputs (fused producers
    materialized) at e's coordinates, or its KV-cache rows (a q8_0 cache:
    one invocation per group of 64 values, quantized together)
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.linalg_ext import CacheAppendOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.common import outputs
from rusty_ir.passes.codegen.kernel import Kernel, store
from rusty_ir.passes.codegen.kv_cache import Q8_GROUP, cache_row, is_q8, store_cache, store_q8_group
from rusty_ir.passes.codegen.materialize import Materializer, static_shape
from rusty_ir.passes.tiling.distribute_to_gpu_ids import delinearize


def lower_elementwise(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid."""
    b, g = kernel.b, kernel.grid_b
    outs = outputs(kernel, ops)
    appends = [op for op in ops if isinstance(op, CacheAppendOp)]
    space_value = appends[0].keys if appends else outs[0][0]
    shape = static_shape(space_value)
    if any(static_shape(v) != shape for v, _ in outs):
        raise RustyError("an elementwise region's outputs must all have the same shape", ops[0])
    q8 = any(is_q8(op.k_cache) for op in appends)  # an invocation per group of 64 values of a row
    width = shape[-1]
    if q8 and outs:
        raise RustyError("an append to a q8_0 KV cache cannot share its kernel with other outputs", appends[0])
    grid_dims = mat.dims(g, space_value, kernel.grid_args)
    dims = mat.dims(b, space_value)
    if q8:
        grid_dims[-1] = g.index(width // Q8_GROUP)
        dims[-1] = b.index(width // Q8_GROUP)
    threads = kernel.threads
    grid = kernel.linear_grid(g.ceildiv(g.product(grid_dims), g.index(threads)))
    total = b.product(dims)

    def element(ib: IRBuilder, idx: Sequence[SSAValue]) -> list[SSAValue]:
        for value, buf in outs:
            store(ib, mat.element(ib, value, idx), buf, list(idx))
        for op in appends:
            row = cache_row(ib, op, None if op.block_table is None else mat.args[op.block_table], ib.addi(mat.args[op.pos], idx[0]))
            for src, cache in ((op.keys, op.k_cache), (op.values, op.v_cache)):
                if q8:  # idx[1] is a group of 64 values
                    first = ib.muli(idx[1], ib.index(Q8_GROUP))
                    values = [mat.element(ib, src, [idx[0], ib.addi(first, ib.index(i))]) for i in range(Q8_GROUP)]
                    store_q8_group(ib, values, mat.args[cache], row, idx[1], width)
                else:
                    store_cache(ib, mat.element(ib, src, idx), mat.args[cache], row, idx[1])
        return []

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            linear = ib.addi(ib.muli(wivs[0], ib.index(threads)), ivs[0])
            ib.if_then(ib.cmpi("ult", linear, total), lambda eb: element(eb, delinearize(eb, linear, dims)))

        kernel.invocations(wb, [threads], per_invocation)

    kernel.workgroups([b.ceildiv(total, b.index(threads))], per_workgroup)
    return grid


__all__ = ["lower_elementwise"]
