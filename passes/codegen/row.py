"""The ``row`` schedule: one workgroup per row, its invocations striding along the row.

workgroups (r) over rows
  invocations (t) over (W)                        -- every invocation
    each row reduction: strided partials (t, t + W, ...), tiled.reduce over
    the workgroup; then the row's outputs, strided (or by invocation 0 for
    per-row outputs)
argmax (of a vector, or of every row of a matrix): the same with (value, index) pairs (several chains per
invocation: loads in flight), ties to the smallest index.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import i32
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue

from rusty_ir.dialects.linalg_ext import ArgmaxOp
from rusty_ir.errors import RustyError
from rusty_ir.passes.builder import IRBuilder
from rusty_ir.passes.codegen.common import outputs, reduction_kind
from rusty_ir.passes.codegen.kernel import Kernel, store
from rusty_ir.passes.codegen.materialize import Materializer, static_shape, uniform
from rusty_ir.passes.dispatch.analysis import Kind, kind
from rusty_ir.passes.tiling.distribute_to_gpu_ids import delinearize


def lower_row(kernel: Kernel, mat: Materializer, ops: Sequence[Operation]) -> list[SSAValue]:
    """Write the kernel body (see the module docstring); returns the grid."""
    argmaxes = [op for op in ops if isinstance(op, ArgmaxOp)]
    if argmaxes:
        return _lower_argmax(kernel, mat, argmaxes[0], ops)
    reductions = [op for op in ops if isinstance(op, linalg.GenericOp) and kind(op) is Kind.ROW_REDUCTION]
    if not reductions:
        raise RustyError("a row region needs a reduction", ops[0])
    b, g = kernel.b, kernel.grid_b
    threads = kernel.threads
    outs = outputs(kernel, ops)
    rows_value = reductions[0].results[0]
    grid = [g.product(mat.dims(g, rows_value, kernel.grid_args)), g.index(1), g.index(1)]
    # only the inner sizes split the workgroup id: the outermost may be a buffer's size (memref.dim), which a
    # kernel cannot read; the row count is the grid's x
    inner = [mat.dim(b, rows_value, i) for i in range(1, len(static_shape(rows_value)))]

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            (tid,) = ivs
            row = delinearize(ib, wivs[0], [wivs[0], *inner])  # delinearize never reads the outermost size
            length = mat.dim(ib, reductions[0].inputs[0], -1)
            for red in reductions:
                init = mat.element(ib, red.outputs[0], row)
                combine = reduction_kind(red)
                # every invocation folds its strided slice; only the first starts from the init (it is counted once)
                start = ib.select(ib.cmpi("eq", tid, ib.index(0)), init, ib.f32(0.0)) if combine == "add" else init

                def fold(fb: IRBuilder, c: SSAValue, acc: Sequence[SSAValue], red: linalg.GenericOp = red) -> list[SSAValue]:
                    return mat.generic_at(fb, red, [*row, c], acc)

                (partial,) = ib.for_loop(tid, length, ib.index(threads), [start], fold)
                (total,) = kernel.reduce(ib, combine, [partial], threads)
                mat.known[red.results[0]] = uniform(total)
            for value, buf in outs:
                if len(static_shape(value)) == len(row):

                    def put_row(sb: IRBuilder, v: SSAValue = value, o: SSAValue = buf) -> None:
                        store(sb, mat.element(sb, v, row), o, row)

                    ib.when(ib.cmpi("eq", tid, ib.index(0)), put_row)
                else:

                    def put(sb: IRBuilder, c: SSAValue, _: Sequence[SSAValue], v: SSAValue = value, o: SSAValue = buf) -> list[SSAValue]:
                        store(sb, mat.element(sb, v, [*row, c]), o, [*row, c])
                        return []

                    ib.for_loop(tid, length, ib.index(threads), [], put)

        kernel.invocations(wb, [threads], per_invocation)

    kernel.workgroups([kernel.grid_dim(b, "x"), b.index(1)], per_workgroup)
    return grid


ARGMAX_CHAINS = 4
"""Independent (value, index) maxima each invocation keeps: loads in flight per step of its walk."""


def _better(b: IRBuilder, v: SSAValue, i: SSAValue, best: SSAValue, best_i: SSAValue) -> SSAValue:
    """Whether (v, i) beats (best, best_i): larger, or equal at a smaller index (argmax's first maximum)."""
    return b.ori(b.cmpf("ogt", v, best), b.andi(b.cmpf("oeq", v, best), b.cmpi("slt", i, best_i)))


def _lower_argmax(kernel: Kernel, mat: Materializer, op: ArgmaxOp, ops: Sequence[Operation]) -> list[SSAValue]:
    """One workgroup per row (of a matrix; one for a vector): each invocation keeps ``ARGMAX_CHAINS`` strided
    (value, index) maxima (elements ``t + j * W`` of each step of ``ARGMAX_CHAINS * W``), merges them, then one
    tiled.reduce argmax."""
    b, g = kernel.b, kernel.grid_b
    threads = kernel.threads
    outs = outputs(kernel, ops)
    chains = ARGMAX_CHAINS
    rows = len(static_shape(op.input)) == 2

    def per_workgroup(wb: IRBuilder, wivs: Sequence[SSAValue]) -> None:
        def per_invocation(ib: IRBuilder, ivs: Sequence[SSAValue]) -> None:
            (tid,) = ivs
            row = [wivs[0]] if rows else []
            length = mat.dims(ib, op.input)[-1]
            last = ib.subi(length, ib.index(1))

            def fold(fb: IRBuilder, i: SSAValue, carried: Sequence[SSAValue]) -> list[SSAValue]:
                out: list[SSAValue] = []
                for j in range(chains):
                    best, best_i = carried[2 * j : 2 * j + 2]
                    k = fb.addi(i, fb.index(j * threads)) if j else i
                    v = mat.element(fb, op.input, [*row, fb.minui(k, last)])
                    better = fb.andi(fb.cmpi("ult", k, length), fb.cmpf("ogt", v, best))  # a chain's indices only grow
                    out += [fb.select(better, v, best), fb.select(better, fb.index_cast(k, i32), best_i)]
                return out

            inits = [ib.f32(float("-inf")), ib.index_cast(tid, i32)] * chains
            carried = ib.for_loop(tid, length, ib.index(chains * threads), inits, fold)
            best, best_i = carried[0], carried[1]
            for j in range(1, chains):
                v, i = carried[2 * j], carried[2 * j + 1]
                better = _better(ib, v, i, best, best_i)
                best, best_i = ib.select(better, v, best), ib.select(better, i, best_i)
            _, index = kernel.reduce(ib, "argmax", [best, best_i], threads)
            mat.known[op.result] = uniform(index)
            for value, buf in outs:

                def put(sb: IRBuilder, v: SSAValue = value, o: SSAValue = buf) -> None:
                    at = row or [sb.index(0)]
                    store(sb, mat.element(sb, v, at), o, at)

                ib.when(ib.cmpi("eq", tid, ib.index(0)), put)

        kernel.invocations(wb, [threads], per_invocation)

    kernel.workgroups([kernel.grid_dim(b, "x"), b.index(1)], per_workgroup)
    count = mat.dims(g, op.input, kernel.grid_args)[0] if rows else g.index(1)
    return [count, g.index(1), g.index(1)]


__all__ = ["lower_row"]
